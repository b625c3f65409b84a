/**
 * Pooling over any number of spatial axes: MaxPool (with its optional Indices output),
 * AveragePool, and the global forms GlobalMaxPool and GlobalAveragePool, which are the
 * same ops with the whole spatial extent as their window.
 */
import { DataType, isFloat } from '../ir/dtype';
import { Dim } from '../ir/graph';
import { sizeOf, stridesOf, Tensor } from '../ir/tensor';
import { computesAsFloat, GpuTensor, KernelContext } from '../kernels/context';
import {
  bindings,
  coordinates,
  f32Literal,
  linearGrid,
  linearMain,
  readFloat,
  WORKGROUP_SIZE,
  writeFloat
} from '../kernels/wgsl';
import { Attributes } from './attributes';
import { InferInput, OpContext, OpDefinition } from './types';
import {
  atNode,
  gridPoints,
  parseWindowAttributes,
  resolveWindow,
  WindowAttributes,
  WindowAxis,
  windowOutputDims,
  wgslKernelLoops,
  wgslWindowInput
} from './window';

type PoolKind = 'max' | 'average';

interface PoolAttributes {
  kind: PoolKind;
  /** The window is the whole spatial extent (GlobalMaxPool, GlobalAveragePool). */
  global: boolean;
  window: WindowAttributes;
  ceilMode: boolean;
  /** AveragePool divides by the window's size within the padded input, not its valid part. */
  countIncludePad: boolean;
  /** MaxPool's node names a second output, Indices. */
  indices: boolean;
  /** storage_order 1: Indices flatten the spatial coordinates column-major. */
  columnMajorIndices: boolean;
}

function parsePool(kind: PoolKind, { node, opset }: OpContext): PoolAttributes {
  const a = new Attributes(node);
  // AveragePool has dilations from opset 19 on; MaxPool from 10 (absent before, so 1).
  const window = parseWindowAttributes(a, { dilations: kind === 'max' || opset >= 19 });
  if (!window.kernelShape) {
    throw a.invalid('kernel_shape', 'is required');
  }
  const storageOrder = a.int('storage_order', 0);
  if (storageOrder !== 0 && storageOrder !== 1) {
    throw a.invalid('storage_order', `must be 0 or 1, got ${storageOrder}`);
  }
  return {
    kind,
    global: false,
    window,
    ceilMode: a.int('ceil_mode', 0) !== 0,
    countIncludePad: a.int('count_include_pad', 0) !== 0,
    indices: kind === 'max' && node.outputs.length > 1,
    columnMajorIndices: storageOrder === 1
  };
}

function globalPool(kind: PoolKind): PoolAttributes {
  return {
    kind,
    global: true,
    window: { autoPad: 'NOTSET' },
    ceilMode: false,
    countIncludePad: false,
    indices: false,
    columnMajorIndices: false
  };
}

function checkInputType(dtype: DataType, kind: PoolKind): void {
  // MaxPool takes 8-bit integers too (opset 12); the CPU reference handles them.
  const integer = kind === 'max' && (dtype === 'int8' || dtype === 'uint8');
  if (!isFloat(dtype) && !integer) {
    throw new Error(`${dtype} input is not supported`);
  }
}

function checkRank(rank: number): void {
  if (rank < 3) {
    throw new Error(`X must have a batch, a channel and spatial axes, got rank ${rank}`);
  }
}

/** The window over each spatial axis of an input of `inputSpatial`. */
function poolWindow(attrs: PoolAttributes, inputSpatial: readonly number[]): WindowAxis[] {
  if (attrs.global) {
    return inputSpatial.map(input => ({
      input,
      output: 1,
      kernel: input,
      stride: 1,
      dilation: 1,
      padBegin: 0,
      padEnd: 0
    }));
  }
  return resolveWindow(attrs.window, inputSpatial, attrs.window.kernelShape!, attrs.ceilMode);
}

function inferPool([x]: (InferInput | undefined)[], attrs: PoolAttributes): InferInput[] {
  checkInputType(x!.dtype, attrs.kind);
  let shape: Dim[] | undefined;
  if (x!.shape) {
    checkRank(x!.shape.length);
    const spatial = x!.shape.slice(2);
    const outSpatial = attrs.global
      ? spatial.map(() => 1)
      : windowOutputDims(attrs.window, spatial, attrs.window.kernelShape!, attrs.ceilMode);
    shape = [...x!.shape.slice(0, 2), ...outSpatial];
  }
  const types: InferInput[] = [{ dtype: x!.dtype, shape }];
  if (attrs.indices) {
    types.push({ dtype: 'int64', shape });
  }
  return types;
}

/** Strides that flatten coordinates with the first axis varying fastest. */
function columnMajorStrides(shape: readonly number[]): number[] {
  return stridesOf([...shape].reverse()).reverse();
}

/**
 * Strides Indices flatten spatial coordinates with: ONNX numbers the elements of the
 * whole input, batch and channel first, so only the spatial part follows storage_order.
 */
function indexStrides(attrs: PoolAttributes, inSpatial: readonly number[]): number[] {
  return attrs.columnMajorIndices ? columnMajorStrides(inSpatial) : stridesOf(inSpatial);
}

// --- CPU reference ---------------------------------------------------------------------

function poolReference(x: Tensor, attrs: PoolAttributes): Tensor[] {
  checkRank(x.rank);
  const axes = poolWindow(attrs, x.shape.slice(2));
  const xs = x.toNumbers();
  const planes = x.shape[0] * x.shape[1];
  const inSpatial = axes.map(a => a.input);
  const inSize = sizeOf(inSpatial);
  const inStrides = stridesOf(inSpatial);
  const flatIndexStrides = indexStrides(attrs, inSpatial);
  const outSpatial = axes.map(a => a.output);
  const outPoints = gridPoints(outSpatial);
  const kernelPoints = gridPoints(axes.map(a => a.kernel));
  const out = new Float64Array(planes * outPoints.length);
  const indices = new Float64Array(attrs.indices ? out.length : 0);
  for (let plane = 0; plane < planes; plane++) {
    const base = plane * inSize;
    outPoints.forEach((o, oi) => {
      let best = -Infinity;
      let bestIndex = -1;
      let sum = 0;
      let valid = 0;
      let padded = 0;
      for (const k of kernelPoints) {
        let inside = true;
        let withinPads = true;
        let offset = 0;
        let index = 0;
        axes.forEach((a, d) => {
          const i = o[d] * a.stride - a.padBegin + k[d] * a.dilation;
          inside &&= i >= 0 && i < a.input;
          // Windows start at or after -padBegin, so only the end can leave the padding.
          withinPads &&= i < a.input + a.padEnd;
          offset += i * inStrides[d];
          index += i * flatIndexStrides[d];
        });
        padded += +withinPads;
        if (!inside) {
          continue;
        }
        const value = xs[base + offset];
        valid++;
        sum += value;
        if (value > best) {
          best = value;
          bestIndex = base + index;
        }
      }
      const at = plane * outPoints.length + oi;
      out[at] = attrs.kind === 'max' ? best : sum / (attrs.countIncludePad ? padded : valid);
      if (attrs.indices) {
        indices[at] = bestIndex;
      }
    });
  }
  const outShape = [...x.shape.slice(0, 2), ...outSpatial];
  const outputs = [Tensor.fromNumbers(x.dtype, outShape, out)];
  if (attrs.indices) {
    outputs.push(Tensor.fromNumbers('int64', outShape, indices));
  }
  return outputs;
}

// --- WebGPU kernel ---------------------------------------------------------------------

/** One invocation per output element, looping over its window. */
function poolKernel(ctx: KernelContext, x: GpuTensor, attrs: PoolAttributes): GpuTensor[] {
  checkRank(x.shape.length);
  const axes = poolWindow(attrs, x.shape.slice(2));
  const inSpatial = axes.map(a => a.input);
  const inSize = sizeOf(inSpatial);
  const outShape = [...x.shape.slice(0, 2), ...axes.map(a => a.output)];
  // MaxPool of 8-bit integers runs on their i32 storage; everything else is float32.
  const out = ctx.allocate(x.dtype, outShape);
  const indices = attrs.indices ? ctx.allocate('int64', outShape) : undefined;
  const outSize = sizeOf(outShape.slice(2));
  const offset = (strides: number[]) => strides.map((s, d) => `u32(i${d}) * ${s}u`).join(' + ');
  const includePad = attrs.kind === 'average' && attrs.countIncludePad;
  // With count_include_pad the loops also visit the pads, and only real elements are read.
  const bounds = (a: WindowAxis): [number, number] =>
    includePad ? [-a.padBegin, a.input + a.padEnd] : [0, a.input];
  const inside = includePad
    ? axes.map((a, d) => `i${d} >= 0i && i${d} < ${a.input}i`).join(' && ')
    : 'true';
  const read = readFloat(x, `x[base + ${offset(stridesOf(inSpatial))}]`);
  let accumulate: string;
  let init: string;
  let finish: string;
  if (attrs.kind === 'max') {
    const lowest = computesAsFloat(x.dtype) ? f32Literal(-Infinity) : '-2147483647i - 1i';
    init = `  var best = ${lowest};\n  var bestIndex = -1i;`;
    accumulate = [
      `  let value = ${read};`,
      '  if (value > best) {',
      '    best = value;',
      `    bestIndex = i32(base + ${offset(indexStrides(attrs, inSpatial))});`,
      '  }'
    ].join('\n');
    finish = `  out[index] = ${writeFloat(out, 'best')};${indices ? '\n  indices[index] = bestIndex;' : ''}`;
  } else {
    init = '  var sum = 0.0;\n  var count = 0.0;';
    accumulate = [
      '  count += 1.0;',
      inside === 'true' ? `  sum += ${read};` : `  if (${inside}) {\n    sum += ${read};\n  }`
    ].join('\n');
    finish = `  out[index] = ${writeFloat(out, 'sum / count')};`;
  }
  const loops = wgslKernelLoops(
    axes.map(a => a.kernel),
    d => wgslWindowInput(axes[d], d, `c${d + 2}`, bounds(axes[d])),
    accumulate
  );
  const body = [
    coordinates('index', outShape, 'c'),
    `  let base = (index / ${outSize}u) * ${inSize}u;`,
    init,
    loops,
    finish
  ].join('\n');
  const outputs: [string, GpuTensor][] = [['out', out]];
  if (indices) {
    outputs.push(['indices', indices]);
  }
  const code = [bindings([['x', x]], outputs), linearMain(out.size, body)].join('\n');
  ctx.dispatch({
    label: attrs.kind === 'max' ? 'MaxPool' : 'AveragePool',
    code,
    bindings: [x, ...outputs.map(([, t]) => t)],
    workgroups: linearGrid(out.size)
  });
  return outputs.map(([, t]) => t);
}

/**
 * GlobalAveragePool and GlobalMaxPool of floats: one workgroup per (batch, channel) plane,
 * its invocations striding over the plane and combining their partial results in
 * workgroup memory by halves.
 */
function globalPoolKernel(ctx: KernelContext, x: GpuTensor, kind: PoolKind): GpuTensor {
  checkRank(x.shape.length);
  const planes = x.shape[0] * x.shape[1];
  const planeSize = sizeOf(x.shape.slice(2));
  const out = ctx.allocate(x.dtype, [...x.shape.slice(0, 2), ...x.shape.slice(2).map(() => 1)]);
  const combine = kind === 'max' ? 'max(a, b)' : 'a + b';
  const result = kind === 'max' ? 'partial[0]' : `partial[0] / ${f32Literal(planeSize)}`;
  const code = `${bindings([['x', x]], [['out', out]])}
var<workgroup> partial: array<f32, ${WORKGROUP_SIZE}>;

fn combine(a: f32, b: f32) -> f32 {
  return ${combine};
}

@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(local_invocation_index) lane: u32, @builtin(workgroup_id) group: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
  let plane = group.x + group.y * groups.x;
  var acc = ${kind === 'max' ? f32Literal(-Infinity) : '0.0'};
  if (plane < ${planes}u) {
    for (var i = lane; i < ${planeSize}u; i += ${WORKGROUP_SIZE}u) {
      acc = combine(acc, ${readFloat(x, `x[plane * ${planeSize}u + i]`)});
    }
  }
  partial[lane] = acc;
  workgroupBarrier();
  for (var stride = ${WORKGROUP_SIZE / 2}u; stride > 0u; stride >>= 1u) {
    if (lane < stride) {
      partial[lane] = combine(partial[lane], partial[lane + stride]);
    }
    workgroupBarrier();
  }
  if (lane == 0u && plane < ${planes}u) {
    out[plane] = ${writeFloat(out, result)};
  }
}`;
  if (planes > 0) {
    ctx.dispatch({
      label: kind === 'max' ? 'GlobalMaxPool' : 'GlobalAveragePool',
      code,
      bindings: [x, out],
      workgroups: linearGrid(planes * WORKGROUP_SIZE)
    });
  }
  return out;
}

// --- op definitions --------------------------------------------------------------------

function poolOp(
  opType: string,
  parse: (ctx: OpContext) => PoolAttributes
): OpDefinition<PoolAttributes> {
  return {
    opType,
    parseAttributes: parse,
    inferTypes: (inputs, attrs) => inferPool(inputs, attrs),
    cpu: ([x], attrs, ctx) =>
      atNode(ctx, () => {
        checkInputType(x!.dtype, attrs.kind);
        return poolReference(x!, attrs);
      }),
    webgpu: {
      halfStorage: true,
      unsupported: ([dtype], attrs) =>
        computesAsFloat(dtype!) || (attrs.kind === 'max' && (dtype === 'int8' || dtype === 'uint8'))
          ? null
          : `${dtype} input runs on the CPU`,
      run: (ctx, [x], _host, attrs) =>
        attrs.global && computesAsFloat(x!.dtype)
          ? [globalPoolKernel(ctx, x!, attrs.kind)]
          : poolKernel(ctx, x!, attrs)
    }
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const poolOps: OpDefinition<any>[] = [
  poolOp('MaxPool', ctx => parsePool('max', ctx)),
  poolOp('AveragePool', ctx => parsePool('average', ctx)),
  poolOp('GlobalMaxPool', () => globalPool('max')),
  poolOp('GlobalAveragePool', () => globalPool('average'))
];
