/**
 * Shape ops: views that change a tensor's shape but not its elements (Reshape, Flatten,
 * Squeeze, Unsqueeze, Identity, Dropout at inference), the queries Shape and Size, and
 * the generators Expand, ConstantOfShape, Range and EyeLike.
 *
 * Also what the data-layout ops (layout.ts) share with them: axis checks, integer lists
 * that moved from attributes to inputs, symbolic shape values, and element gathers whose
 * CPU reference and WGSL kernel are generated from one plan.
 */
import { DataType, dataTypeFromOnnx } from '../ir/dtype';
import { Dim, Node } from '../ir/graph';
import { sizeOf, stridesOf, Tensor } from '../ir/tensor';
import { GpuTensor, KernelContext, storageType, tensorStorage } from '../kernels/context';
import {
  bindings,
  coordinates,
  linearGrid,
  linearMain,
  readFloat,
  storageLiteral,
  writeFloat
} from '../kernels/wgsl';
import { Attributes } from './attributes';
import { broadcastShapes } from './broadcast';
import {
  InferInput,
  OpContext,
  OpDefinition,
  OpError,
  UnsupportedOpError,
  WebGpuKernel
} from './types';

// --- axes and integer-list operands -------------------------------------------------

/** `axis` counted from the end when negative, checked against `rank`. */
export function normalizeAxis(axis: number, rank: number, what = 'axis'): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new Error(`${what} ${axis} is out of range for rank ${rank}`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** Each axis normalized against `rank`; a repeated axis is an error. */
export function normalizeAxes(axes: readonly number[], rank: number, what = 'axes'): number[] {
  const normalized = axes.map(axis => normalizeAxis(axis, rank, what));
  if (new Set(normalized).size !== normalized.length) {
    throw new Error(`${what} [${axes.join(', ')}] repeat an axis`);
  }
  return normalized;
}

/**
 * An integer list that moved from an attribute to an input between opsets (Squeeze
 * axes, Split sizes, Pad pads, Slice starts, ...): the attribute's value, or the index
 * of the input that carries it on the host.
 */
export type IntList = { attribute?: number[] } | { input: number };

export function intList(ctx: OpContext, name: string, inputSince: number, input: number): IntList {
  return ctx.opset >= inputSince ? { input } : { attribute: new Attributes(ctx.node).ints(name) };
}

/** A list that only exists as input `input` from opset `since` on (omitted before). */
export function listInput(ctx: OpContext, since: number, input: number): IntList {
  return ctx.opset >= since ? { input } : {};
}

/** The inputs a set of lists reads, for `hostInputs`. */
export function listInputs(...lists: IntList[]): number[] {
  return lists.flatMap(list => ('input' in list ? [list.input] : []));
}

/** The list's integers at run time; undefined when the optional list was omitted. */
export function readList(
  list: IntList,
  inputs: readonly (Tensor | undefined)[]
): number[] | undefined {
  return 'input' in list ? inputs[list.input]?.toIntegers() : list.attribute;
}

/**
 * The list during inference: its elements (symbols where only those are known),
 * undefined when it was omitted, null when it is computed at run time.
 */
export function inferList(
  list: IntList,
  inputs: readonly (InferInput | undefined)[]
): Dim[] | null | undefined {
  if (!('input' in list)) {
    return list.attribute;
  }
  const input = inputs[list.input];
  return input ? (valueElements(input) ?? null) : undefined;
}

/** A list's elements when all are known numbers, else undefined. */
export function knownNumbers(elements: Dim[] | null | undefined): number[] | undefined {
  return elements && elements.every(d => typeof d === 'number')
    ? (elements as number[])
    : undefined;
}

// --- symbolic shape values ------------------------------------------------------------

/** The elements of a constant or symbolically known scalar / 1-D value. */
export function valueElements(input: InferInput | undefined): Dim[] | undefined {
  if (input?.value && input.value.rank <= 1) {
    return input.value.toIntegers();
  }
  return input?.symbolicValue;
}

/**
 * The type of a scalar or 1-D integer value with these elements: a constant when all
 * are numbers, otherwise a value known symbolically.
 */
export function elementsType(dtype: DataType, shape: number[], elements: Dim[]): InferInput {
  const numbers = knownNumbers(elements);
  return numbers
    ? { dtype, shape, value: Tensor.fromNumbers(dtype, shape, numbers) }
    : { dtype, shape, symbolicValue: elements };
}

export function unknownDims(rank: number): Dim[] {
  return new Array<Dim>(rank).fill(null);
}

/** The dims a 1-D shape input stands for: its elements, or as many unknown dims as it has. */
export function shapeInputDims(input: InferInput | undefined): Dim[] | undefined {
  const rank = input?.shape?.[0];
  return valueElements(input) ?? (typeof rank === 'number' ? unknownDims(rank) : undefined);
}

/** The product of dims: a number when all are, the one symbol when the rest are 1, else null. */
export function dimProduct(dims: readonly Dim[]): Dim {
  let product = 1;
  const symbols: Dim[] = [];
  for (const d of dims) {
    if (typeof d === 'number') {
      product *= d;
    } else {
      symbols.push(d);
    }
  }
  if (symbols.length === 0 || product === 0) {
    return product;
  }
  return symbols.length === 1 && product === 1 ? symbols[0] : null;
}

/** Whether every dim is a known size. */
export function isConcrete(shape: readonly Dim[] | undefined): shape is number[] {
  return shape !== undefined && shape.every(d => typeof d === 'number');
}

// --- element gathers: one plan, a CPU reference and a WGSL kernel ------------------------

/** Any tensor storage indexed without caring whether its elements are numbers or BigInts. */
export type Elements = { [index: number]: number | bigint };

export type PadMode = 'constant' | 'edge' | 'reflect' | 'wrap';

/**
 * How one axis of a gather reads its source: the source coordinate, as a function of
 * the output coordinate c, times `stride` (the source stride of the axis it walks).
 *   step:  start + c·step                               (Transpose, Slice, Expand)
 *   pad:   start + t mapped into [0, length) by `mode`,  (Pad, Tile)
 *          where t = c − shift; 'constant' reads the fill value outside
 */
export type AxisRead =
  | { stride: number; start: number; step: number }
  | { stride: number; start: number; shift: number; length: number; mode: PadMode };

/** A gather that walks `shape` (the output's elements in order) reading one source. */
export interface GatherPlan {
  shape: readonly number[];
  reads: readonly AxisRead[];
}

/** Where `t` lands in [0, length) under a pad mode; -1 outside for 'constant'. */
function padCoordinate(t: number, length: number, mode: PadMode): number {
  if (t >= 0 && t < length) {
    return t;
  }
  switch (mode) {
    case 'constant':
      return -1;
    case 'edge':
      return t < 0 ? 0 : length - 1;
    case 'wrap':
      return ((t % length) + length) % length;
    case 'reflect': {
      if (length === 1) {
        return 0;
      }
      const period = 2 * (length - 1);
      const m = ((t % period) + period) % period;
      return m < length ? m : period - m;
    }
  }
}

function sourceCoordinate(read: AxisRead, c: number): number {
  if ('step' in read) {
    return read.start + c * read.step;
  }
  const t = padCoordinate(c - read.shift, read.length, read.mode);
  return t < 0 ? -1 : read.start + t;
}

/** For each element of `shape` in row-major order, `offsetOf` of its coordinates. */
export function mapCoordinates(
  shape: readonly number[],
  offsetOf: (coords: readonly number[], flat: number) => number
): Int32Array {
  const size = sizeOf(shape);
  const out = new Int32Array(size);
  const coords = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < size; i++) {
    out[i] = offsetOf(coords, i);
    for (let axis = shape.length - 1; axis >= 0; axis--) {
      if (++coords[axis] < shape[axis]) {
        break;
      }
      coords[axis] = 0;
    }
  }
  return out;
}

/**
 * A tensor of `shape` whose element i is `source`'s element `from[i]`, or `fill`'s only
 * element where `from[i]` is negative. Copies storage as is, so any dtype works.
 */
export function takeElements(
  source: Tensor,
  shape: readonly number[],
  from: ArrayLike<number>,
  fill?: Tensor
): Tensor {
  const out = new Tensor(source.dtype, shape);
  const src = source.data as Elements;
  const dst = out.data as Elements;
  const fillValue = fill ? (fill.data as Elements)[0] : undefined;
  for (let i = 0; i < from.length; i++) {
    dst[i] = from[i] < 0 ? fillValue! : src[from[i]];
  }
  return out;
}

export function gatherCpu(
  source: Tensor,
  plan: GatherPlan,
  outShape: readonly number[],
  fill?: Tensor
): Tensor {
  const from = mapCoordinates(plan.shape, coords => {
    let offset = 0;
    for (let axis = 0; axis < coords.length; axis++) {
      const read = plan.reads[axis];
      const s = sourceCoordinate(read, coords[axis]);
      if (s < 0) {
        return -1;
      }
      offset += s * read.stride;
    }
    return offset;
  });
  return takeElements(source, outShape, from, fill);
}

const WGSL_PAD_MODES: Record<Exclude<PadMode, 'constant'>, string> = {
  edge: `
fn pad_edge(t: i32, length: i32) -> i32 {
  return clamp(t, 0, length - 1);
}`,
  wrap: `
fn pad_wrap(t: i32, length: i32) -> i32 {
  return ((t % length) + length) % length;
}`,
  reflect: `
fn pad_reflect(t: i32, length: i32) -> i32 {
  if (length == 1) {
    return 0;
  }
  let period = 2 * (length - 1);
  let m = ((t % period) + period) % period;
  return select(period - m, m, m < length);
}`
};

/** The gather of `plan` on the GPU into a new tensor of `outShape` (same element count). */
export function gatherGpu(
  ctx: KernelContext,
  label: string,
  source: GpuTensor,
  plan: GatherPlan,
  outShape: readonly number[],
  fill = 0
): GpuTensor {
  const out = ctx.allocate(source.dtype, outShape);
  const lines = [coordinates('index', plan.shape, 'c')];
  const terms: string[] = [];
  const inside: string[] = [];
  const helpers = new Set<string>();
  plan.reads.forEach((read, axis) => {
    const s = `s${axis}`;
    if ('step' in read) {
      lines.push(`  let ${s} = ${read.start} + i32(c${axis}) * ${read.step};`);
    } else {
      lines.push(`  let t${axis} = i32(c${axis}) - ${read.shift};`);
      if (read.mode === 'constant') {
        inside.push(`t${axis} >= 0 && t${axis} < ${read.length}`);
        lines.push(`  let ${s} = ${read.start} + t${axis};`);
      } else {
        helpers.add(WGSL_PAD_MODES[read.mode]);
        lines.push(`  let ${s} = ${read.start} + pad_${read.mode}(t${axis}, ${read.length});`);
      }
    }
    if (read.stride !== 0) {
      terms.push(`${s} * ${read.stride}`);
    }
  });
  // Outside a constant pad the load reads out of bounds, which WebGPU makes harmless
  // (reads are clamped to the buffer); select then keeps the fill value.
  const load = movedElement(source, out, `source[u32(${terms.join(' + ') || '0'})]`);
  const fillValue = writeFloat(out, storageLiteral(source.dtype, fill));
  lines.push(
    inside.length
      ? `  out[index] = select(${fillValue}, ${load}, ${inside.join(' && ')});`
      : `  out[index] = ${load};`
  );
  const code = [
    bindings([['source', source]], [['out', out]]),
    ...helpers,
    linearMain(out.size, lines.join('\n'))
  ].join('\n');
  dispatchOver(ctx, label, code, [source, out]);
  return out;
}

/** Dispatches `code` (a linearMain over the last binding's elements) unless that is empty. */
export function dispatchOver(
  ctx: KernelContext,
  label: string,
  code: string,
  tensors: GpuTensor[],
  count = tensors[tensors.length - 1].size
): void {
  if (count > 0) {
    ctx.dispatch({ label, code, bindings: tensors, workgroups: linearGrid(count) });
  }
}

/** A new tensor whose every element is the WGSL `expression` of `index` and coordinates c*. */
function generateGpu(
  ctx: KernelContext,
  label: string,
  dtype: DataType,
  shape: readonly number[],
  expression: string
): GpuTensor {
  const out = ctx.allocate(dtype, shape);
  const body = [
    coordinates('index', shape, 'c'),
    `  out[index] = ${writeFloat(out, expression)};`
  ].join('\n');
  const code = [bindings([], [['out', out]]), linearMain(out.size, body)].join('\n');
  dispatchOver(ctx, label, code, [out]);
  return out;
}

/** Reads along every axis in order: the plan of a plain copy, to build variants on. */
export function identityReads(shape: readonly number[]): AxisRead[] {
  const strides = stridesOf(shape);
  return shape.map((_, axis) => ({ stride: strides[axis], start: 0, step: 1 }));
}

// --- kernels shared by the ops that move elements ----------------------------------------

/**
 * What a kernel that moves elements stores into `target` for the element `access` of
 * `source`: the element itself when both have one storage type, else converted through
 * f32 (float16 between f16 and f32 storage).
 */
export function movedElement(source: GpuTensor, target: GpuTensor, access: string): string {
  return tensorStorage(source) === tensorStorage(target)
    ? access
    : writeFloat(target, readFloat(source, access));
}

/**
 * `unsupported` for kernels that move elements without arithmetic: any type with 32-bit
 * GPU storage runs, on the inputs the kernel reads on the device.
 */
export function movesAnyStorage(inputs: (DataType | undefined)[]): string | null {
  const other = inputs.find(d => d !== undefined && !storageType(d));
  return other ? `${other} has no 32-bit GPU storage` : null;
}

/** A GPU kernel that views its first input under the output shape the reference computes. */
function viewKernel<A>(
  outputShape: (x: GpuTensor, host: (Tensor | undefined)[], attrs: A) => number[]
): WebGpuKernel<A> {
  return {
    halfStorage: true,
    unsupported: movesAnyStorage,
    run: (ctx, [x], host, attrs) => [ctx.view(x!, outputShape(x!, host, attrs))]
  };
}

/** What a gather op knows of its data input when it plans: a host or a GPU tensor. */
export interface GatherSource {
  readonly dtype: DataType;
  readonly shape: readonly number[];
}

export interface GatherStep {
  plan: GatherPlan;
  outShape: number[];
  /** The value read outside the source (Pad's constant), of the source's dtype. */
  fill?: Tensor;
}

/**
 * An op that gathers one input's elements by a plan (Transpose, Slice, Pad, Tile, ...):
 * the reference and the kernel both follow `gather`, so they cannot disagree on indices.
 */
export function gatherOp<A>(
  spec: Omit<OpDefinition<A>, 'cpu' | 'webgpu'> & {
    gather(x: GatherSource, host: readonly (Tensor | undefined)[], attrs: A): GatherStep;
  }
): OpDefinition<A> {
  const { gather, ...definition } = spec;
  return {
    ...definition,
    cpu: (inputs, attrs) => {
      const x = inputs[0]!;
      const step = gather(x, inputs, attrs);
      return [gatherCpu(x, step.plan, step.outShape, step.fill)];
    },
    webgpu: {
      halfStorage: true,
      unsupported: movesAnyStorage,
      run: (ctx, [x], host, attrs) => {
        const step = gather(x!, host, attrs);
        const fill = step.fill?.toNumbers()[0];
        return [gatherGpu(ctx, spec.opType, x!, step.plan, step.outShape, fill)];
      }
    }
  };
}

/**
 * The op with errors of its reference raised as OpErrors naming the node (shape
 * inference and the GPU executor name it for the other entry points).
 */
export function withNodeErrors<A>(op: OpDefinition<A>): OpDefinition<A> {
  return {
    ...op,
    cpu: (inputs, attrs, ctx) => {
      try {
        return op.cpu(inputs, attrs, ctx);
      } catch (error) {
        throw error instanceof OpError ? error : new OpError(ctx.node, (error as Error).message);
      }
    }
  };
}

function sameAsInput(inputs: (InferInput | undefined)[]): InferInput[] {
  const x = inputs[0]!;
  return [{ dtype: x.dtype, shape: x.shape, symbolicValue: x.symbolicValue }];
}

/** A value with these elements under a new shape of the same size (a scalar ↔ [1] move). */
function reshapedElements(input: InferInput, shape: Dim[] | undefined): InferInput {
  const type: InferInput = { dtype: input.dtype, shape };
  const elements = input.symbolicValue;
  if (elements && isConcrete(shape) && shape.length <= 1 && sizeOf(shape) === elements.length) {
    type.symbolicValue = elements;
  }
  return type;
}

// --- Reshape ------------------------------------------------------------------------------

interface ReshapeAttributes {
  shape: IntList;
  allowZero: boolean;
}

/**
 * Reshape's output dims: 0 copies the input dim (unless allowzero), -1 takes what is
 * left. Symbols cancel where they appear on both sides, so [batch, seq, 768] → [batch,
 * -1, 12, 64] gives [batch, seq, 12, 64]; what cannot be told becomes null.
 */
export function reshapeDims(
  input: readonly Dim[] | undefined,
  target: readonly Dim[],
  allowZero: boolean
): Dim[] {
  const out = target.map((d, axis) => {
    if (d !== 0 || allowZero) {
      return d;
    }
    if (input && axis >= input.length) {
      throw new Error(
        `shape ${dimsText(target)} copies dim ${axis}, beyond input rank ${input.length}`
      );
    }
    return input ? input[axis] : null;
  });
  const inferred = target.indexOf(-1);
  if (target.some(d => typeof d === 'number' && d < -1) || target.lastIndexOf(-1) !== inferred) {
    throw new Error(`shape ${dimsText(target)} has a negative dim other than one -1`);
  }
  if (inferred >= 0 && allowZero && target.includes(0)) {
    throw new Error(`shape ${dimsText(target)} has both 0 and -1 with allowzero`);
  }
  if (inferred >= 0) {
    out[inferred] = input
      ? quotient(
          input,
          out.filter((_, axis) => axis !== inferred),
          target
        )
      : null;
  } else if (isConcrete(input) && isConcrete(out) && sizeOf(input) !== sizeOf(out)) {
    throw new Error(
      `cannot reshape ${dimsText(input)} (${sizeOf(input)} elements) to ${dimsText(target)}`
    );
  }
  return out;
}

/** prod(numerator) / prod(denominator) with symbols cancelled, for Reshape's -1. */
function quotient(
  numerator: readonly Dim[],
  denominator: readonly Dim[],
  target: readonly Dim[]
): Dim {
  const symbols = numerator.filter(d => typeof d !== 'number');
  let num = 1;
  let den = 1;
  for (const d of numerator) {
    num *= typeof d === 'number' ? d : 1;
  }
  for (const d of denominator) {
    if (typeof d === 'number') {
      den *= d;
      continue;
    }
    const match = d === null ? -1 : symbols.indexOf(d);
    if (match < 0) {
      return null;
    }
    symbols.splice(match, 1);
  }
  if (symbols.length > 0) {
    const [symbol] = symbols;
    return symbols.length === 1 && symbol !== null && den !== 0 && num === den ? symbol : null;
  }
  if (den === 0 || num % den !== 0) {
    throw new Error(`cannot reshape ${dimsText(numerator)} to ${dimsText(target)}`);
  }
  return num / den;
}

function dimsText(dims: readonly Dim[]): string {
  return `[${dims.map(d => (d === null ? '?' : String(d))).join(', ')}]`;
}

function reshapeTarget(
  x: { shape: readonly number[] },
  host: (Tensor | undefined)[],
  a: ReshapeAttributes
): number[] {
  const target = readList(a.shape, host);
  if (!target) {
    throw new Error('the shape input is missing');
  }
  return reshapeDims(x.shape, target, a.allowZero) as number[];
}

const reshape: OpDefinition<ReshapeAttributes> = {
  opType: 'Reshape',
  parseAttributes: ctx => ({
    shape: intList(ctx, 'shape', 5, 1),
    allowZero: new Attributes(ctx.node).int('allowzero', 0) === 1
  }),
  hostInputs: a => listInputs(a.shape),
  inferTypes: (inputs, a) => {
    const x = inputs[0]!;
    const target = 'input' in a.shape ? shapeInputDims(inputs[a.shape.input]) : a.shape.attribute;
    return [reshapedElements(x, target && reshapeDims(x.shape, target, a.allowZero))];
  },
  cpu: (inputs, a) => [inputs[0]!.reshape(reshapeTarget(inputs[0]!, inputs, a))],
  webgpu: viewKernel(reshapeTarget)
};

// --- Flatten ------------------------------------------------------------------------------

function flattenDims(shape: readonly Dim[], axis: number): Dim[] {
  const split = axis < 0 ? axis + shape.length : axis;
  if (split < 0 || split > shape.length) {
    throw new Error(`axis ${axis} is out of range for rank ${shape.length}`);
  }
  return [dimProduct(shape.slice(0, split)), dimProduct(shape.slice(split))];
}

const flatten: OpDefinition<{ axis: number }> = {
  opType: 'Flatten',
  parseAttributes: ({ node }) => ({ axis: new Attributes(node).int('axis', 1) }),
  inferTypes: ([x], a) => [{ dtype: x!.dtype, shape: x!.shape && flattenDims(x!.shape, a.axis) }],
  cpu: ([x], a) => [x!.reshape(flattenDims(x!.shape, a.axis) as number[])],
  webgpu: viewKernel((x, _host, a) => flattenDims(x.shape, a.axis) as number[])
};

// --- Squeeze / Unsqueeze -------------------------------------------------------------------

interface AxesAttributes {
  axes: IntList;
}

const axesAttributes = (ctx: OpContext): AxesAttributes => ({ axes: intList(ctx, 'axes', 13, 1) });

/**
 * Squeeze's output dims. Without axes every dim of 1 goes; symbols are taken to be
 * other than 1 (as exporters mean them), unknown dims leave the rank unknown.
 */
function squeezeDims(shape: readonly Dim[], axes: number[] | undefined): Dim[] | undefined {
  if (!axes || axes.length === 0) {
    return shape.includes(null) ? undefined : shape.filter(d => d !== 1);
  }
  const removed = normalizeAxes(axes, shape.length);
  for (const axis of removed) {
    const d = shape[axis];
    if (typeof d === 'number' && d !== 1) {
      throw new Error(`cannot squeeze axis ${axis} of size ${d}`);
    }
  }
  return shape.filter((_, axis) => !removed.includes(axis));
}

function unsqueezeDims(shape: readonly Dim[], axes: number[]): Dim[] {
  const rank = shape.length + axes.length;
  const inserted = normalizeAxes(axes, rank);
  const rest = [...shape];
  return Array.from({ length: rank }, (_, axis) => (inserted.includes(axis) ? 1 : rest.shift()!));
}

function requiredAxes(a: AxesAttributes, host: (Tensor | undefined)[]): number[] {
  const axes = readList(a.axes, host);
  if (!axes) {
    throw new Error('axes are required');
  }
  return axes;
}

const squeeze: OpDefinition<AxesAttributes> = {
  opType: 'Squeeze',
  parseAttributes: axesAttributes,
  hostInputs: a => listInputs(a.axes),
  inferTypes: (inputs, a) => {
    const x = inputs[0]!;
    const axes = inferList(a.axes, inputs);
    const shape = x.shape && axes !== null ? squeezeDims(x.shape, knownNumbers(axes)) : undefined;
    return [reshapedElements(x, shape)];
  },
  cpu: (inputs, a) => [
    inputs[0]!.reshape(squeezeDims(inputs[0]!.shape, readList(a.axes, inputs)) as number[])
  ],
  webgpu: viewKernel((x, host, a) => squeezeDims(x.shape, readList(a.axes, host)) as number[])
};

const unsqueeze: OpDefinition<AxesAttributes> = {
  opType: 'Unsqueeze',
  parseAttributes: axesAttributes,
  hostInputs: a => listInputs(a.axes),
  inferTypes: (inputs, a) => {
    const x = inputs[0]!;
    const axes = knownNumbers(inferList(a.axes, inputs));
    return [reshapedElements(x, x.shape && axes ? unsqueezeDims(x.shape, axes) : undefined)];
  },
  cpu: (inputs, a) => [
    inputs[0]!.reshape(unsqueezeDims(inputs[0]!.shape, requiredAxes(a, inputs)) as number[])
  ],
  webgpu: viewKernel((x, host, a) => unsqueezeDims(x.shape, requiredAxes(a, host)) as number[])
};

// --- Identity / Dropout --------------------------------------------------------------------

const identity: OpDefinition<Record<string, never>> = {
  opType: 'Identity',
  parseAttributes: () => ({}),
  inferTypes: sameAsInput,
  cpu: ([x]) => [x!],
  webgpu: viewKernel(x => [...x.shape])
};

interface DropoutAttributes {
  /** Opsets before 10 give the mask the data's type; later ones bool. */
  maskDtype?: DataType;
}

/**
 * Dropout at inference is the identity. Training mode is random, which we do not
 * reproduce, except with a ratio of 0, where it is the identity too.
 */
function checkInference(
  ratio: Tensor | undefined,
  trainingMode: Tensor | undefined,
  node: Node
): void {
  const training = trainingMode && trainingMode.size > 0 && trainingMode.toNumbers()[0];
  const dropped = ratio && ratio.size > 0 ? ratio.toNumbers()[0] : 0.5;
  if (training && dropped !== 0) {
    throw new UnsupportedOpError(
      node,
      `training_mode is true with ratio ${dropped}; only inference is supported`
    );
  }
}

const dropout: OpDefinition<DropoutAttributes> = {
  opType: 'Dropout',
  parseAttributes: ({ opset }) => ({ maskDtype: opset >= 10 ? 'bool' : undefined }),
  // ratio and training_mode stay on the host: neither is read on the device.
  hostInputs: () => [1, 2],
  inferTypes: (inputs, a, ctx) => {
    const ratio = inputs[1];
    if (!ratio || ratio.value) {
      checkInference(ratio?.value, inputs[2]?.value, ctx.node);
    }
    const x = inputs[0]!;
    return [
      { dtype: x.dtype, shape: x.shape },
      { dtype: a.maskDtype ?? x.dtype, shape: x.shape }
    ];
  },
  cpu: ([x, ratio, trainingMode], a, ctx) => {
    checkInference(ratio, trainingMode, ctx.node);
    const mask = Tensor.fromNumbers(
      a.maskDtype ?? x!.dtype,
      x!.shape,
      new Array<number>(x!.size).fill(1)
    );
    return [x!, mask];
  },
  webgpu: {
    halfStorage: true,
    unsupported: movesAnyStorage,
    run: (ctx, [x], host, a) => {
      checkInference(host[1], host[2], ctx.node);
      const dtype = a.maskDtype ?? x!.dtype;
      return [
        ctx.view(x!, x!.shape),
        generateGpu(ctx, 'Dropout mask', dtype, x!.shape, storageLiteral(dtype, 1))
      ];
    }
  }
};

// --- Shape / Size ----------------------------------------------------------------------------

interface ShapeAttributes {
  start: number;
  end?: number;
}

/** The dims Shape reports: start and end count from the back when negative and clamp. */
function shapeRange(shape: readonly Dim[], a: ShapeAttributes): Dim[] {
  const rank = shape.length;
  const clamp = (i: number) => Math.min(Math.max(i < 0 ? i + rank : i, 0), rank);
  return shape.slice(clamp(a.start), clamp(a.end ?? rank));
}

const shapeOp: OpDefinition<ShapeAttributes> = {
  opType: 'Shape',
  parseAttributes: ({ node, opset }) => {
    const a = new Attributes(node);
    return opset >= 15 ? { start: a.int('start', 0), end: a.int('end') } : { start: 0 };
  },
  inferTypes: ([x], a) => {
    if (!x!.shape) {
      return [{ dtype: 'int64', shape: [null] }];
    }
    const dims = shapeRange(x!.shape, a);
    return [elementsType('int64', [dims.length], dims)];
  },
  cpu: ([x], a) => {
    const dims = shapeRange(x!.shape, a) as number[];
    return [Tensor.fromNumbers('int64', [dims.length], dims)];
  }
};

const size: OpDefinition<Record<string, never>> = {
  opType: 'Size',
  parseAttributes: () => ({}),
  inferTypes: ([x]) => {
    const count = x!.shape ? dimProduct(x!.shape) : null;
    return [elementsType('int64', [], [count])];
  },
  cpu: ([x]) => [Tensor.scalar('int64', x!.size)]
};

// --- Expand ----------------------------------------------------------------------------------

/** Reads of `source` that broadcast it to `outShape` (numpy rules: align the trailing dims). */
export function broadcastReads(shape: readonly number[], outShape: readonly number[]): AxisRead[] {
  const strides = stridesOf(shape);
  const shift = outShape.length - shape.length;
  return outShape.map((_, axis) => {
    const inAxis = axis - shift;
    const broadcast = inAxis < 0 || shape[inAxis] === 1;
    return { stride: broadcast ? 0 : strides[inAxis], start: 0, step: broadcast ? 0 : 1 };
  });
}

const expand = gatherOp<Record<string, never>>({
  opType: 'Expand',
  parseAttributes: () => ({}),
  hostInputs: () => [1],
  inferTypes: ([x, target]) => {
    const dims = shapeInputDims(target);
    return [{ dtype: x!.dtype, shape: x!.shape && dims && broadcastShapes([x!.shape, dims]) }];
  },
  gather: (x, host) => {
    if (!host[1]) {
      throw new Error('the shape input is missing');
    }
    const outShape = broadcastShapes([x.shape, host[1].toIntegers()]) as number[];
    return { plan: { shape: outShape, reads: broadcastReads(x.shape, outShape) }, outShape };
  }
});

// --- ConstantOfShape / Range / EyeLike --------------------------------------------------------

/** Generators run on the GPU for float32 results; integer ones are shape arithmetic, kept on the host. */
function generatesFloat32(dtype: DataType): string | null {
  return dtype === 'float32' ? null : `${dtype} results stay on the host`;
}

const constantOfShape: OpDefinition<{ value: Tensor }> = {
  opType: 'ConstantOfShape',
  parseAttributes: ({ node }) => {
    const a = new Attributes(node);
    const value = a.tensor('value') ?? Tensor.scalar('float32', 0);
    if (value.size !== 1) {
      throw a.invalid('value', `must hold one element, got ${value.size}`);
    }
    return { value };
  },
  hostInputs: () => [0],
  inferTypes: ([shape], a) => [{ dtype: a.value.dtype, shape: shapeInputDims(shape) }],
  cpu: ([shape], a) => {
    const dims = shape!.toIntegers();
    return [takeElements(a.value, dims, new Int32Array(sizeOf(dims)))];
  },
  webgpu: {
    halfStorage: true,
    unsupported: (_inputs, a) => generatesFloat32(a.value.dtype),
    run: (ctx, _inputs, [shape], a) => [
      generateGpu(
        ctx,
        'ConstantOfShape',
        a.value.dtype,
        shape!.toIntegers(),
        storageLiteral(a.value.dtype, a.value.toNumbers()[0])
      )
    ]
  }
};

/** Range's start, delta and element count from its three scalar inputs. */
function rangeOf(inputs: (Tensor | undefined)[]): { start: number; delta: number; count: number } {
  const [start, limit, delta] = inputs.map(t => {
    if (!t || t.size !== 1) {
      throw new Error('start, limit and delta must be scalars');
    }
    return t.toNumbers()[0];
  });
  if (delta === 0) {
    throw new Error('delta must not be 0');
  }
  return { start, delta, count: Math.max(Math.ceil((limit - start) / delta), 0) };
}

// Range has no kernel: its inputs are all host scalars, so the executor could not tell
// float results from the integer position ids that are shape arithmetic.
const range: OpDefinition<Record<string, never>> = {
  opType: 'Range',
  parseAttributes: () => ({}),
  inferTypes: inputs => {
    const known = inputs.every(i => i?.value);
    return [
      { dtype: inputs[0]!.dtype, shape: [known ? rangeOf(inputs.map(i => i!.value)).count : null] }
    ];
  },
  cpu: inputs => {
    const { start, delta, count } = rangeOf(inputs);
    const values = Array.from({ length: count }, (_, i) => start + i * delta);
    return [Tensor.fromNumbers(inputs[0]!.dtype, [count], values)];
  }
};

interface EyeLikeAttributes {
  dtype?: DataType;
  k: number;
}

function eyeLikeType(input: { dtype: DataType; shape?: readonly Dim[] }, a: EyeLikeAttributes) {
  if (input.shape && input.shape.length !== 2) {
    throw new Error(`input must be 2-D, got rank ${input.shape.length}`);
  }
  return a.dtype ?? input.dtype;
}

const eyeLike: OpDefinition<EyeLikeAttributes> = {
  opType: 'EyeLike',
  parseAttributes: ({ node }) => {
    const a = new Attributes(node);
    const code = a.int('dtype');
    const dtype = code === undefined ? undefined : dataTypeFromOnnx(code);
    if (code !== undefined && !dtype) {
      throw a.invalid('dtype', `names type code ${code}, which the engine does not support`);
    }
    return { dtype, k: a.int('k', 0) };
  },
  inferTypes: ([x], a) => [{ dtype: eyeLikeType(x!, a), shape: x!.shape }],
  cpu: ([x], a) => {
    const [rows, columns] = x!.shape;
    const values = Array.from(
      { length: rows * columns },
      (_, i) => +(i % columns === Math.floor(i / columns) + a.k)
    );
    return [Tensor.fromNumbers(eyeLikeType(x!, a), x!.shape, values)];
  },
  webgpu: {
    halfStorage: true,
    // Only the input's shape is read, so its type does not matter.
    unsupported: ([x], a) =>
      storageType(a.dtype ?? x!) ? null : `${a.dtype ?? x} has no 32-bit GPU storage`,
    run: (ctx, [x], _host, a) => {
      const dtype = eyeLikeType(x!, a);
      const [zero, one] = [storageLiteral(dtype, 0), storageLiteral(dtype, 1)];
      return [
        generateGpu(
          ctx,
          'EyeLike',
          dtype,
          x!.shape,
          `select(${zero}, ${one}, i32(c1) - i32(c0) == ${a.k})`
        )
      ];
    }
  }
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const definitions: OpDefinition<any>[] = [
  reshape,
  flatten,
  squeeze,
  unsqueeze,
  identity,
  dropout,
  shapeOp,
  size,
  expand,
  constantOfShape,
  range,
  eyeLike
];

export const shapeOps = definitions.map(withNodeErrors);
