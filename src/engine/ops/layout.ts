/**
 * Data-layout ops: they move elements without arithmetic, so every kernel here works on
 * any GPU storage (float32, integers as i32, bool as u32, float16 as f16 or f32). Transpose, Slice, Pad,
 * Tile, DepthToSpace and SpaceToDepth are gathers by a plan (see shape.ts); Concat and
 * Split copy blocks along an axis; Gather and GatherElements read through indices.
 */
import { DataType } from '../ir/dtype';
import { Dim } from '../ir/graph';
import { sizeOf, stridesOf, Tensor } from '../ir/tensor';
import { GpuTensor, KernelContext } from '../kernels/context';
import { bindings, coordinates, linearMain } from '../kernels/wgsl';
import { Attributes } from './attributes';
import {
  AxisRead,
  dispatchOver,
  Elements,
  elementsType,
  gatherOp,
  GatherStep,
  identityReads,
  inferList,
  intList,
  IntList,
  isConcrete,
  knownNumbers,
  listInput,
  listInputs,
  mapCoordinates,
  movedElement,
  movesAnyStorage,
  normalizeAxes,
  normalizeAxis,
  PadMode,
  readList,
  takeElements,
  unknownDims,
  valueElements,
  withNodeErrors
} from './shape';
import { InferInput, OpContext, OpDefinition } from './types';

// --- Transpose and the ops that are transposes of a view -------------------------------

/** The gather that transposes a tensor of `shape` by `perm`. */
function transposeStep(shape: readonly number[], perm: readonly number[]): GatherStep {
  const strides = stridesOf(shape);
  const outShape = perm.map(axis => shape[axis]);
  const reads = perm.map(axis => ({ stride: strides[axis], start: 0, step: 1 }));
  return { plan: { shape: outShape, reads }, outShape };
}

function transposePerm(rank: number, perm: number[] | undefined): number[] {
  if (!perm) {
    return Array.from({ length: rank }, (_, axis) => rank - 1 - axis);
  }
  if (perm.length !== rank) {
    throw new Error(`perm [${perm.join(', ')}] does not match rank ${rank}`);
  }
  return normalizeAxes(perm, rank, 'perm');
}

const transpose = gatherOp<{ perm?: number[] }>({
  opType: 'Transpose',
  parseAttributes: ({ node }) => ({ perm: new Attributes(node).ints('perm') }),
  inferTypes: ([x], a) => {
    const shape = x!.shape;
    return [
      { dtype: x!.dtype, shape: shape && transposePerm(shape.length, a.perm).map(p => shape[p]) }
    ];
  },
  gather: ({ shape }, _host, a) => transposeStep(shape, transposePerm(shape.length, a.perm))
});

interface BlockAttributes {
  blockSize: number;
  /** DepthToSpace's channel order: depth-column-row (DCR) or column-row-depth (CRD). */
  mode: 'DCR' | 'CRD';
}

function blockAttributes({ node }: OpContext): BlockAttributes {
  const a = new Attributes(node);
  const blockSize = a.int('blocksize');
  if (blockSize === undefined || blockSize < 1) {
    throw a.invalid('blocksize', 'must be a positive integer');
  }
  const mode = a.string('mode', 'DCR');
  if (mode !== 'DCR' && mode !== 'CRD') {
    throw a.invalid('mode', `must be 'DCR' or 'CRD', got '${mode}'`);
  }
  return { blockSize, mode };
}

/** `n` when it is a multiple of `by` (or unknown), for the block ops' dims. */
function divisible(n: Dim, by: number, what: string): Dim {
  if (typeof n !== 'number') {
    return null;
  }
  if (n % by !== 0) {
    throw new Error(`${what} ${n} is not a multiple of ${by}`);
  }
  return n / by;
}

function scaled(n: Dim, by: number): Dim {
  return typeof n === 'number' ? n * by : null;
}

function nchw(shape: readonly Dim[]): readonly Dim[] {
  if (shape.length !== 4) {
    throw new Error(`input must be 4-D (N, C, H, W), got rank ${shape.length}`);
  }
  return shape;
}

/**
 * DepthToSpace as a transpose of a 6-D view: DCR splits channels as (b, b, C/b²), CRD as
 * (C/b², b, b); the blocks then interleave with the rows and columns.
 */
function depthToSpaceDims(shape: readonly Dim[], a: BlockAttributes): Dim[] {
  const [n, c, h, w] = nchw(shape);
  const b = a.blockSize;
  return [n, divisible(c, b * b, 'channel count'), scaled(h, b), scaled(w, b)];
}

const depthToSpace = gatherOp<BlockAttributes>({
  opType: 'DepthToSpace',
  parseAttributes: blockAttributes,
  inferTypes: ([x], a) => [{ dtype: x!.dtype, shape: x!.shape && depthToSpaceDims(x!.shape, a) }],
  gather: ({ shape }, _host, a) => {
    const outShape = depthToSpaceDims(shape, a) as number[];
    const [n, c, h, w] = shape;
    const b = a.blockSize;
    const step =
      a.mode === 'DCR'
        ? transposeStep([n, b, b, c / (b * b), h, w], [0, 3, 4, 1, 5, 2])
        : transposeStep([n, c / (b * b), b, b, h, w], [0, 1, 4, 2, 5, 3]);
    return { plan: step.plan, outShape };
  }
});

function spaceToDepthDims(shape: readonly Dim[], a: BlockAttributes): Dim[] {
  const [n, c, h, w] = nchw(shape);
  const b = a.blockSize;
  return [n, scaled(c, b * b), divisible(h, b, 'height'), divisible(w, b, 'width')];
}

const spaceToDepth = gatherOp<BlockAttributes>({
  opType: 'SpaceToDepth',
  parseAttributes: blockAttributes,
  inferTypes: ([x], a) => [{ dtype: x!.dtype, shape: x!.shape && spaceToDepthDims(x!.shape, a) }],
  gather: ({ shape }, _host, a) => {
    const outShape = spaceToDepthDims(shape, a) as number[];
    const [n, c, h, w] = shape;
    const b = a.blockSize;
    const step = transposeStep([n, c, h / b, b, w / b, b], [0, 3, 5, 1, 2, 4]);
    return { plan: step.plan, outShape };
  }
});

// --- Slice --------------------------------------------------------------------------------

interface SliceAttributes {
  starts: IntList;
  ends: IntList;
  axes: IntList;
  steps: IntList;
}

/** One sliced axis: where it starts, its step and how many elements it keeps. */
interface AxisSlice {
  start: number;
  step: number;
  count: number;
}

/**
 * ONNX Slice on one axis of size `dim`: negative starts / ends count from the back, then
 * clamp to [0, dim] going forward or [-1, dim - 1] going backward (so INT64 max / min
 * sentinels mean "to the end").
 */
function sliceAxis(dim: number, start: number, end: number, step: number): AxisSlice {
  if (step === 0) {
    throw new Error('slice step must not be 0');
  }
  const clamp = (i: number, low: number, high: number) =>
    Math.min(Math.max(i < 0 ? i + dim : i, low), high);
  const first = step > 0 ? clamp(start, 0, dim) : clamp(start, 0, dim - 1);
  const last = step > 0 ? clamp(end, 0, dim) : clamp(end, -1, dim - 1);
  return { start: first, step, count: Math.max(0, Math.ceil((last - first) / step)) };
}

interface SliceParameters<T extends Dim> {
  starts: T[];
  ends: T[];
  axes: number[];
  steps: number[];
}

/** Checks Slice's lists against each other and the rank, filling default axes and steps. */
function sliceParameters<T extends Dim>(
  rank: number,
  starts: T[],
  ends: T[],
  axes: number[] | undefined,
  steps: number[] | undefined
): SliceParameters<T> {
  const count = starts.length;
  for (const [name, list] of Object.entries({ ends, axes, steps })) {
    if (list && list.length !== count) {
      throw new Error(`${name} has ${list.length} elements, starts has ${count}`);
    }
  }
  return {
    starts,
    ends,
    axes: normalizeAxes(axes ?? Array.from({ length: count }, (_, i) => i), rank),
    steps: steps ?? new Array<number>(count).fill(1)
  };
}

function sliceStep(shape: readonly number[], p: SliceParameters<number>): GatherStep {
  const reads = identityReads(shape);
  const outShape = [...shape];
  p.axes.forEach((axis, i) => {
    const { start, step, count } = sliceAxis(shape[axis], p.starts[i], p.ends[i], p.steps[i]);
    reads[axis] = { stride: reads[axis].stride, start, step };
    outShape[axis] = count;
  });
  return { plan: { shape: outShape, reads }, outShape };
}

/** Past this, an end means "to the end of the axis" whatever its (symbolic) size. */
const END_OF_AXIS = 2 ** 31 - 1;

/**
 * A sliced dim during inference: computed when all is known, kept when a symbolic dim
 * is taken whole (forward or reversed), otherwise unknown.
 */
function slicedDim(dim: Dim, start: Dim, end: Dim, step: number): Dim {
  if (typeof dim === 'number' && typeof start === 'number' && typeof end === 'number') {
    return sliceAxis(dim, start, end, step).count;
  }
  const toEnd = typeof end === 'number' && Math.abs(end) >= END_OF_AXIS;
  const forward = step === 1 && start === 0 && (end === dim || toEnd);
  const backward = step === -1 && start === -1 && toEnd && (end as number) < 0;
  return forward || backward ? dim : null;
}

function inferSlice(inputs: (InferInput | undefined)[], a: SliceAttributes): InferInput {
  const x = inputs[0]!;
  if (!x.shape) {
    return { dtype: x.dtype };
  }
  const rank = x.shape.length;
  const [starts, ends, axes, steps] = [a.starts, a.ends, a.axes, a.steps].map(list =>
    inferList(list, inputs)
  );
  const [axisNumbers, stepNumbers] = [knownNumbers(axes), knownNumbers(steps)];
  if (
    !starts ||
    !ends ||
    (axes !== undefined && !axisNumbers) ||
    (steps !== undefined && !stepNumbers)
  ) {
    // Which axes are cut, or by how much, is only known at run time.
    const cut = axisNumbers && normalizeAxes(axisNumbers, rank);
    return {
      dtype: x.dtype,
      shape: x.shape.map((d, axis) => (cut && !cut.includes(axis) ? d : null))
    };
  }
  const p = sliceParameters(rank, starts, ends, axisNumbers, stepNumbers);
  const shape = [...x.shape];
  p.axes.forEach((axis, i) => {
    shape[axis] = slicedDim(x.shape![axis], p.starts[i], p.ends[i], p.steps[i]);
  });
  // Slicing a shape value (Shape → Slice) keeps its elements, symbols included.
  const elements = valueElements(x);
  const [start, end] = [p.starts[0], p.ends[0]];
  if (elements && rank === 1 && typeof start === 'number' && typeof end === 'number') {
    const range = sliceAxis(elements.length, start, end, p.steps[0]);
    const picked = Array.from(
      { length: range.count },
      (_, i) => elements[range.start + i * range.step]
    );
    return elementsType(x.dtype, [range.count], picked);
  }
  return { dtype: x.dtype, shape };
}

const slice = gatherOp<SliceAttributes>({
  opType: 'Slice',
  parseAttributes: ctx => ({
    starts: intList(ctx, 'starts', 10, 1),
    ends: intList(ctx, 'ends', 10, 2),
    axes: intList(ctx, 'axes', 10, 3),
    steps: listInput(ctx, 10, 4)
  }),
  hostInputs: a => listInputs(a.starts, a.ends, a.axes, a.steps),
  inferTypes: (inputs, a) => [inferSlice(inputs, a)],
  gather: ({ shape }, host, a) => {
    const starts = readList(a.starts, host);
    const ends = readList(a.ends, host);
    if (!starts || !ends) {
      throw new Error('starts and ends are required');
    }
    const p = sliceParameters(
      shape.length,
      starts,
      ends,
      readList(a.axes, host),
      readList(a.steps, host)
    );
    return sliceStep(shape, p);
  }
});

// --- Pad ------------------------------------------------------------------------------------

interface PadAttributes {
  mode: PadMode;
  pads: IntList;
  axes: IntList;
  /** The constant: an attribute before opset 11, input 2 after. */
  value?: number;
}

const PAD_MODES: readonly string[] = ['constant', 'edge', 'reflect', 'wrap'];

/** Pads for every axis ([begins..., ends...]) from pads given for `axes` only. */
function padsForAllAxes(pads: number[], rank: number, axes: number[] | undefined): number[] {
  const padded = axes ? normalizeAxes(axes, rank) : Array.from({ length: rank }, (_, i) => i);
  if (pads.length !== 2 * padded.length) {
    throw new Error(`pads has ${pads.length} elements, expected ${2 * padded.length}`);
  }
  const full = new Array<number>(2 * rank).fill(0);
  padded.forEach((axis, i) => {
    full[axis] = pads[i];
    full[axis + rank] = pads[i + padded.length];
  });
  return full;
}

/**
 * Pad as a gather. Negative pads crop first, as the spec's reference does, so reflect /
 * edge / wrap work off the cropped range [start, start + length) of each axis.
 */
function padStep(
  shape: readonly number[],
  pads: number[],
  mode: PadMode,
  fill: Tensor
): GatherStep {
  const rank = shape.length;
  const strides = stridesOf(shape);
  const outShape: number[] = [];
  const reads = shape.map((dim, axis): AxisRead => {
    const [begin, end] = [pads[axis], pads[axis + rank]];
    const start = Math.max(0, -begin);
    const length = dim - start - Math.max(0, -end);
    const size = dim + begin + end;
    if (size < 0) {
      throw new Error(`pads ${begin}, ${end} crop more than axis ${axis} of size ${dim}`);
    }
    if (length <= 0 && size > 0 && mode !== 'constant') {
      throw new Error(`cannot ${mode}-pad axis ${axis}, which has no elements left`);
    }
    outShape.push(size);
    return { stride: strides[axis], start, shift: Math.max(0, begin), length, mode };
  });
  return { plan: { shape: outShape, reads }, outShape, fill };
}

const pad = gatherOp<PadAttributes>({
  opType: 'Pad',
  parseAttributes: ctx => {
    const a = new Attributes(ctx.node);
    const mode = a.string('mode', 'constant');
    if (!PAD_MODES.includes(mode)) {
      throw a.invalid('mode', `must be one of ${PAD_MODES.join(', ')}, got '${mode}'`);
    }
    return {
      mode: mode as PadMode,
      pads: intList(ctx, ctx.opset < 2 ? 'paddings' : 'pads', 11, 1),
      axes: listInput(ctx, 18, 3),
      value: ctx.opset < 11 ? a.float('value', 0) : undefined
    };
  },
  hostInputs: a => [...listInputs(a.pads, a.axes), ...(a.value === undefined ? [2] : [])],
  inferTypes: (inputs, a) => {
    const x = inputs[0]!;
    if (!x.shape) {
      return [{ dtype: x.dtype }];
    }
    const rank = x.shape.length;
    const pads = knownNumbers(inferList(a.pads, inputs));
    const axes = inferList(a.axes, inputs);
    if (!pads || axes === null || (axes && !knownNumbers(axes))) {
      return [{ dtype: x.dtype, shape: unknownDims(rank) }];
    }
    const full = padsForAllAxes(pads, rank, knownNumbers(axes));
    const shape = x.shape.map((d, axis) => {
      const added = full[axis] + full[axis + rank];
      return typeof d === 'number' ? d + added : added === 0 ? d : null;
    });
    return [{ dtype: x.dtype, shape }];
  },
  gather: (x, host, a) => {
    const pads = readList(a.pads, host);
    if (!pads) {
      throw new Error('pads are required');
    }
    const full = padsForAllAxes(pads, x.shape.length, readList(a.axes, host));
    return padStep(x.shape, full, a.mode, padValue(x.dtype, host, a));
  }
});

/** Pad's constant as a scalar of the data's type. */
function padValue(
  dtype: DataType,
  host: readonly (Tensor | undefined)[],
  a: PadAttributes
): Tensor {
  const given = host[2];
  if (a.value === undefined && given && given.size > 0) {
    return given.dtype === dtype ? given.reshape([]) : Tensor.scalar(dtype, given.toNumbers()[0]);
  }
  return Tensor.scalar(dtype, a.value ?? 0);
}

// --- Tile -----------------------------------------------------------------------------------

function tileRepeats(rank: number, host: readonly (Tensor | undefined)[]): number[] {
  const repeats = host[1]?.toIntegers();
  if (!repeats || repeats.length !== rank || repeats.some(r => r < 0)) {
    throw new Error(`repeats must be ${rank} non-negative integers, got [${repeats ?? ''}]`);
  }
  return repeats;
}

const tile = gatherOp<Record<string, never>>({
  opType: 'Tile',
  sinceVersion: 6,
  parseAttributes: () => ({}),
  hostInputs: () => [1],
  inferTypes: ([x, repeatsInput]) => {
    const repeats = knownNumbers(valueElements(repeatsInput));
    if (x!.shape && repeats && repeats.length !== x!.shape.length) {
      throw new Error(`repeats has ${repeats.length} elements for rank ${x!.shape.length}`);
    }
    const shape =
      x!.shape &&
      x!.shape.map((d, axis) =>
        !repeats ? null : typeof d === 'number' ? d * repeats[axis] : repeats[axis] === 1 ? d : null
      );
    return [{ dtype: x!.dtype, shape }];
  },
  gather: (x, host) => {
    const repeats = tileRepeats(x.shape.length, host);
    const strides = stridesOf(x.shape);
    const outShape = x.shape.map((d, axis) => d * repeats[axis]);
    // Tiling is wrap padding with nothing in front.
    const reads = x.shape.map((length, axis): AxisRead => ({
      stride: strides[axis],
      start: 0,
      shift: 0,
      length,
      mode: 'wrap'
    }));
    return { plan: { shape: outShape, reads }, outShape };
  }
});

// --- Concat / Split: block copies along an axis ----------------------------------------------

/**
 * Copies `count` consecutive slices along an axis, in each of `outer` blocks, from
 * position `from` of the source's axis (of `fromLength`) to position `to` of the
 * destination's axis (of `toLength`); `inner` elements follow the axis.
 */
interface AxisCopy {
  outer: number;
  inner: number;
  count: number;
  from: number;
  fromLength: number;
  to: number;
  toLength: number;
}

function copyAlongAxisCpu(source: Tensor, destination: Tensor, copy: AxisCopy): void {
  const src = source.data as Elements;
  const dst = destination.data as Elements;
  const { outer, inner, count } = copy;
  for (let o = 0; o < outer; o++) {
    for (let a = 0; a < count; a++) {
      const from = (o * copy.fromLength + copy.from + a) * inner;
      const to = (o * copy.toLength + copy.to + a) * inner;
      for (let i = 0; i < inner; i++) {
        dst[to + i] = src[from + i];
      }
    }
  }
}

function copyAlongAxisGpu(
  ctx: KernelContext,
  label: string,
  source: GpuTensor,
  destination: GpuTensor,
  copy: AxisCopy
): void {
  const { outer, inner, count } = copy;
  const body = `
  let o = index / ${count * inner}u;
  let a = (index / ${inner}u) % ${count}u;
  let i = index % ${inner}u;
  dst[(o * ${copy.toLength}u + ${copy.to}u + a) * ${inner}u + i] =
      ${movedElement(source, destination, `src[(o * ${copy.fromLength}u + ${copy.from}u + a) * ${inner}u + i]`)};`;
  const total = outer * count * inner;
  const code = [bindings([['src', source]], [['dst', destination]]), linearMain(total, body)].join(
    '\n'
  );
  dispatchOver(ctx, label, code, [source, destination], total);
}

/** A shape split around `axis` into the element counts before and after it. */
function aroundAxis(shape: readonly number[], axis: number): { outer: number; inner: number } {
  return { outer: sizeOf(shape.slice(0, axis)), inner: sizeOf(shape.slice(axis + 1)) };
}

/** The sum of dims along Concat's axis: a symbol survives only beside zeros. */
function dimSum(dims: readonly Dim[]): Dim {
  const numbers = dims.filter((d): d is number => typeof d === 'number');
  const total = numbers.reduce((s, d) => s + d, 0);
  const others = dims.filter(d => typeof d !== 'number');
  if (others.length === 0) {
    return total;
  }
  return others.length === 1 && total === 0 ? others[0] : null;
}

/** Concat's output dims; inputs of unknown shape leave their contribution unknown. */
function concatDims(
  shapes: readonly (readonly Dim[] | undefined)[],
  axisAttribute: number
): Dim[] | undefined {
  const known = shapes.filter((s): s is readonly Dim[] => s !== undefined);
  if (known.length === 0) {
    return undefined;
  }
  const rank = known[0].length;
  const axis = normalizeAxis(axisAttribute, rank);
  if (known.some(s => s.length !== rank)) {
    throw new Error(`inputs have ranks ${known.map(s => s.length).join(', ')}; they must agree`);
  }
  return known[0].map((_, d) => {
    if (d === axis) {
      return known.length === shapes.length ? dimSum(known.map(s => s[axis])) : null;
    }
    const dims = known.map(s => s[d]);
    const numbers = new Set(dims.filter(v => typeof v === 'number'));
    if (numbers.size > 1) {
      throw new Error(`inputs differ in dim ${d} (${[...numbers].join(' vs ')})`);
    }
    return numbers.size ? [...numbers][0] : (dims.find(v => v !== null) ?? null);
  });
}

interface ConcatPlan {
  outShape: number[];
  copies: AxisCopy[];
}

function concatPlan(shapes: readonly (readonly number[])[], axisAttribute: number): ConcatPlan {
  const outShape = concatDims(shapes, axisAttribute) as number[];
  const axis = normalizeAxis(axisAttribute, outShape.length);
  const { outer, inner } = aroundAxis(outShape, axis);
  let to = 0;
  const copies = shapes.map(shape => {
    const count = shape[axis];
    const copy = { outer, inner, count, from: 0, fromLength: count, to, toLength: outShape[axis] };
    to += count;
    return copy;
  });
  return { outShape, copies };
}

const concat: OpDefinition<{ axis: number }> = {
  opType: 'Concat',
  parseAttributes: ({ node, opset }) => {
    const a = new Attributes(node);
    // Opsets before 4 concatenate along 1 by default; later ones require the axis.
    const axis = a.int('axis') ?? (opset < 4 ? 1 : undefined);
    if (axis === undefined) {
      throw a.invalid('axis', 'is required');
    }
    return { axis };
  },
  inferTypes: (inputs, a) => {
    const present = inputs.filter((i): i is InferInput => i !== undefined);
    const dtype = present[0].dtype;
    if (present.some(i => i.dtype !== dtype)) {
      throw new Error(`inputs must share one type, got ${present.map(i => i.dtype).join(', ')}`);
    }
    const shape = concatDims(
      present.map(i => i.shape),
      a.axis
    );
    const parts = present.map(valueElements);
    if (shape?.length === 1 && isConcrete(shape) && parts.every(p => p)) {
      return [
        elementsType(
          dtype,
          shape,
          parts.flatMap(p => p!)
        )
      ];
    }
    return [{ dtype, shape }];
  },
  cpu: (inputs, a) => {
    const present = inputs.filter((t): t is Tensor => t !== undefined);
    const { outShape, copies } = concatPlan(
      present.map(t => t.shape),
      a.axis
    );
    const out = new Tensor(present[0].dtype, outShape);
    present.forEach((t, i) => copyAlongAxisCpu(t, out, copies[i]));
    return [out];
  },
  webgpu: {
    halfStorage: true,
    unsupported: movesAnyStorage,
    run: (ctx, inputs, _host, a) => {
      const present = inputs.filter((t): t is GpuTensor => t !== undefined);
      const { outShape, copies } = concatPlan(
        present.map(t => t.shape),
        a.axis
      );
      const out = ctx.allocate(present[0].dtype, outShape);
      present.forEach((t, i) => copyAlongAxisGpu(ctx, 'Concat', t, out, copies[i]));
      return [out];
    }
  }
};

interface SplitAttributes {
  axis: number;
  split: IntList;
  /** Opset 18's count of equal parts (the last may be smaller). */
  numOutputs?: number;
  outputs: number;
}

/** The size of each part along the axis. */
function splitSizes(dim: number, split: number[] | undefined, a: SplitAttributes): number[] {
  if (split && split.length > 0) {
    if (split.length !== a.outputs || split.some(s => s < 0)) {
      throw new Error(`split [${split.join(', ')}] must give ${a.outputs} non-negative sizes`);
    }
    if (split.reduce((s, v) => s + v, 0) !== dim) {
      throw new Error(`split [${split.join(', ')}] does not add up to the axis size ${dim}`);
    }
    return split;
  }
  const parts = a.numOutputs ?? a.outputs;
  if (a.numOutputs === undefined && dim % parts !== 0) {
    throw new Error(`axis size ${dim} does not split into ${parts} equal parts`);
  }
  const chunk = Math.ceil(dim / parts);
  return Array.from({ length: parts }, (_, i) => Math.max(0, Math.min(chunk, dim - i * chunk)));
}

/** The parts' sizes during inference, unknown where the sizes or the dim are. */
function splitDims(dim: Dim, given: Dim[] | null | undefined, a: SplitAttributes): Dim[] {
  const known = knownNumbers(given);
  if (given === null || (given && !known)) {
    return unknownDims(a.outputs);
  }
  if (typeof dim === 'number') {
    return splitSizes(dim, known, a);
  }
  return known?.length ? known : unknownDims(a.outputs);
}

function splitPlan(shape: readonly number[], split: number[] | undefined, a: SplitAttributes) {
  const axis = normalizeAxis(a.axis, shape.length);
  const { outer, inner } = aroundAxis(shape, axis);
  let from = 0;
  return splitSizes(shape[axis], split, a).map(count => {
    const outShape = shape.map((d, i) => (i === axis ? count : d));
    const copy = { outer, inner, count, from, fromLength: shape[axis], to: 0, toLength: count };
    from += count;
    return { outShape, copy };
  });
}

const split: OpDefinition<SplitAttributes> = {
  opType: 'Split',
  parseAttributes: ctx => {
    const a = new Attributes(ctx.node);
    const numOutputs = ctx.opset >= 18 ? a.int('num_outputs') : undefined;
    const outputs = ctx.node.outputs.length;
    if (numOutputs !== undefined && numOutputs !== outputs) {
      throw a.invalid('num_outputs', `is ${numOutputs}, but the node has ${outputs} outputs`);
    }
    return { axis: a.int('axis', 0), split: intList(ctx, 'split', 13, 1), numOutputs, outputs };
  },
  hostInputs: a => listInputs(a.split),
  inferTypes: (inputs, a) => {
    const x = inputs[0]!;
    const shape = x.shape;
    if (!shape) {
      return Array.from({ length: a.outputs }, () => ({ dtype: x.dtype }));
    }
    const axis = normalizeAxis(a.axis, shape.length);
    const sizes = splitDims(shape[axis], inferList(a.split, inputs), a);
    return sizes.map(size => ({
      dtype: x.dtype,
      shape: shape.map((d, i) => (i === axis ? size : d))
    }));
  },
  cpu: (inputs, a) => {
    const x = inputs[0]!;
    return splitPlan(x.shape, readList(a.split, inputs), a).map(({ outShape, copy }) => {
      const out = new Tensor(x.dtype, outShape);
      copyAlongAxisCpu(x, out, copy);
      return out;
    });
  },
  webgpu: {
    halfStorage: true,
    unsupported: movesAnyStorage,
    run: (ctx, [x], host, a) =>
      splitPlan(x!.shape, readList(a.split, host), a).map(({ outShape, copy }) => {
        const out = ctx.allocate(x!.dtype, outShape);
        copyAlongAxisGpu(ctx, 'Split', x!, out, copy);
        return out;
      })
  }
};

// --- Gather / GatherElements -------------------------------------------------------------------

/** Indices checked against an axis of `size`, negative ones counted from the back. */
function normalizeIndices(indices: Tensor, size: number): number[] {
  return indices.toIntegers().map(i => {
    if (i < -size || i >= size) {
      throw new Error(`index ${i} is out of range for an axis of size ${size}`);
    }
    return i < 0 ? i + size : i;
  });
}

/**
 * WGSL for index `k` read from the i32 `indices` binding at `at`, wrapped when negative
 * and clamped into the axis (an out-of-range index, an error on the CPU, cannot read
 * outside the buffer).
 */
function wgslIndex(at: string, size: number): string {
  return `  let given = indices[${at}];
  let k = u32(clamp(select(given, given + ${size}, given < 0), 0, ${Math.max(size - 1, 0)}));`;
}

function gatherDims(data: readonly Dim[], indices: readonly Dim[], axis: number): Dim[] {
  return [...data.slice(0, axis), ...indices, ...data.slice(axis + 1)];
}

const gather: OpDefinition<{ axis: number }> = {
  opType: 'Gather',
  parseAttributes: ({ node }) => ({ axis: new Attributes(node).int('axis', 0) }),
  inferTypes: ([data, indices], a) => {
    if (!data!.shape || !indices!.shape) {
      return [{ dtype: data!.dtype }];
    }
    const axis = normalizeAxis(a.axis, data!.shape.length);
    const shape = gatherDims(data!.shape, indices!.shape, axis);
    const elements = valueElements(data);
    const picks = indices!.value && indices!.value.rank <= 1 ? indices!.value : undefined;
    if (elements && picks && data!.shape.length === 1 && isConcrete(shape)) {
      const picked = normalizeIndices(picks, elements.length).map(i => elements[i]);
      return [elementsType(data!.dtype, shape, picked)];
    }
    return [{ dtype: data!.dtype, shape }];
  },
  cpu: ([data, indices], a) => {
    const axis = normalizeAxis(a.axis, data!.rank);
    const size = data!.shape[axis];
    const picks = normalizeIndices(indices!, size);
    const { outer, inner } = aroundAxis(data!.shape, axis);
    const from = new Int32Array(outer * picks.length * inner);
    let o = 0;
    for (let block = 0; block < outer; block++) {
      for (const k of picks) {
        for (let i = 0; i < inner; i++) {
          from[o++] = (block * size + k) * inner + i;
        }
      }
    }
    return [takeElements(data!, gatherDims(data!.shape, indices!.shape, axis) as number[], from)];
  },
  webgpu: {
    halfStorage: true,
    unsupported: movesAnyStorage,
    run: (ctx, [data, indices], _host, a) => {
      const axis = normalizeAxis(a.axis, data!.shape.length);
      const size = data!.shape[axis];
      const { inner } = aroundAxis(data!.shape, axis);
      const out = ctx.allocate(
        data!.dtype,
        gatherDims(data!.shape, indices!.shape, axis) as number[]
      );
      const count = indices!.size;
      const body = `
  let block = index / ${count * inner}u;
  let j = (index / ${inner}u) % ${count}u;
  let i = index % ${inner}u;
${wgslIndex('j', size)}
  out[index] = ${movedElement(data!, out, `data[(block * ${size}u + k) * ${inner}u + i]`)};`;
      gatherOnGpu(ctx, 'Gather', data!, indices!, out, body);
      return [out];
    }
  }
};

/** One invocation per output element of a gather: `body` reads `data` at `indices`. */
function gatherOnGpu(
  ctx: KernelContext,
  label: string,
  data: GpuTensor,
  indices: GpuTensor,
  out: GpuTensor,
  body: string
): void {
  const code = [
    bindings(
      [
        ['data', data],
        ['indices', indices]
      ],
      [['out', out]]
    ),
    linearMain(out.size, body)
  ].join('\n');
  dispatchOver(ctx, label, code, [data, indices, out]);
}

function checkGatherElements(data: readonly Dim[], indices: readonly Dim[], axis: number): void {
  if (data.length !== indices.length) {
    throw new Error(
      `data (rank ${data.length}) and indices (rank ${indices.length}) must share a rank`
    );
  }
  normalizeAxis(axis, data.length);
}

const gatherElements: OpDefinition<{ axis: number }> = {
  opType: 'GatherElements',
  parseAttributes: ({ node }) => ({ axis: new Attributes(node).int('axis', 0) }),
  inferTypes: ([data, indices], a) => {
    if (data!.shape && indices!.shape) {
      checkGatherElements(data!.shape, indices!.shape, a.axis);
    }
    return [{ dtype: data!.dtype, shape: indices!.shape }];
  },
  cpu: ([data, indices], a) => {
    checkGatherElements(data!.shape, indices!.shape, a.axis);
    const axis = normalizeAxis(a.axis, data!.rank);
    const strides = stridesOf(data!.shape);
    const picks = normalizeIndices(indices!, data!.shape[axis]);
    const from = mapCoordinates(indices!.shape, (coords, flat) => {
      let offset = 0;
      coords.forEach((c, d) => (offset += (d === axis ? picks[flat] : c) * strides[d]));
      return offset;
    });
    return [takeElements(data!, indices!.shape, from)];
  },
  webgpu: {
    halfStorage: true,
    unsupported: movesAnyStorage,
    run: (ctx, [data, indices], _host, a) => {
      checkGatherElements(data!.shape, indices!.shape, a.axis);
      const axis = normalizeAxis(a.axis, data!.shape.length);
      const strides = stridesOf(data!.shape);
      const out = ctx.allocate(data!.dtype, indices!.shape);
      const offset = strides
        .map((stride, d) => `${d === axis ? 'k' : `c${d}`} * ${stride}u`)
        .join(' + ');
      const body = [
        coordinates('index', indices!.shape, 'c'),
        wgslIndex('index', data!.shape[axis]),
        `  out[index] = ${movedElement(data!, out, `data[${offset || '0u'}]`)};`
      ].join('\n');
      gatherOnGpu(ctx, 'GatherElements', data!, indices!, out, body);
      return [out];
    }
  }
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const definitions: OpDefinition<any>[] = [
  transpose,
  concat,
  split,
  slice,
  gather,
  gatherElements,
  pad,
  tile,
  depthToSpace,
  spaceToDepth
];

export const layoutOps = definitions.map(withNodeErrors);
