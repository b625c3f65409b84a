/**
 * Reductions: ReduceSum, ReduceMean and the rest over a set of axes, and ArgMax /
 * ArgMin along one axis.
 *
 * Also the row addressing they share with Softmax and the normalizations: an op that
 * works along some axes of its input sees it as rows, one per combination of the other
 * axes, and the input offset of element r of row i is rowBase(i) + rowOffset(r). Both the
 * CPU references and the WGSL kernels (a plain loop per row: this is the op-by-op
 * baseline) are written against that one layout.
 */
import { DataType } from '../ir/dtype';
import { Dim } from '../ir/graph';
import { sizeOf, stridesOf, Tensor } from '../ir/tensor';
import { GpuTensor, KernelContext } from '../kernels/context';
import {
  bindings,
  coordinates,
  f32Literal,
  linearGrid,
  linearMain,
  readFloat,
  writeFloat
} from '../kernels/wgsl';
import { Attributes } from './attributes';
import {
  intList,
  IntList,
  inferList,
  knownNumbers,
  listInputs,
  normalizeAxes,
  normalizeAxis,
  readList
} from './shape';
import { OpDefinition } from './types';
import { atNode } from './window';

// --- rows -------------------------------------------------------------------------------

/**
 * Some axes of a tensor walked by one flat index, in row-major order: their sizes and
 * the strides they step by in the tensor (adjacent axes merged where contiguous).
 */
interface AxisWalk {
  dims: number[];
  strides: number[];
  size: number;
}

/** A tensor seen as rows along `axes`: which elements make a row, and where rows start. */
export interface RowLayout {
  /** The other axes: rows in row-major order, which is also a reduction's output order. */
  rows: AxisWalk;
  /** The axes along a row. */
  row: AxisWalk;
}

export function rowLayout(shape: readonly number[], axes: readonly number[]): RowLayout {
  const strides = stridesOf(shape);
  const along = new Set(axes);
  const walk = (inRow: boolean) =>
    axisWalk(
      shape.map((_, axis) => axis).filter(axis => along.has(axis) === inRow),
      shape,
      strides
    );
  return { rows: walk(false), row: walk(true) };
}

function axisWalk(axes: number[], shape: readonly number[], strides: number[]): AxisWalk {
  const dims: number[] = [];
  const steps: number[] = [];
  for (const axis of axes) {
    const last = dims.length - 1;
    if (last >= 0 && steps[last] === strides[axis] * shape[axis]) {
      dims[last] *= shape[axis];
      steps[last] = strides[axis];
    } else {
      dims.push(shape[axis]);
      steps.push(strides[axis]);
    }
  }
  return { dims, strides: steps, size: sizeOf(dims) };
}

/** The tensor offset of every position of a walk, in order. */
function walkOffsets(walk: AxisWalk): Int32Array {
  let offsets = new Int32Array([0]);
  walk.dims.forEach((dim, axis) => {
    const next = new Int32Array(offsets.length * dim);
    let i = 0;
    for (const offset of offsets) {
      for (let j = 0; j < dim; j++) {
        next[i++] = offset + j * walk.strides[axis];
      }
    }
    offsets = next;
  });
  return offsets;
}

/** For the CPU: where each row starts, and each row element's offset from that start. */
export function rowOffsets(layout: RowLayout): { bases: Int32Array; offsets: Int32Array } {
  return { bases: walkOffsets(layout.rows), offsets: walkOffsets(layout.row) };
}

/** `fn name(i: u32) -> u32`: the tensor offset of position i of a walk. */
export function wgslWalk(name: string, walk: AxisWalk): string {
  const terms = walk.dims.map((_, axis) => `p${axis} * ${walk.strides[axis]}u`);
  return `fn ${name}(i: u32) -> u32 {
${coordinates('i', walk.dims, 'p')}
  return ${terms.join(' + ') || '0u'};
}`;
}

export interface RowKernel {
  label: string;
  layout: RowLayout;
  inputs: [string, GpuTensor][];
  outputs: [string, GpuTensor][];
  /**
   * WGSL run once per row: `index` is the row, `base` the offset where it starts, and
   * its elements are at `base + row_offset(r)` for r < ROW_SIZE.
   */
  body: string;
  helpers?: string;
}

/** Dispatches one invocation per row of `kernel.layout`. */
export function dispatchRows(ctx: KernelContext, kernel: RowKernel): void {
  const { rows, row } = kernel.layout;
  const body = `  let base = row_base(index);\n${kernel.body}`;
  const code = [
    bindings(kernel.inputs, kernel.outputs),
    `const ROW_SIZE = ${row.size}u;`,
    wgslWalk('row_base', rows),
    wgslWalk('row_offset', row),
    kernel.helpers ?? '',
    linearMain(rows.size, body)
  ].join('\n');
  ctx.dispatch({
    label: kernel.label,
    code,
    bindings: [...kernel.inputs, ...kernel.outputs].map(([, tensor]) => tensor),
    workgroups: linearGrid(rows.size)
  });
}

/** WGSL statements declaring `name`, the largest element of the row of `input`. */
export function wgslRowMax(input: string, name: string, tensor?: StoredTensor): string {
  return `  var ${name} = ${f32Literal(-Infinity)};
  for (var r = 0u; r < ROW_SIZE; r++) {
    ${name} = max(${name}, ${readRow(input, 'base + row_offset(r)', tensor)});
  }`;
}

/** A row kernel's tensor, when it may hold float16 in f16 storage (read as f32). */
type StoredTensor = Pick<GpuTensor, 'dtype' | 'storage'>;

/** The f32 element `at` of the binding `input` (of `tensor`, when given: see readFloat). */
function readRow(input: string, at: string, tensor: StoredTensor | undefined): string {
  const access = `${input}[${at}]`;
  return tensor ? readFloat(tensor, access) : access;
}

/** The largest element of one row (-Infinity for an empty row). */
export function rowMax(values: Float64Array, base: number, offsets: Int32Array): number {
  let peak = -Infinity;
  for (const offset of offsets) {
    peak = Math.max(peak, values[base + offset]);
  }
  return peak;
}

/** `shape` with `axes` set to 1 (keepdims) or removed. */
function reducedShape<D extends Dim>(shape: readonly D[], axes: number[], keepdims: boolean): D[] {
  return shape.flatMap((d, axis) => (axes.includes(axis) ? (keepdims ? [1 as D] : []) : [d]));
}

// --- Reduce* ------------------------------------------------------------------------------

/** One reduction: a fold from `initial` with `step`, then `finish`, on the CPU and in WGSL. */
interface Reduction {
  opType: string;
  /** The first opset where axes are input 1 rather than an attribute. */
  axesInputSince: number;
  /** Where the fold starts: the result of reducing an empty set, before `finish`. */
  initial: number;
  step: (acc: number, x: number) => number;
  /** WGSL expression of the f32s `acc` and `x`. */
  wgslStep: string;
  finish?: (acc: number, count: number) => number;
  /** WGSL expression of the f32s `acc` and `count`. */
  wgslFinish?: string;
  /**
   * Fold x - max instead of x and add max to the result (LogSumExp), so that exp cannot
   * overflow. An infinite max shifts by 0 instead: exp then yields the right limit.
   */
  shifted?: boolean;
}

const sum = (acc: number, x: number) => acc + x;
const sumOfSquares = (acc: number, x: number) => acc + x * x;

const REDUCTIONS: Reduction[] = [
  { opType: 'ReduceSum', axesInputSince: 13, initial: 0, step: sum, wgslStep: 'acc + x' },
  {
    opType: 'ReduceMean',
    axesInputSince: 18,
    initial: 0,
    step: sum,
    wgslStep: 'acc + x',
    finish: (acc, count) => acc / count,
    wgslFinish: 'acc / count'
  },
  {
    opType: 'ReduceMax',
    axesInputSince: 18,
    initial: -Infinity,
    step: Math.max,
    wgslStep: 'max(acc, x)'
  },
  {
    opType: 'ReduceMin',
    axesInputSince: 18,
    initial: Infinity,
    step: Math.min,
    wgslStep: 'min(acc, x)'
  },
  {
    opType: 'ReduceProd',
    axesInputSince: 18,
    initial: 1,
    step: (acc, x) => acc * x,
    wgslStep: 'acc * x'
  },
  {
    opType: 'ReduceL1',
    axesInputSince: 18,
    initial: 0,
    step: (acc, x) => acc + Math.abs(x),
    wgslStep: 'acc + abs(x)'
  },
  {
    opType: 'ReduceL2',
    axesInputSince: 18,
    initial: 0,
    step: sumOfSquares,
    wgslStep: 'acc + x * x',
    finish: Math.sqrt,
    wgslFinish: 'sqrt(acc)'
  },
  {
    opType: 'ReduceSumSquare',
    axesInputSince: 18,
    initial: 0,
    step: (acc, x) => acc + x * x,
    wgslStep: 'acc + x * x'
  },
  {
    opType: 'ReduceLogSum',
    axesInputSince: 18,
    initial: 0,
    step: sum,
    wgslStep: 'acc + x',
    finish: Math.log,
    wgslFinish: 'log(acc)'
  },
  {
    opType: 'ReduceLogSumExp',
    axesInputSince: 18,
    initial: 0,
    step: (acc, x) => acc + Math.exp(x),
    wgslStep: 'acc + exp(x)',
    finish: Math.log,
    wgslFinish: 'log(acc)',
    shifted: true
  }
];

interface ReduceAttributes {
  axes: IntList;
  keepdims: boolean;
  /** With no axes given: reduce over none (true) or over all (false). */
  noopWithEmptyAxes: boolean;
}

/**
 * The reduced axes, sorted. No axes (or an empty list) means every axis, or none under
 * noop_with_empty_axes; reducing over no axes folds each element alone, so
 * ReduceSumSquare then squares and ReduceL1 takes absolute values, as ONNX's reference
 * does.
 */
function reducedAxes(requested: number[] | undefined, rank: number, attrs: ReduceAttributes) {
  if (!requested || requested.length === 0) {
    return attrs.noopWithEmptyAxes ? [] : Array.from({ length: rank }, (_, axis) => axis);
  }
  return normalizeAxes(requested, rank).sort((a, b) => a - b);
}

function reduceRow(
  reduction: Reduction,
  values: Float64Array,
  base: number,
  offsets: Int32Array
): number {
  const peak = reduction.shifted ? rowMax(values, base, offsets) : 0;
  const shift = Number.isFinite(peak) ? peak : 0;
  let acc = reduction.initial;
  for (const offset of offsets) {
    acc = reduction.step(acc, values[base + offset] - shift);
  }
  return (reduction.finish ? reduction.finish(acc, offsets.length) : acc) + shift;
}

const F32_MAX = 3.4028234663852886e38;

function wgslReduceRow(reduction: Reduction, data: GpuTensor, out: GpuTensor): string {
  const shift = reduction.shifted
    ? `${wgslRowMax('data', 'peak', data)}
  let shift = select(0.0, peak, abs(peak) <= ${f32Literal(F32_MAX)});`
    : '  let shift = 0.0;';
  return `${shift}
  var acc = ${f32Literal(reduction.initial)};
  for (var r = 0u; r < ROW_SIZE; r++) {
    let x = ${readFloat(data, 'data[base + row_offset(r)]')} - shift;
    acc = ${reduction.wgslStep};
  }
  let count = f32(ROW_SIZE);
  out[index] = ${writeFloat(out, `${reduction.wgslFinish ?? 'acc'} + shift`)};`;
}

function reduceOp(reduction: Reduction): OpDefinition<ReduceAttributes> {
  return {
    opType: reduction.opType,
    parseAttributes: ctx => {
      const a = new Attributes(ctx.node);
      return {
        axes: intList(ctx, 'axes', reduction.axesInputSince, 1),
        keepdims: a.int('keepdims', 1) !== 0,
        noopWithEmptyAxes: a.int('noop_with_empty_axes', 0) !== 0
      };
    },
    hostInputs: attrs => listInputs(attrs.axes),
    inferTypes: (inputs, attrs, ctx) => {
      const { dtype, shape } = inputs[0]!;
      if (!shape) {
        return [{ dtype }];
      }
      const requested = inferList(attrs.axes, inputs);
      if (requested === null || (requested && !knownNumbers(requested))) {
        // Axes computed at run time: only the rank is known, and only when it is kept.
        return [{ dtype, shape: attrs.keepdims ? shape.map(() => null) : undefined }];
      }
      const axes = atNode(ctx, () => reducedAxes(knownNumbers(requested), shape.length, attrs));
      return [{ dtype, shape: reducedShape(shape, axes, attrs.keepdims) }];
    },
    cpu: (inputs, attrs, ctx) => {
      const data = inputs[0]!;
      const axes = atNode(ctx, () => reducedAxes(readList(attrs.axes, inputs), data.rank, attrs));
      const { bases, offsets } = rowOffsets(rowLayout(data.shape, axes));
      const values = data.toNumbers();
      const out = Float64Array.from(bases, base => reduceRow(reduction, values, base, offsets));
      const shape = reducedShape(data.shape, axes, attrs.keepdims);
      return [Tensor.fromNumbers(data.dtype, shape, out)];
    },
    webgpu: {
      halfStorage: true,
      run: (ctx, [data], hostInputs, attrs) => {
        const x = data!;
        const axes = reducedAxes(readList(attrs.axes, hostInputs), x.shape.length, attrs);
        const out = ctx.allocate(x.dtype, reducedShape(x.shape, axes, attrs.keepdims));
        dispatchRows(ctx, {
          label: reduction.opType,
          layout: rowLayout(x.shape, axes),
          inputs: [['data', x]],
          outputs: [['out', out]],
          body: wgslReduceRow(reduction, x, out)
        });
        return [out];
      }
    }
  };
}

// --- ArgMax / ArgMin ------------------------------------------------------------------------

interface ArgAttributes {
  axis: number;
  keepdims: boolean;
  /** Ties go to the last index instead of the first (opset 12). */
  selectLastIndex: boolean;
}

const INDEX_TYPE: DataType = 'int64';

/** The axis to search along, which must not be empty: an empty one has no index to give. */
function argAxis(shape: readonly number[], attrs: ArgAttributes): number {
  const axis = normalizeAxis(attrs.axis, shape.length);
  if (shape[axis] === 0) {
    throw new Error(`axis ${attrs.axis} is empty in shape [${shape.join(', ')}]`);
  }
  return axis;
}

/** Which element of a row an arg search picks: the largest or smallest, first or last of ties. */
export interface ArgSearch {
  largest: boolean;
  lastOfTies: boolean;
}

/** The position in its row of the element `search` picks (0 for an empty row). */
export function rowArg(
  values: Float64Array,
  base: number,
  offsets: Int32Array,
  search: ArgSearch
): number {
  let best = 0;
  for (let r = 1; r < offsets.length; r++) {
    const x = values[base + offsets[r]];
    const bestValue = values[base + offsets[best]];
    if (
      (search.largest ? x > bestValue : x < bestValue) ||
      (search.lastOfTies && x === bestValue)
    ) {
      best = r;
    }
  }
  return best;
}

/** WGSL statements declaring `best`, the position in the row of `input` that `search` picks. */
export function wgslRowArg(input: string, search: ArgSearch, tensor?: StoredTensor): string {
  const comparison = (search.largest ? '>' : '<') + (search.lastOfTies ? '=' : '');
  return `  var best = 0u;
  var best_value = ${readRow(input, 'base', tensor)};
  for (var r = 1u; r < ROW_SIZE; r++) {
    let x = ${readRow(input, 'base + row_offset(r)', tensor)};
    if (x ${comparison} best_value) {
      best = r;
      best_value = x;
    }
  }`;
}

function argOp(opType: 'ArgMax' | 'ArgMin'): OpDefinition<ArgAttributes> {
  const search = (attrs: ArgAttributes): ArgSearch => ({
    largest: opType === 'ArgMax',
    lastOfTies: attrs.selectLastIndex
  });
  const outShape = <D extends Dim>(shape: readonly D[], axis: number, attrs: ArgAttributes) =>
    reducedShape(shape, [axis], attrs.keepdims);
  return {
    opType,
    parseAttributes: ({ node }) => {
      const a = new Attributes(node);
      return {
        axis: a.int('axis', 0),
        keepdims: a.int('keepdims', 1) !== 0,
        selectLastIndex: a.int('select_last_index', 0) !== 0
      };
    },
    inferTypes: ([data], attrs, ctx) => {
      const shape = data!.shape;
      if (!shape) {
        return [{ dtype: INDEX_TYPE }];
      }
      const axis = atNode(ctx, () => normalizeAxis(attrs.axis, shape.length));
      return [{ dtype: INDEX_TYPE, shape: outShape(shape, axis, attrs) }];
    },
    cpu: ([data], attrs, ctx) => {
      const x = data!;
      const axis = atNode(ctx, () => argAxis(x.shape, attrs));
      const { bases, offsets } = rowOffsets(rowLayout(x.shape, [axis]));
      const values = x.toNumbers();
      const out = Array.from(bases, base => rowArg(values, base, offsets, search(attrs)));
      return [Tensor.fromNumbers(INDEX_TYPE, outShape(x.shape, axis, attrs), out)];
    },
    webgpu: {
      halfStorage: true,
      run: (ctx, [data], _host, attrs) => {
        const x = data!;
        const axis = argAxis(x.shape, attrs);
        const out = ctx.allocate(INDEX_TYPE, outShape(x.shape, axis, attrs));
        dispatchRows(ctx, {
          label: opType,
          layout: rowLayout(x.shape, [axis]),
          inputs: [['data', x]],
          outputs: [['out', out]],
          body: `${wgslRowArg('data', search(attrs), x)}
  out[index] = i32(best);`
        });
        return [out];
      }
    }
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const reduceOps: OpDefinition<any>[] = [
  ...REDUCTIONS.map(reduceOp),
  argOp('ArgMax'),
  argOp('ArgMin')
];
