/**
 * Normalizations: Softmax, LogSoftmax and Hardmax along rows of their input,
 * LayerNormalization and InstanceNormalization (standardized rows, then a scale and a
 * bias), and BatchNormalization at inference (an elementwise affine map per channel).
 * The row ops are written against the row layout of reduce.ts; Softmax, LogSoftmax and the
 * standardizations run one workgroup per row with subgroup (or workgroup-memory)
 * reductions, their statistics in f32 whatever the tensors' storage.
 */
import { DataType, dataTypeFromOnnx, isFloat, onnxTypeName } from '../ir/dtype';
import { Dim } from '../ir/graph';
import { Tensor } from '../ir/tensor';
import { computesAsFloat, GpuTensor, KernelContext } from '../kernels/context';
import {
  bindings,
  broadcastOffset,
  coordinates,
  f32Literal,
  linearGrid,
  linearMain,
  readFloat,
  writeFloat
} from '../kernels/wgsl';
import { Attributes } from './attributes';
import { broadcastIndices } from './broadcast';
import {
  ArgSearch,
  dispatchRows,
  RowLayout,
  rowArg,
  rowLayout,
  rowMax,
  rowOffsets,
  wgslRowArg,
  wgslWalk
} from './reduce';
import { normalizeAxis } from './shape';
import { InferInput, OpDefinition, OpError, UnsupportedOpError } from './types';
import { atNode } from './window';

/** The axes from `first` to the last of a tensor of `rank`. */
function trailingAxes(first: number, rank: number): number[] {
  return Array.from({ length: rank - first }, (_, i) => first + i);
}

function describe(shape: readonly Dim[]): string {
  return `[${shape.join(', ')}]`;
}

/** Checks that a parameter of `shape` broadcasts one way to `target` (numpy rules). */
function checkBroadcastsTo(what: string, shape: readonly number[], target: readonly number[]) {
  const shift = target.length - shape.length;
  if (shift < 0 || shape.some((d, i) => d !== 1 && d !== target[i + shift])) {
    throw new Error(
      `${what} of shape ${describe(shape)} does not broadcast to ${describe(target)}`
    );
  }
}

/** A parameter's values broadcast to `target`, one per element of `target`. */
function broadcastValues(what: string, t: Tensor, target: readonly number[]): Float64Array {
  checkBroadcastsTo(what, t.shape, target);
  const values = t.toNumbers();
  return Float64Array.from(broadcastIndices(t.shape, target), i => values[i]);
}

// --- one workgroup per row -------------------------------------------------------------

/** The largest workgroup a row gets; rows of a few elements get fewer invocations. */
const MAX_ROW_WORKGROUP = 256;

/** Rows of at most this many elements per invocation are read into registers once. */
const MAX_CACHED_PER_INVOCATION = 16;

interface RowBlockKernel {
  label: string;
  layout: RowLayout;
  /** The tensor whose rows are walked, bound as `x` (float, any storage). */
  x: GpuTensor;
  /** Other inputs, bound after `x`. */
  inputs: [string, GpuTensor][];
  outputs: [string, GpuTensor][];
  helpers?: string;
  /**
   * WGSL run by every invocation of the row's workgroup: `index` is the row, `base` its
   * start, `lid` the invocation. `each(statements)` runs statements once per element of
   * the row that this invocation owns, with `v` (the element as f32), `r` (its place in the
   * row) and `o` (its offset); `row_sum(v)` and `row_max(v)` reduce one f32 per invocation
   * over the workgroup and give every invocation the result. Call them where the whole
   * workgroup is (uniform control flow).
   */
  body(each: (statements: string) => string): string;
}

/** Invocations for a row of `size` elements: a power of two from 32 (a few elements each). */
function rowWorkgroupSize(size: number): number {
  const wanted = 2 ** Math.ceil(Math.log2(Math.max(1, Math.ceil(size / 4))));
  return Math.min(MAX_ROW_WORKGROUP, Math.max(32, wanted));
}

/**
 * `row_sum` and `row_max` over the invocations of a workgroup of `size`. With subgroups,
 * each subgroup reduces in registers and its first invocation leaves the result in
 * `partials`, at the subgroup's place among the workgroup's subgroups, which follow
 * local_invocation_index in order (on every backend Dawn drives: Vulkan lays out full
 * subgroups so, and D3D12 and Metal waves and SIMD-groups too); every invocation then adds
 * the few partials in the same order, so that results are the same on every run. Without
 * subgroups, a tree in workgroup memory.
 */
function wgslRowReductions(size: number, subgroups: boolean): string {
  const reduction = (
    name: string,
    subgroupOp: string,
    combine: (a: string, b: string) => string
  ) =>
    subgroups
      ? `fn ${name}(value: f32) -> f32 {
  let reduced = ${subgroupOp}(value);
  workgroupBarrier();
  if (sg_lane == 0u) {
    partials[lid / sg_size] = reduced;
  }
  workgroupBarrier();
  var result = partials[0];
  for (var i = 1u; i < (WG + sg_size - 1u) / sg_size; i++) {
    result = ${combine('result', 'partials[i]')};
  }
  return result;
}`
      : `fn ${name}(value: f32) -> f32 {
  workgroupBarrier();
  partials[lid] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      partials[lid] = ${combine('partials[lid]', 'partials[lid + stride]')};
    }
    workgroupBarrier();
  }
  return partials[0];
}`;
  return [
    `const WG = ${size}u;`,
    'var<private> lid: u32;',
    ...(subgroups ? ['var<private> sg_lane: u32;', 'var<private> sg_size: u32;'] : []),
    'var<workgroup> partials: array<f32, WG>;',
    reduction('row_sum', 'subgroupAdd', (a, b) => `${a} + ${b}`),
    reduction('row_max', 'subgroupMax', (a, b) => `max(${a}, ${b})`)
  ].join('\n');
}

/**
 * Dispatches one workgroup per row of `kernel.layout` (TensorRT's normalization kernels
 * work so): the invocations split the row, statistics are reduced across the workgroup in
 * f32, and rows short enough are read from memory once and kept in registers.
 */
function dispatchRowBlocks(ctx: KernelContext, kernel: RowBlockKernel): void {
  const { rows, row } = kernel.layout;
  const subgroups = ctx.device.features.has('subgroups');
  const size = rowWorkgroupSize(row.size);
  const perInvocation = Math.ceil(row.size / size);
  const cached = perInvocation <= MAX_CACHED_PER_INVOCATION;
  const read = readFloat(kernel.x, 'x[o]');
  const each = (statements: string) =>
    cached
      ? `  for (var k = 0u; k < ${perInvocation}u; k++) {
    let r = lid + k * WG;
    if (r < ROW_SIZE) {
      let o = base + row_offset(r);
      let v = cached[k];
      ${statements}
    }
  }`
      : `  for (var r = lid; r < ROW_SIZE; r += WG) {
    let o = base + row_offset(r);
    let v = ${read};
    ${statements}
  }`;
  const load = cached
    ? `  var cached: array<f32, ${perInvocation}>;
  for (var k = 0u; k < ${perInvocation}u; k++) {
    let r = lid + k * WG;
    if (r < ROW_SIZE) {
      let o = base + row_offset(r);
      cached[k] = ${read};
    }
  }`
    : '';
  const subgroupBuiltins = subgroups
    ? ',\n  @builtin(subgroup_invocation_id) lane: u32,\n  @builtin(subgroup_size) lanes: u32'
    : '';
  const main = `@compute @workgroup_size(${size})
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) local_index: u32${subgroupBuiltins}
) {
  let index = wid.x + wid.y * nwg.x;
  if (index >= ${rows.size}u) {
    return;
  }
  lid = local_index;${subgroups ? '\n  sg_lane = lane;\n  sg_size = lanes;' : ''}
  let base = row_base(index);
${load}
${kernel.body(each)}
}`;
  const inputs: [string, GpuTensor][] = [['x', kernel.x], ...kernel.inputs];
  const code = [
    subgroups ? 'enable subgroups;' : '',
    bindings(inputs, kernel.outputs),
    `const ROW_SIZE = ${row.size}u;`,
    wgslWalk('row_base', rows),
    wgslWalk('row_offset', row),
    wgslRowReductions(size, subgroups),
    kernel.helpers ?? '',
    main
  ].join('\n');
  ctx.dispatch({
    label: kernel.label,
    code,
    bindings: [...inputs, ...kernel.outputs].map(([, tensor]) => tensor),
    workgroups: rowGrid(rows.size)
  });
}

/** Workgroup counts for one workgroup per row, folded into 2-D past 65535 rows. */
function rowGrid(rows: number): [number, number] {
  const x = Math.min(Math.max(rows, 1), 65535);
  return [x, Math.ceil(Math.max(rows, 1) / x)];
}

// --- Softmax, LogSoftmax, Hardmax -------------------------------------------------------

interface SoftmaxAttributes {
  axis: number;
  /**
   * Before opset 13 the input is coerced to 2-D at `axis`: a row is then every element
   * of the axes from `axis` on, not only those along `axis`.
   */
  coerced: boolean;
}

interface SoftmaxSpec {
  opType: string;
  /** Writes one row of `y` from the same row of `x`. */
  cpu(x: Float64Array, y: Float64Array, base: number, offsets: Int32Array): void;
  /** Dispatches the kernel writing `y` from `x`, row by row along `layout`. */
  gpu(ctx: KernelContext, x: GpuTensor, y: GpuTensor, layout: RowLayout): void;
  /** Whether `gpu` takes float16 tensors in f16 storage. */
  halfStorage: boolean;
}

function softmaxAxes(rank: number, attrs: SoftmaxAttributes): number[] {
  const axis = normalizeAxis(attrs.axis, rank);
  return attrs.coerced ? trailingAxes(axis, rank) : [axis];
}

/** Σ exp(x - peak) over one row. */
function expSum(x: Float64Array, base: number, offsets: Int32Array, peak: number): number {
  let total = 0;
  for (const offset of offsets) {
    total += Math.exp(x[base + offset] - peak);
  }
  return total;
}

/**
 * A row-block kernel computing the row's `peak` (max) and `total` (Σ exp(x - peak), in f32
 * whatever the storage), then storing `value`, an f32 expression of them and `v` (x).
 */
function expSumKernel(label: string, value: string): SoftmaxSpec['gpu'] {
  return (ctx, x, y, layout) =>
    dispatchRowBlocks(ctx, {
      label,
      layout,
      x,
      inputs: [],
      outputs: [['y', y]],
      body: each => `  var peak_part = ${f32Literal(-Infinity)};
${each('peak_part = max(peak_part, v);')}
  let peak = row_max(peak_part);
  var total_part = 0.0;
${each('total_part += exp(v - peak);')}
  let total = row_sum(total_part);
${each(`y[o] = ${writeFloat(y, value)};`)}`
    });
}

const FIRST_LARGEST: ArgSearch = { largest: true, lastOfTies: false };

const SOFTMAX_SPECS: SoftmaxSpec[] = [
  {
    opType: 'Softmax',
    cpu: (x, y, base, offsets) => {
      const peak = rowMax(x, base, offsets);
      const total = expSum(x, base, offsets, peak);
      for (const offset of offsets) {
        y[base + offset] = Math.exp(x[base + offset] - peak) / total;
      }
    },
    gpu: expSumKernel('Softmax', 'exp(v - peak) / total'),
    halfStorage: true
  },
  {
    opType: 'LogSoftmax',
    cpu: (x, y, base, offsets) => {
      const peak = rowMax(x, base, offsets);
      const shift = peak + Math.log(expSum(x, base, offsets, peak));
      for (const offset of offsets) {
        y[base + offset] = x[base + offset] - shift;
      }
    },
    gpu: expSumKernel('LogSoftmax', 'v - (peak + log(total))'),
    halfStorage: true
  },
  {
    opType: 'Hardmax',
    cpu: (x, y, base, offsets) => {
      if (offsets.length > 0) {
        y[base + offsets[rowArg(x, base, offsets, FIRST_LARGEST)]] = 1;
      }
    },
    // One invocation per row: a search for the first largest, then a pass writing 0 or 1.
    gpu: (ctx, x, y, layout) =>
      dispatchRows(ctx, {
        label: 'Hardmax',
        layout,
        inputs: [['x', x]],
        outputs: [['y', y]],
        body: `${wgslRowArg('x', FIRST_LARGEST)}
  for (var r = 0u; r < ROW_SIZE; r++) {
    y[base + row_offset(r)] = select(0.0, 1.0, r == best);
  }`
      }),
    halfStorage: false
  }
];

function softmaxOp(spec: SoftmaxSpec): OpDefinition<SoftmaxAttributes> {
  return {
    opType: spec.opType,
    parseAttributes: ({ node, opset }) => ({
      axis: new Attributes(node).int('axis', opset < 13 ? 1 : -1),
      coerced: opset < 13
    }),
    inferTypes: ([input], attrs, ctx) => {
      const { dtype, shape } = input!;
      if (!isFloat(dtype)) {
        throw new OpError(ctx.node, `${dtype} input is not supported (float types only)`);
      }
      if (shape) {
        atNode(ctx, () => normalizeAxis(attrs.axis, shape.length));
      }
      return [{ dtype, shape }];
    },
    cpu: ([input], attrs, ctx) => {
      const x = input!;
      const axes = atNode(ctx, () => softmaxAxes(x.rank, attrs));
      const { bases, offsets } = rowOffsets(rowLayout(x.shape, axes));
      const values = x.toNumbers();
      const y = new Float64Array(values.length);
      for (const base of bases) {
        spec.cpu(values, y, base, offsets);
      }
      return [Tensor.fromNumbers(x.dtype, x.shape, y)];
    },
    webgpu: {
      halfStorage: spec.halfStorage,
      run: (ctx, [input], _host, attrs) => {
        const x = input!;
        const y = ctx.allocate(x.dtype, x.shape);
        spec.gpu(ctx, x, y, rowLayout(x.shape, softmaxAxes(x.shape.length, attrs)));
        return [y];
      }
    }
  };
}

// --- standardized rows: LayerNormalization, InstanceNormalization ------------------------

/**
 * Scale and bias of a standardization, broadcast to `target`: the normalized shape
 * (LayerNormalization, read at element r of a row) or [C] (InstanceNormalization, read
 * at the row's channel).
 */
interface Affine<T> {
  scale: T;
  bias?: T;
  target: number[];
}

/**
 * Standardizes every row of `x` (the variance taken of centered values, two passes) and
 * applies `affine`, read at `parameter(row, r)` for element r of a row. Returns y and
 * each row's mean and 1 / sqrt(variance + epsilon).
 */
function standardizeOnCpu(
  x: Tensor,
  layout: RowLayout,
  epsilon: number,
  affine: Affine<Float64Array>,
  parameter: (row: number, r: number) => number
): { y: Float64Array; mean: Float64Array; invStdDev: Float64Array } {
  const values = x.toNumbers();
  const { bases, offsets } = rowOffsets(layout);
  const y = new Float64Array(values.length);
  const mean = new Float64Array(bases.length);
  const invStdDev = new Float64Array(bases.length);
  bases.forEach((base, row) => {
    let total = 0;
    for (const offset of offsets) {
      total += values[base + offset];
    }
    const rowMean = total / offsets.length;
    let squares = 0;
    for (const offset of offsets) {
      const centered = values[base + offset] - rowMean;
      squares += centered * centered;
    }
    const inverse = 1 / Math.sqrt(squares / offsets.length + epsilon);
    offsets.forEach((offset, r) => {
      const p = parameter(row, r);
      const normalized = (values[base + offset] - rowMean) * inverse;
      y[base + offset] = normalized * affine.scale[p] + (affine.bias ? affine.bias[p] : 0);
    });
    mean[row] = rowMean;
    invStdDev[row] = inverse;
  });
  return { y, mean, invStdDev };
}

interface GpuStandardization {
  label: string;
  layout: RowLayout;
  x: GpuTensor;
  epsilon: number;
  affine: Affine<GpuTensor>;
  /** WGSL expression of the position in `affine.target` for element `r` of row `index`. */
  parameter: string;
  y: GpuTensor;
  /** Where to write each row's mean and 1 / sqrt(variance + epsilon), when wanted. */
  statistics?: { mean: GpuTensor; invStdDev: GpuTensor };
}

function standardizeOnGpu(ctx: KernelContext, s: GpuStandardization): void {
  const { scale, bias, target } = s.affine;
  const inputs: [string, GpuTensor][] = [['scale', scale]];
  const helpers = [wgslBroadcastIndex('scale_index', scale.shape, target)];
  if (bias) {
    inputs.push(['bias', bias]);
    helpers.push(wgslBroadcastIndex('bias_index', bias.shape, target));
  }
  const outputs: [string, GpuTensor][] = [['y', s.y]];
  if (s.statistics) {
    outputs.push(['mean_out', s.statistics.mean], ['inv_std_dev_out', s.statistics.invStdDev]);
  }
  const scaled = `(v - mean) * inv_std_dev * ${readFloat(scale, 'scale[scale_index(p)]')}`;
  const value = bias ? `${scaled} + ${readFloat(bias, 'bias[bias_index(p)]')}` : scaled;
  const statistics = s.statistics
    ? `
  if (lid == 0u) {
    mean_out[index] = mean;
    inv_std_dev_out[index] = inv_std_dev;
  }`
    : '';
  dispatchRowBlocks(ctx, {
    label: s.label,
    layout: s.layout,
    x: s.x,
    inputs,
    outputs,
    helpers: helpers.join('\n'),
    // Two passes, as the CPU reference: the variance of the centered values.
    body: each => `  var sum_part = 0.0;
${each('sum_part += v;')}
  let mean = row_sum(sum_part) / f32(ROW_SIZE);
  var squares_part = 0.0;
${each('let centered = v - mean;\n    squares_part += centered * centered;')}
  let inv_std_dev = 1.0 / sqrt(row_sum(squares_part) / f32(ROW_SIZE) + ${f32Literal(s.epsilon)});
${each(`let p = ${s.parameter};\n    y[o] = ${writeFloat(s.y, value)};`)}${statistics}`
  });
}

/** `fn name(i: u32) -> u32`: where a parameter of `shape` broadcast to `target` reads element i. */
function wgslBroadcastIndex(name: string, shape: readonly number[], target: readonly number[]) {
  const same = shape.length === target.length && shape.every((d, i) => d === target[i]);
  const body = same
    ? '  return i;'
    : `${coordinates('i', target, 't')}\n  return ${broadcastOffset(shape, target.length, 't')};`;
  return `fn ${name}(i: u32) -> u32 {\n${body}\n}`;
}

interface LayerNormAttributes {
  axis: number;
  epsilon: number;
  /** stash_type: the type of Mean and InvStdDev. */
  statisticsType: DataType;
  /** Whether the node names the Mean or InvStdDev output. */
  statistics: boolean;
}

/** LayerNormalization's geometry on a concrete shape; Scale and B are checked against it. */
function layerNormPlan(
  x: readonly number[],
  scale: readonly number[],
  bias: readonly number[] | undefined,
  attrs: LayerNormAttributes
) {
  const axis = normalizeAxis(attrs.axis, x.length);
  const normalized = x.slice(axis);
  checkBroadcastsTo('Scale', scale, normalized);
  if (bias) {
    checkBroadcastsTo('B', bias, normalized);
  }
  return {
    layout: rowLayout(x, trailingAxes(axis, x.length)),
    normalized,
    statisticsShape: statisticsShape(x, axis)
  };
}

/** Mean's and InvStdDev's shape: X's up to `axis`, 1 from there. */
function statisticsShape<D extends Dim>(x: readonly D[], axis: number): D[] {
  return x.map((d, i) => (i < axis ? d : (1 as D)));
}

/**
 * LayerNormalization entered ai.onnx at opset 17, but it is accepted at any opset, as ONNX
 * Runtime accepts it (its contrib op of the same name predates 17): the builder puts it in
 * place of the spelled-out form that older models carry.
 */
const layerNormalization: OpDefinition<LayerNormAttributes> = {
  opType: 'LayerNormalization',
  parseAttributes: ({ node }) => {
    const a = new Attributes(node);
    const stash = a.int('stash_type', 1);
    const statisticsType = dataTypeFromOnnx(stash);
    if (!statisticsType || !isFloat(statisticsType)) {
      throw new UnsupportedOpError(node, `stash_type ${onnxTypeName(stash)} is not supported`);
    }
    return {
      axis: a.int('axis', -1),
      epsilon: a.float('epsilon', 1e-5),
      statisticsType,
      statistics: node.outputs.slice(1).some(name => name)
    };
  },
  inferTypes: ([x], attrs, ctx) => {
    const { dtype, shape } = x!;
    const axis = shape && atNode(ctx, () => normalizeAxis(attrs.axis, shape.length));
    const statistics: InferInput = {
      dtype: attrs.statisticsType,
      shape: shape && statisticsShape(shape, axis!)
    };
    return [{ dtype, shape }, statistics, statistics];
  },
  cpu: ([x, scale, bias], attrs, ctx) => {
    const { plan, affine } = atNode(ctx, () => {
      const plan = layerNormPlan(x!.shape, scale!.shape, bias?.shape, attrs);
      const affine = {
        scale: broadcastValues('Scale', scale!, plan.normalized),
        bias: bias && broadcastValues('B', bias, plan.normalized),
        target: plan.normalized
      };
      return { plan, affine };
    });
    const { y, mean, invStdDev } = standardizeOnCpu(
      x!,
      plan.layout,
      attrs.epsilon,
      affine,
      (_row, r) => r
    );
    const statistics = (values: Float64Array) =>
      Tensor.fromNumbers(attrs.statisticsType, plan.statisticsShape, values);
    return [Tensor.fromNumbers(x!.dtype, x!.shape, y), statistics(mean), statistics(invStdDev)];
  },
  webgpu: {
    halfStorage: true,
    unsupported: (dtypes, attrs) => {
      const other = dtypes.find(d => d !== undefined && !computesAsFloat(d));
      if (other) {
        return `${other} inputs run on the CPU`;
      }
      return attrs.statistics && attrs.statisticsType !== 'float32'
        ? `${attrs.statisticsType} Mean and InvStdDev run on the CPU`
        : null;
    },
    run: (ctx, [x, scale, bias], _host, attrs) => {
      const plan = layerNormPlan(x!.shape, scale!.shape, bias?.shape, attrs);
      const y = ctx.allocate(x!.dtype, x!.shape);
      const statistics = attrs.statistics
        ? {
            mean: ctx.allocate('float32', plan.statisticsShape),
            invStdDev: ctx.allocate('float32', plan.statisticsShape)
          }
        : undefined;
      standardizeOnGpu(ctx, {
        label: 'LayerNormalization',
        layout: plan.layout,
        x: x!,
        epsilon: attrs.epsilon,
        affine: { scale: scale!, bias, target: plan.normalized },
        parameter: 'r',
        y,
        statistics
      });
      return statistics ? [y, statistics.mean, statistics.invStdDev] : [y];
    }
  }
};

interface EpsilonAttributes {
  epsilon: number;
}

/** InstanceNormalization's geometry: rows are (n, c) pairs, standardized over the rest. */
function instanceNormPlan(x: readonly number[], scale: readonly number[], bias: readonly number[]) {
  if (x.length < 2) {
    throw new Error(`input must be (N, C, ...), got shape ${describe(x)}`);
  }
  const channels = [x[1]];
  checkBroadcastsTo('scale', scale, channels);
  checkBroadcastsTo('B', bias, channels);
  return { layout: rowLayout(x, trailingAxes(2, x.length)), channels };
}

const instanceNormalization: OpDefinition<EpsilonAttributes> = {
  opType: 'InstanceNormalization',
  parseAttributes: ({ node }) => ({ epsilon: new Attributes(node).float('epsilon', 1e-5) }),
  inferTypes: ([x]) => [{ dtype: x!.dtype, shape: x!.shape }],
  cpu: ([x, scale, bias], attrs, ctx) => {
    const { plan, affine } = atNode(ctx, () => {
      const plan = instanceNormPlan(x!.shape, scale!.shape, bias!.shape);
      const affine = {
        scale: broadcastValues('scale', scale!, plan.channels),
        bias: broadcastValues('B', bias!, plan.channels),
        target: plan.channels
      };
      return { plan, affine };
    });
    const [channels] = plan.channels;
    const { y } = standardizeOnCpu(x!, plan.layout, attrs.epsilon, affine, row => row % channels);
    return [Tensor.fromNumbers(x!.dtype, x!.shape, y)];
  },
  webgpu: {
    halfStorage: true,
    run: (ctx, [x, scale, bias], _host, attrs) => {
      const plan = instanceNormPlan(x!.shape, scale!.shape, bias!.shape);
      const y = ctx.allocate(x!.dtype, x!.shape);
      standardizeOnGpu(ctx, {
        label: 'InstanceNormalization',
        layout: plan.layout,
        x: x!,
        epsilon: attrs.epsilon,
        affine: { scale: scale!, bias: bias!, target: plan.channels },
        // Rows run over (n, c) in order: the channel is the row index modulo C.
        parameter: `index % ${plan.channels[0]}u`,
        y
      });
      return [y];
    }
  }
};

// --- BatchNormalization -----------------------------------------------------------------

const BATCH_NORM_PARAMETERS = ['scale', 'B', 'input_mean', 'input_var'];

/**
 * A parameter's shape aligned to X's at the channel axis (1): [C] becomes [C, 1, ..., 1].
 * Before opset 9, spatial = 0 gave parameters of shape [C, D1, ...], which align the same.
 */
function channelAligned(what: string, x: readonly number[], shape: readonly number[]): number[] {
  const trailing = x.length - 1 - shape.length;
  if (x.length < 2 || trailing < 0) {
    throw new Error(`${what} of shape ${describe(shape)} does not fit X of shape ${describe(x)}`);
  }
  const aligned = [...shape, ...new Array<number>(trailing).fill(1)];
  checkBroadcastsTo(what, aligned, x);
  return aligned;
}

const batchNormalization: OpDefinition<EpsilonAttributes> = {
  opType: 'BatchNormalization',
  parseAttributes: ({ node, opset }) => {
    const a = new Attributes(node);
    // Before opset 7, is_test = 0 (the default) meant training; from opset 14, training_mode = 1.
    const training = opset < 7 ? a.int('is_test', 0) === 0 : a.int('training_mode', 0) !== 0;
    if (training) {
      throw new UnsupportedOpError(node, 'training mode is not supported (inference only)');
    }
    if (node.outputs.slice(1).some(name => name)) {
      throw new UnsupportedOpError(
        node,
        'outputs beyond Y (training statistics) are not supported'
      );
    }
    return { epsilon: a.float('epsilon', 1e-5) };
  },
  inferTypes: ([x]) => [{ dtype: x!.dtype, shape: x!.shape }],
  cpu: ([x, ...parameters], attrs, ctx) => {
    const [scale, bias, mean, variance] = atNode(ctx, () =>
      parameters.map((p, i) => {
        const what = BATCH_NORM_PARAMETERS[i];
        return broadcastValues(
          what,
          p!.reshape(channelAligned(what, x!.shape, p!.shape)),
          x!.shape
        );
      })
    );
    const y = x!
      .toNumbers()
      .map((v, i) => ((v - mean[i]) / Math.sqrt(variance[i] + attrs.epsilon)) * scale[i] + bias[i]);
    return [Tensor.fromNumbers(x!.dtype, x!.shape, y)];
  },
  webgpu: {
    run: (ctx, [x, ...parameters], _host, attrs) => {
      const shape = x!.shape;
      const y = ctx.allocate(x!.dtype, shape);
      const [scale, bias, mean, variance] = parameters.map((p, i) => {
        const aligned = channelAligned(BATCH_NORM_PARAMETERS[i], shape, p!.shape);
        return `p${i}[${broadcastOffset(aligned, shape.length, 'c')}]`;
      });
      const body = `${coordinates('index', shape, 'c')}
  y[index] = (x[index] - ${mean}) / sqrt(${variance} + ${f32Literal(attrs.epsilon)}) * ${scale} + ${bias};`;
      const inputs: [string, GpuTensor][] = [
        ['x', x!],
        ...parameters.map((p, i): [string, GpuTensor] => [`p${i}`, p!])
      ];
      ctx.dispatch({
        label: 'BatchNormalization',
        code: [bindings(inputs, [['y', y]]), linearMain(y.size, body)].join('\n'),
        bindings: [...inputs.map(([, t]) => t), y],
        workgroups: linearGrid(y.size)
      });
      return [y];
    }
  }
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const normalizationOps: OpDefinition<any>[] = [
  ...SOFTMAX_SPECS.map(softmaxOp),
  layerNormalization,
  instanceNormalization,
  batchNormalization
];
