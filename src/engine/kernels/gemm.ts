/**
 * The tiled GEMM kernel generator behind Gemm, MatMul, 1x1 convolutions and implicit-GEMM
 * convolutions:
 *
 *   C[b] = activation(alpha * op(A[b]) x op(B[b]) + bias + residual[b])
 *
 * where op transposes an operand when asked. Each workgroup computes a tileM x tileN block
 * of C with (tileM / threadM) x (tileN / threadN) invocations, each holding threadM x threadN
 * outputs in registers. Blocks of op(A) and op(B) tileK deep are staged through workgroup
 * memory, so every element read from storage serves threadN (or threadM) multiply-adds from
 * registers. Shapes are baked into the shader as constants: an engine is built for shapes.
 *
 * Storage formats: 'f32'; 'f16' with `enable f16;` (native, where the device has
 * 'shader-f16'); and f16 packed two to a u32 (element 2i in the low half), computed in f32,
 * for devices without it. Native and packed f16 buffers hold the same bytes.
 *
 * Convolutions run on the same kernel (implicit GEMM, see ConvolutionLayout): op(B) is the
 * im2col matrix of the input, gathered through the window as its tiles are staged, and C
 * is stored in the output's NCHW layout.
 */
import { stridesOf } from '../ir/tensor';
import { f32Literal, linearGrid, linearMain, roundToHalf } from './wgsl';

/** How a tactic spreads the product over workgroups, invocations and registers. */
export interface GemmTactic {
  tileM: number;
  tileN: number;
  tileK: number;
  threadM: number;
  threadN: number;
  /**
   * 4: registers, workgroup tiles and the output are held as vec4 along N (and op(A)'s
   * tile along M), and storage is read and written as vec4 wherever the layout is aligned.
   */
  vector: 1 | 4;
  /**
   * K split into this many slices of whole tiles, each run by workgroups of its own, for
   * products too small in M and N to occupy the GPU: each step of a workgroup's K loop waits
   * on memory, and only other workgroups hide that wait. The slices' sums go to an f32
   * workspace that a second kernel adds up and finishes (gemmKernels). 1 unless given.
   */
  splitK?: number;
}

export interface GemmEpilogue {
  /**
   * 'row': N values added to every row of C (ONNX Gemm's C of shape [N] or [1, N]);
   * 'col': M values added to every column (one per output channel when channels are C's
   * rows); 'scalar': one value added everywhere. Shared by every batch.
   */
  bias?: 'row' | 'col' | 'scalar';
  /** A WGSL expression of `x` (of the accumulation type), e.g. 'max(x, 0.0)'; applied last. */
  activation?: string;
  /** WGSL functions the activation expression calls (e.g. an erf approximation). */
  activationHelpers?: string;
  /** Adds a tensor of C's shape (batch included) before the activation. */
  residual?: boolean;
}

/** One spatial axis of a convolution window, resolved against the input's size. */
export interface ConvolutionAxis {
  input: number;
  output: number;
  kernel: number;
  stride: number;
  dilation: number;
  /** Where the first window starts before the input. */
  padBegin: number;
}

/**
 * A convolution of NCHW-like tensors (any number of spatial axes) as a GEMM per group, the
 * group being the GEMM's batch: C = W_g x im2col(X)_g, with
 * M = output channels per group, K = input channels per group x kernel points,
 * N = images x output points. A is W as stored ([outChannels, K], row-major); B is never
 * stored: each staged element is read from X at the input point its window position
 * covers (zero in the padding); C lands at Y[image][group * M + row][point], and a 'col'
 * bias is indexed by that output channel.
 */
export interface ConvolutionLayout {
  images: number;
  /** X's channels, every group's. */
  inChannels: number;
  /** Y's channels, every group's. */
  outChannels: number;
  axes: readonly ConvolutionAxis[];
}

export interface GemmSpec {
  M: number;
  N: number;
  K: number;
  /** Number of products; 1 unless given. */
  batch?: number;
  /** Elements between consecutive batches of A; 0 reuses one A for every batch. Default M * K. */
  batchStrideA?: number;
  /** Elements between consecutive batches of B; 0 reuses one B for every batch. Default K * N. */
  batchStrideB?: number;
  /** A is stored as [K, M] rather than [M, K]. */
  transA?: boolean;
  /** B is stored as [N, K] rather than [K, N]. */
  transB?: boolean;
  /** Scales the product (not the bias or residual); 1 unless given. */
  alpha?: number;
  precision: 'f32' | 'f16';
  /** For precision 'f16': 'native' needs the device feature 'shader-f16'. */
  f16Storage?: 'native' | 'packed';
  /** Arithmetic type: f32 unless given; f16 only with native f16 storage. */
  accumulation?: 'f32' | 'f16';
  /**
   * Bindings stored as f32 or native f16 where that differs from `precision` (a layer
   * whose tensors do not all share one storage). Packed f16 does not mix.
   */
  bindingStorage?: Partial<Record<GemmBindingName, 'f32' | 'f16'>>;
  /**
   * Rounds C to the nearest float16 (wgsl.ts's roundToHalf) before storing it as f32: float16
   * values in f32 storage.
   */
  roundToF16?: boolean;
  /** B gathered from a convolution's input and C stored as its output (implicit GEMM). */
  convolution?: ConvolutionLayout;
  tactic: GemmTactic;
  epilogue?: GemmEpilogue;
}

export type GemmBindingName = 'a' | 'b' | 'bias' | 'residual' | 'c';

/** The bindings of gemmKernels: the GEMM's, and 'partial', split K's f32 workspace. */
export type GemmKernelBindingName = GemmBindingName | 'partial';

export interface GemmBinding<Name = GemmBindingName> {
  name: Name;
  /** Elements the buffer must hold (packed f16 buffers hold two per u32, rounded up). */
  elements: number;
}

export interface GemmKernel<Name = GemmBindingName> {
  /** A compute shader with entry point `main`; binding i of group 0 is `bindings[i]`. */
  code: string;
  workgroups: [number, number, number];
  /**
   * A and B, then bias and residual when the epilogue has them, then C (the only output).
   * Split K: A, B and the workspace ('partial', the output); then the workspace, bias,
   * residual and C.
   */
  bindings: GemmBinding<Name>[];
}

/** A kernel of gemmKernels, which may bind split K's workspace. */
type KernelBinding = GemmBinding<GemmKernelBindingName>;

/** The limits a tactic must respect, as GPUSupportedLimits names them. */
export type GemmLimits = Pick<
  GPUSupportedLimits,
  | 'maxComputeWorkgroupStorageSize'
  | 'maxComputeInvocationsPerWorkgroup'
  | 'maxComputeWorkgroupSizeX'
  | 'maxComputeWorkgroupSizeY'
>;

const MAX_WORKGROUPS_PER_DIMENSION = 65535;
const COMPONENTS = ['x', 'y', 'z', 'w'];

/** How values of one tensor lie in storage. */
type StorageFormat = 'f32' | 'f16' | 'packed';
type ComputeType = 'f32' | 'f16';

/** A convolution's layout with the sizes the kernel bakes in. */
export interface Convolution extends ConvolutionLayout {
  inputPoints: number;
  outputPoints: number;
  kernelPoints: number;
  channelsPerGroup: number;
}

/** `layout` with its sizes, for `groups` groups of channels. */
export function convolutionSizes(layout: ConvolutionLayout, groups: number): Convolution {
  const product = (values: number[]) => values.reduce((p, v) => p * v, 1);
  return {
    ...layout,
    inputPoints: product(layout.axes.map(a => a.input)),
    outputPoints: product(layout.axes.map(a => a.output)),
    kernelPoints: product(layout.axes.map(a => a.kernel)),
    channelsPerGroup: layout.inChannels / groups
  };
}

/**
 * WGSL that locates the B column an invocation stages in an implicit GEMM: its output point
 * `b_n` (image `b_image`, point `b_point`), where its image's group of channels starts in X
 * (`b_image_base`), and its window's origin per axis (`b_window_d`, padding subtracted).
 */
export function convolutionColumnSetup(conv: Convolution, tileN: number): string[] {
  const outStrides = stridesOf(conv.axes.map(a => a.output));
  return [
    `let b_col = lidx % ${tileN}u;`,
    'let b_n = col0 + b_col;',
    `let b_image = b_n / ${conv.outputPoints}u;`,
    `let b_point = b_n % ${conv.outputPoints}u;`,
    `let b_image_base = (b_image * ${conv.inChannels}u + batch * ${conv.channelsPerGroup}u) * ${conv.inputPoints}u;`,
    ...conv.axes.map(
      (a, d) =>
        `let b_window_${d} = i32(${axisDigit('b_point', outStrides[d], a.output, d === 0)}) * ${a.stride}i - ${a.padBegin}i;`
    )
  ];
}

/** Everything the generator derives from a spec, checked once. */
interface Plan {
  M: number;
  N: number;
  K: number;
  batch: number;
  strideA: number;
  strideB: number;
  transA: boolean;
  transB: boolean;
  alpha: number;
  formats: Record<GemmBindingName, StorageFormat>;
  compute: ComputeType;
  roundToF16: boolean;
  convolution?: Convolution;
  tactic: GemmTactic;
  epilogue: GemmEpilogue;
  threadsX: number;
  threadsY: number;
  /** Slices of K (none empty), each kSlice deep (whole tiles) but the last. */
  splitK: number;
  kSlice: number;
}

const BINDING_NAMES: readonly GemmBindingName[] = ['a', 'b', 'bias', 'residual', 'c'];

/** The shape of the workgroup a tactic needs, and the workgroup memory its tiles take. */
export function tacticFootprint(
  tactic: GemmTactic,
  bytesPerElement: number
): { threadsX: number; threadsY: number; storageBytes: number } {
  return {
    threadsX: tactic.tileN / tactic.threadN,
    threadsY: tactic.tileM / tactic.threadM,
    storageBytes: tactic.tileK * (tactic.tileM + tactic.tileN) * bytesPerElement
  };
}

/**
 * Why `tactic` cannot stage an implicit GEMM's B tile, or null when it can: each invocation
 * gathers one column of the tile (one output point, whose window it locates once), so the
 * workgroup's invocations must be a whole number of tile columns.
 */
export function implicitGemmRestriction(tactic: GemmTactic): string | null {
  const { threadsX, threadsY } = tacticFootprint(tactic, 4);
  const threads = threadsX * threadsY;
  return threads % tactic.tileN === 0
    ? null
    : `an implicit GEMM needs the workgroup's ${threads} invocations to be a multiple of tileN ${tactic.tileN}`;
}

function checkedConvolution(spec: GemmSpec, describe: string): Convolution | undefined {
  const layout = spec.convolution;
  if (!layout) {
    return undefined;
  }
  const group = spec.batch ?? 1;
  const convolution = convolutionSizes(layout, group);
  const expected = {
    M: layout.outChannels / group,
    N: layout.images * convolution.outputPoints,
    K: convolution.channelsPerGroup * convolution.kernelPoints
  };
  for (const [name, value] of Object.entries(expected)) {
    if (value !== spec[name as 'M' | 'N' | 'K']) {
      throw new Error(`${describe}: the convolution (${group} groups) makes ${name} ${value}`);
    }
  }
  if (spec.transA || spec.transB) {
    throw new Error(`${describe}: a convolution's operands are not transposed`);
  }
  if (spec.precision === 'f16' && spec.f16Storage === 'packed') {
    throw new Error(`${describe}: a convolution takes f32 or native f16 storage, not packed f16`);
  }
  const restriction = implicitGemmRestriction(spec.tactic);
  if (restriction) {
    throw new Error(`${describe}: tactic ${JSON.stringify(spec.tactic)}: ${restriction}`);
  }
  return convolution;
}

function checkedPlan(spec: GemmSpec): Plan {
  const { M, N, K, tactic } = spec;
  const batch = spec.batch ?? 1;
  const describe = `GEMM ${M}x${N}x${K}`;
  for (const [name, value] of Object.entries({ M, N, K, batch })) {
    if (!Number.isInteger(value) || value < 1) {
      throw new Error(`${describe}: ${name} must be a positive integer, got ${value}`);
    }
  }
  const format: StorageFormat =
    spec.precision === 'f32' ? 'f32' : spec.f16Storage === 'packed' ? 'packed' : 'f16';
  if (spec.precision === 'f16' && !spec.f16Storage) {
    throw new Error(`${describe}: precision 'f16' needs f16Storage 'native' or 'packed'`);
  }
  const formats = Object.fromEntries(BINDING_NAMES.map(name => [name, format])) as Plan['formats'];
  for (const [name, storage] of Object.entries(spec.bindingStorage ?? {})) {
    if (format === 'packed') {
      throw new Error(`${describe}: packed f16 storage does not mix with other formats`);
    }
    formats[name as GemmBindingName] = storage;
  }
  const compute = spec.accumulation ?? 'f32';
  if (compute === 'f16' && format !== 'f16') {
    throw new Error(`${describe}: f16 accumulation needs native f16 storage`);
  }
  const { tileM, tileN, tileK, threadM, threadN, vector } = tactic;
  const tacticName = `tactic ${JSON.stringify(tactic)}`;
  for (const [name, value] of Object.entries({ tileM, tileN, tileK, threadM, threadN })) {
    if (!Number.isInteger(value) || value < 1) {
      throw new Error(`${describe}: ${tacticName}: ${name} must be a positive integer`);
    }
  }
  if (vector !== 1 && vector !== 4) {
    throw new Error(`${describe}: ${tacticName}: vector must be 1 or 4`);
  }
  if (tileM % threadM !== 0 || tileN % threadN !== 0) {
    throw new Error(`${describe}: ${tacticName}: threadM and threadN must divide tileM and tileN`);
  }
  if (threadM % vector !== 0 || threadN % vector !== 0) {
    throw new Error(
      `${describe}: ${tacticName}: vec4 tiles need threadM and threadN divisible by 4`
    );
  }
  const alpha = spec.alpha ?? 1;
  if (compute === 'f16' && !(Math.abs(alpha) <= 65504)) {
    throw new Error(`${describe}: alpha ${alpha} is not representable in f16`);
  }
  const strideA = spec.batchStrideA ?? M * K;
  const strideB = spec.batchStrideB ?? K * N;
  for (const [name, value] of Object.entries({ batchStrideA: strideA, batchStrideB: strideB })) {
    if (!Number.isInteger(value) || value < 0) {
      throw new Error(`${describe}: ${name} must be a non-negative integer, got ${value}`);
    }
  }
  const requestedSplit = tactic.splitK ?? 1;
  if (!Number.isInteger(requestedSplit) || requestedSplit < 1) {
    throw new Error(`${describe}: ${tacticName}: splitK must be a positive integer`);
  }
  const kSlice = Math.ceil(K / requestedSplit / tileK) * tileK;
  const splitK = Math.ceil(K / kSlice);
  if (
    Math.ceil(N / tileN) > MAX_WORKGROUPS_PER_DIMENSION ||
    Math.ceil(M / tileM) > MAX_WORKGROUPS_PER_DIMENSION ||
    batch * splitK > MAX_WORKGROUPS_PER_DIMENSION
  ) {
    throw new Error(`${describe} (batch ${batch}) needs more than 65535 workgroups along one axis`);
  }
  const { threadsX, threadsY } = tacticFootprint(tactic, 4);
  return {
    M,
    N,
    K,
    batch,
    strideA,
    strideB,
    transA: spec.transA ?? false,
    transB: spec.transB ?? false,
    alpha,
    formats,
    compute,
    roundToF16: spec.roundToF16 ?? false,
    convolution: checkedConvolution(spec, describe),
    tactic,
    epilogue: spec.epilogue ?? {},
    threadsX,
    threadsY,
    splitK,
    kSlice
  };
}

/** `vec4<T>` for a vector width of 4, T itself for 1. */
function vectorOf(width: number, type: string): string {
  return width === 4 ? `vec4<${type}>` : type;
}

/** Component `index` of a value of vector width `width`. */
function component(value: string, width: number, index: number): string {
  return width === 4 ? `${value}.${COMPONENTS[index]}` : value;
}

/** The WGSL element type of a storage array holding `width` values per element. */
function storageElement(format: StorageFormat, width: number): string {
  if (format === 'packed') {
    return width === 4 ? 'vec2<u32>' : 'u32';
  }
  return vectorOf(width, format);
}

/**
 * A function `load_${name}(i)` reading element i (width 1) or the vec4 at element 4i
 * (width 4) of a read-only binding, converted to the compute type.
 */
function loader(name: string, format: StorageFormat, compute: ComputeType, width: number): string {
  const type = vectorOf(width, compute);
  let body: string;
  if (format === 'packed') {
    body =
      width === 4
        ? `let w = ${name}[i];\n  return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));`
        : `return unpack2x16float(${name}[i >> 1u])[i & 1u];`;
  } else {
    body = format === compute ? `return ${name}[i];` : `return ${type}(${name}[i]);`;
  }
  return `fn load_${name}(i: u32) -> ${type} {\n  ${body}\n}`;
}

function bindingLine(index: number, name: string, element: string, writable: boolean): string {
  const access = writable ? 'read_write' : 'read';
  return `@group(0) @binding(${index}) var<storage, ${access}> ${name}: array<${element}>;`;
}

/** One operand's place in the product: its tile, its layout in storage, its alignment. */
interface Operand {
  name: 'a' | 'b';
  /** The output dimension the operand spans: M for A, N for B. */
  extent: number;
  tileExtent: number;
  /** Stored with K as the outer index (A transposed, B as is), so the extent is contiguous. */
  kMajor: boolean;
  batchStride: number;
  /** Values per storage read: 4 where the contiguous dimension allows vec4 reads. */
  readWidth: number;
}

function operands(plan: Plan): [Operand, Operand] {
  const { M, N, K, tactic } = plan;
  const operand = (
    name: 'a' | 'b',
    extent: number,
    tileExtent: number,
    kMajor: boolean,
    batchStride: number
  ): Operand => {
    const contiguous = kMajor ? extent : K;
    const tileContiguous = kMajor ? tileExtent : tactic.tileK;
    const gathered = name === 'b' && plan.convolution !== undefined;
    const aligned =
      tactic.vector === 4 &&
      !gathered &&
      contiguous % 4 === 0 &&
      tileContiguous % 4 === 0 &&
      batchStride % 4 === 0;
    return { name, extent, tileExtent, kMajor, batchStride, readWidth: aligned ? 4 : 1 };
  };
  return [
    operand('a', M, tactic.tileM, plan.transA, plan.strideA),
    operand('b', N, tactic.tileN, !plan.transB, plan.strideB)
  ];
}

/** The workgroup tile element holding op(X)[k][d] (`tile` laid out [k][d], d in vectors). */
function tileElement(plan: Plan, op: Operand, k: string, d: string): string {
  const rowVectors = op.tileExtent / plan.tactic.vector;
  const tile = `${op.name}_tile`;
  return plan.tactic.vector === 4
    ? `${tile}[(${k}) * ${rowVectors}u + ${d} / 4u][${d} & 3u]`
    : `${tile}[(${k}) * ${rowVectors}u + ${d}]`;
}

/**
 * `stage_${name}(item, origin, k0, base)`: copies item `item` (one storage read) of the
 * operand's tileK x tile block at (k0, origin) into its workgroup tile, laid out [k][d]
 * with d in vectors of the tactic's width. Reads outside the matrix give zeros, so
 * partial tiles at the edges add nothing.
 */
function stager(plan: Plan, op: Operand): string {
  const { K, tactic } = plan;
  const read = op.readWidth;
  const rowVectors = op.tileExtent / tactic.vector;
  const coordinates = op.kMajor
    ? `let d = (item % ${op.tileExtent / read}u)${read === 4 ? ' * 4u' : ''};\n  let k = item / ${op.tileExtent / read}u;`
    : `let k = (item % ${tactic.tileK / read}u)${read === 4 ? ' * 4u' : ''};\n  let d = item / ${tactic.tileK / read}u;`;
  const index = op.kMajor
    ? `(k0 + k) * ${op.extent}u + origin + d`
    : `(origin + d) * ${K}u + k0 + k`;
  let store: string;
  if (read === 1) {
    store = `${tileElement(plan, op, 'k', 'd')} = value;`;
  } else if (op.kMajor) {
    // Both storage and tile are vectors along d.
    store = `${op.name}_tile[k * ${rowVectors}u + d / 4u] = value;`;
  } else {
    store = [0, 1, 2, 3]
      .map(c => `${tileElement(plan, op, `k + ${c}u`, 'd')} = value.${COMPONENTS[c]};`)
      .join('\n  ');
  }
  return `fn stage_${op.name}(item: u32, origin: u32, k0: u32, base: u32) {
  ${coordinates}
  var value = ${vectorOf(read, plan.compute)}();
  if (origin + d < ${op.extent}u && k0 + k < ${K}u) {
    value = load_${op.name}((base + ${index})${read === 4 ? ' / 4u' : ''});
  }
  ${store}
}`;
}

/**
 * WGSL locating a workgroup's GEMM batch and its range of K: with K split, workgroups along z
 * take each batch's slices in turn, each slice `kSlice` deep.
 */
export function splitKPrologue(splitK: number, kSlice: number, K: number): string[] {
  return splitK > 1
    ? [
        `let batch = wid.z / ${splitK}u;`,
        `let slice = wid.z % ${splitK}u;`,
        `let k_begin = slice * ${kSlice}u;`,
        `let k_end = min(k_begin + ${kSlice}u, ${K}u);`
      ]
    : ['let batch = wid.z;', 'let k_begin = 0u;', `let k_end = ${K}u;`];
}

/** `(value / stride) % size` without the operations that change nothing. */
export function axisDigit(value: string, stride: number, size: number, bounded: boolean): string {
  const quotient = stride === 1 ? value : `(${value} / ${stride}u)`;
  return bounded ? quotient : `${quotient} % ${size}u`;
}

/**
 * Implicit GEMM's staging of op(B): each invocation owns one column of the tile, an
 * output point whose window origin it locates once (`setup`), and gathers that column's
 * rows (input channel and kernel point) from X on every step of K (`stage`). Window
 * positions in the padding read as zeros; bounds are checked only on the sides of the axes
 * that have padding there.
 */
function gatherer(plan: Plan, b: Operand, conv: Convolution): { setup: string[]; stage: string[] } {
  const { N, K, tactic } = plan;
  const threads = plan.threadsX * plan.threadsY;
  const inStrides = stridesOf(conv.axes.map(a => a.input));
  const kernelStrides = stridesOf(conv.axes.map(a => a.kernel));
  const setup = convolutionColumnSetup(conv, tactic.tileN);
  const conditions = [`b_n < ${N}u`, `kk < ${K}u`];
  const inputs: string[] = [];
  const offsets: string[] = [`(kk / ${conv.kernelPoints}u) * ${conv.inputPoints}u`];
  conv.axes.forEach((a, d) => {
    const tap =
      a.kernel === 1
        ? ''
        : ` + i32(${axisDigit('kk', kernelStrides[d], a.kernel, false)}) * ${a.dilation}i`;
    inputs.push(`  let i_${d} = b_window_${d}${tap};`);
    const reachesEnd = (a.output - 1) * a.stride - a.padBegin + (a.kernel - 1) * a.dilation;
    if (a.padBegin > 0 && reachesEnd >= a.input) {
      conditions.push(`u32(i_${d}) < ${a.input}u`);
    } else if (a.padBegin > 0) {
      conditions.push(`i_${d} >= 0i`);
    } else if (reachesEnd >= a.input) {
      conditions.push(`i_${d} < ${a.input}i`);
    }
    offsets.push(inStrides[d] === 1 ? `u32(i_${d})` : `u32(i_${d}) * ${inStrides[d]}u`);
  });
  const stage = [
    `for (var k = lidx / ${tactic.tileN}u; k < ${tactic.tileK}u; k += ${threads / tactic.tileN}u) {`,
    '  let kk = k0 + k;',
    ...inputs,
    `  var value = ${plan.compute}();`,
    `  if (${conditions.join(' && ')}) {`,
    `    value = load_b(b_image_base + ${offsets.join(' + ')});`,
    '  }',
    `  ${tileElement(plan, b, 'k', 'b_col')} = value;`,
    '}'
  ];
  return { setup, stage };
}

/**
 * Whether C (and the residual, read at the same places) is accessed as whole vec4: each
 * invocation's column groups start at multiples of 4 and rows do too when N is (for a
 * convolution, when each channel's output points are).
 */
function outputIsVector(plan: Plan): boolean {
  const rowLength = plan.convolution ? plan.convolution.outputPoints : plan.N;
  return plan.tactic.vector === 4 && rowLength % 4 === 0;
}

/**
 * How packed f16 outputs are written. Whole u32 words hold two adjacent columns; an
 * invocation owns both only when its columns come in vec4 groups and rows start at even
 * elements (N even). Otherwise two invocations share a word, and each rewrites its half
 * atomically.
 */
function packedStores(plan: Plan): 'words' | 'halves' {
  return plan.tactic.vector === 4 && plan.N % 2 === 0 ? 'words' : 'halves';
}

/** The element of C (and of the residual) at (batch, row, column `col`, a u32 expression). */
function outputIndex(plan: Plan, col: string): string {
  const { M, N, convolution: conv } = plan;
  if (!conv) {
    return `batch * ${M * N}u + row * ${N}u + ${col}`;
  }
  const image = `(${col}) / ${conv.outputPoints}u`;
  const point = `(${col}) % ${conv.outputPoints}u`;
  return `(${image} * ${conv.outChannels}u + batch * ${M}u + row) * ${conv.outputPoints}u + ${point}`;
}

/** The index of the 'col' bias for `row`: the output channel. */
function channelIndex(plan: Plan): string {
  return plan.convolution ? `batch * ${plan.M}u + row` : 'row';
}

/**
 * `finish(batch, row, col, value)`: the epilogue and the store of one register vector,
 * holding C[batch][row][col ..] before alpha, bias, residual and activation.
 */
function finisher(plan: Plan): string {
  const { M, N, alpha, compute, epilogue } = plan;
  const width = plan.tactic.vector;
  const type = vectorOf(width, compute);
  const vectorOut = outputIsVector(plan);
  const columns = [0, 1, 2, 3].slice(0, width);
  const lines: string[] = [];
  lines.push(`let index = ${outputIndex(plan, 'col')};`);
  const scale = compute === 'f32' ? f32Literal(alpha) : `f16(${f32Literal(alpha)})`;
  lines.push(alpha === 1 ? 'var v = value;' : `var v = value * ${scale};`);
  if (epilogue.bias === 'row') {
    const values = columns.map(c => `load_bias(min(col + ${c}u, ${N - 1}u))`);
    lines.push(`v += ${type}(${values.join(', ')});`);
  } else if (epilogue.bias === 'col') {
    lines.push(`v += ${type}(load_bias(${channelIndex(plan)}));`);
  } else if (epilogue.bias === 'scalar') {
    lines.push(`v += ${type}(load_bias(0u));`);
  }
  if (epilogue.residual) {
    if (vectorOut) {
      lines.push('v += load_residual(index / 4u);');
    } else {
      // Clamped: columns past N are computed but never stored.
      const values = columns.map(c =>
        c === 0
          ? 'load_residual(index)'
          : `load_residual(${outputIndex(plan, `min(col + ${c}u, ${N - 1}u)`)})`
      );
      lines.push(`v += ${type}(${values.join(', ')});`);
    }
  }
  if (epilogue.activation) {
    const activated = columns.map(c => `activation(${component('v', width, c)})`);
    lines.push(`v = ${type}(${activated.join(', ')});`);
  }
  lines.push(...storeLines(plan, vectorOut));
  return `fn finish(batch: u32, row: u32, col: u32, value: ${type}) {
  if (row >= ${M}u || col >= ${N}u) {
    return;
  }
  ${lines.join('\n  ')}
}`;
}

/** Statements storing `v` (of the tactic's width) at element `index` of C, column `col`. */
function storeLines(plan: Plan, vectorOut: boolean): string[] {
  const { N, compute } = plan;
  const format = plan.formats.c;
  const width = plan.tactic.vector;
  const columns = [0, 1, 2, 3].slice(0, width);
  const guarded = (c: number, statement: string) =>
    c === 0 ? statement : `if (col + ${c}u < ${N}u) { ${statement} }`;
  if (format === 'packed') {
    if (vectorOut) {
      return ['c[index / 4u] = vec2<u32>(pack2x16float(v.xy), pack2x16float(v.zw));'];
    }
    if (packedStores(plan) === 'words') {
      return [0, 2].map(c =>
        guarded(
          c,
          `c[(index + ${c}u) / 2u] = pack2x16float(v.${COMPONENTS[c]}${COMPONENTS[c + 1]});`
        )
      );
    }
    return columns.map(c => guarded(c, `store_half(index + ${c}u, ${component('v', width, c)});`));
  }
  // An f16 value needs no rounding; an f32 one bound for f32 storage may.
  const round = plan.roundToF16 && format === 'f32' && compute === 'f32';
  const stored = (value: string, type: string) => {
    const converted = format === compute ? value : `${type}(${value})`;
    return round ? roundToHalf(converted) : converted;
  };
  if (vectorOut) {
    const value = round
      ? `vec4<f32>(${COMPONENTS.map(c => roundToHalf(`v.${c}`)).join(', ')})`
      : stored('v', `vec4<${format}>`);
    return [`c[index / 4u] = ${value};`];
  }
  return columns.map(c =>
    guarded(
      c,
      `c[${c === 0 ? 'index' : outputIndex(plan, `col + ${c}u`)}] = ${stored(component('v', width, c), format)};`
    )
  );
}

/** Rewrites one f16 half of a packed word without disturbing the other invocation's half. */
const STORE_HALF = `fn store_half(i: u32, x: f32) {
  let shift = (i & 1u) * 16u;
  let bits = (pack2x16float(vec2<f32>(x, 0.0)) & 0xffffu) << shift;
  atomicAnd(&c[i >> 1u], ~(0xffffu << shift));
  atomicOr(&c[i >> 1u], bits);
}`;

/** Elements a binding of a batched operand must hold. */
function operandElements(batch: number, stride: number, matrix: number): number {
  return stride === 0 ? matrix : (batch - 1) * stride + matrix;
}

/** The bias and residual bindings the epilogue reads, with their sizes. */
function epilogueBindings(plan: Plan): GemmBinding[] {
  const { M, N, batch, epilogue, convolution: conv } = plan;
  const bindings: GemmBinding[] = [];
  if (epilogue.bias) {
    const channels = conv ? conv.outChannels : M;
    bindings.push({ name: 'bias', elements: { row: N, col: channels, scalar: 1 }[epilogue.bias] });
  }
  if (epilogue.residual) {
    bindings.push({ name: 'residual', elements: batch * M * N });
  }
  return bindings;
}

/**
 * Declarations of `bindings` (C writable, the rest read-only) and the functions that
 * finish and store C through the epilogue, for the kernel that stores C.
 */
function epilogueCode(
  plan: Plan,
  bindings: KernelBinding[],
  widths: Partial<Record<GemmKernelBindingName, number>>
): { declarations: string[]; functions: string[] } {
  const { formats, compute, epilogue } = plan;
  const vectorOut = outputIsVector(plan);
  const atomicHalves = formats.c === 'packed' && !vectorOut && packedStores(plan) === 'halves';
  const outWidth = vectorOut ? 4 : 1;
  const width = (name: GemmKernelBindingName) =>
    widths[name] ?? (name === 'residual' || name === 'c' ? outWidth : 1);
  const declarations = bindings.map(({ name }, i) => {
    let element: string;
    if (name === 'partial') {
      element = vectorOf(width(name), 'f32');
    } else {
      element =
        name === 'c' && atomicHalves ? 'atomic<u32>' : storageElement(formats[name], width(name));
    }
    return bindingLine(i, name, element, name === 'c');
  });
  const functions: string[] = [];
  for (const { name } of bindings) {
    if (name === 'bias' || name === 'residual') {
      functions.push(loader(name, formats[name], compute, width(name)));
    }
  }
  if (epilogue.activation) {
    if (epilogue.activationHelpers) {
      functions.push(epilogue.activationHelpers);
    }
    functions.push(
      `fn activation(x: ${compute}) -> ${compute} {\n  return ${epilogue.activation};\n}`
    );
  }
  if (atomicHalves) {
    functions.push(STORE_HALF);
  }
  functions.push(finisher(plan));
  return { declarations, functions };
}

/** Whether each slice's sums are stored to the f32 workspace as vec4. */
function partialIsVector(plan: Plan): boolean {
  return plan.tactic.vector === 4 && plan.N % 4 === 0;
}

/**
 * `store_partial(batch, slice, row, col, value)`: one register vector of a K slice's sums,
 * unscaled, into the f32 workspace laid out [slice][batch][M][N].
 */
function partialStorer(plan: Plan): string {
  const { M, N, batch, compute } = plan;
  const width = plan.tactic.vector;
  const type = vectorOf(width, compute);
  const index = `let index = ((slice * ${batch}u + batch) * ${M}u + row) * ${N}u + col;`;
  const stores = partialIsVector(plan)
    ? ['partial[index / 4u] = vec4<f32>(value);']
    : [0, 1, 2, 3]
        .slice(0, width)
        .map(c =>
          c === 0
            ? `partial[index] = f32(${component('value', width, c)});`
            : `if (col + ${c}u < ${N}u) { partial[index + ${c}u] = f32(${component('value', width, c)}); }`
        );
  return `fn store_partial(batch: u32, slice: u32, row: u32, col: u32, value: ${type}) {
  if (row >= ${M}u || col >= ${N}u) {
    return;
  }
  ${index}
  ${stores.join('\n  ')}
}`;
}

/**
 * The tiled product: C through the epilogue, or with a split K, each slice's sums into the
 * workspace.
 */
function productKernel(plan: Plan): GemmKernel<GemmKernelBindingName> {
  const { M, N, K, batch, compute, tactic, threadsX, threadsY, splitK } = plan;
  const conv = plan.convolution;
  const { tileM, tileN, tileK, threadM, threadN, vector } = tactic;
  const [a, b] = operands(plan);
  const threads = threadsX * threadsY;

  const operandBindings: GemmBinding[] = [
    { name: 'a', elements: operandElements(batch, plan.strideA, M * K) },
    {
      name: 'b',
      elements: conv
        ? conv.images * conv.inChannels * conv.inputPoints
        : operandElements(batch, plan.strideB, K * N)
    }
  ];
  const widths = { a: a.readWidth, b: b.readWidth, partial: partialIsVector(plan) ? 4 : 1 };
  const bindings =
    splitK > 1
      ? [...operandBindings, { name: 'partial' as const, elements: splitK * batch * M * N }]
      : [
          ...operandBindings,
          ...epilogueBindings(plan),
          { name: 'c' as const, elements: batch * M * N }
        ];
  const { declarations, functions: epilogueFunctions } =
    splitK > 1
      ? {
          declarations: [
            bindingLine(0, 'a', storageElement(plan.formats.a, a.readWidth), false),
            bindingLine(1, 'b', storageElement(plan.formats.b, b.readWidth), false),
            bindingLine(2, 'partial', vectorOf(widths.partial, 'f32'), true)
          ],
          functions: [partialStorer(plan)]
        }
      : epilogueCode(plan, bindings, widths);
  const functions = [
    loader('a', plan.formats.a, compute, a.readWidth),
    loader('b', plan.formats.b, compute, b.readWidth),
    stager(plan, a),
    ...(conv ? [] : [stager(plan, b)]),
    ...epilogueFunctions
  ];

  const type = vectorOf(vector, compute);
  const rowVectors = threadM / vector;
  const columnVectors = threadN / vector;
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const accumulator = (i: number, j: number) => `acc_${i}_${j}`;
  // A loop rather than unrolled calls: large tiles would otherwise need dozens of copies,
  // which some shader compilers take minutes over.
  const stage = (op: Operand, origin: string, base: string) => {
    const items = (tileK * op.tileExtent) / op.readWidth;
    return [
      `for (var item = lidx; item < ${items}u; item += ${threads}u) {`,
      `  stage_${op.name}(item, ${origin}, k0, ${base});`,
      '}'
    ];
  };
  const gather = conv && gatherer(plan, b, conv);
  const prologue = splitKPrologue(splitK, plan.kSlice, K);
  prologue.push(`let a_base = batch * ${plan.strideA}u;`);
  if (!conv) {
    prologue.push(`let b_base = batch * ${plan.strideB}u;`);
  }
  const store = (i: number, j: number) => {
    const at = `row0 + lid.y * ${threadM}u + ${i}u, col0 + ${j * threadsX * vector}u + lid.x * ${vector}u`;
    return splitK > 1
      ? `store_partial(batch, slice, ${at}, ${accumulator(i, j)});`
      : `finish(batch, ${at}, ${accumulator(i, j)});`;
  };
  // Invocation (tx, ty) owns rows ty * threadM + i (contiguous, read as vectors of op(A)'s
  // tile) and column vectors j * threadsX + tx (interleaved, so neighbouring invocations
  // read neighbouring workgroup memory and write neighbouring storage).
  const body = [
    ...prologue,
    ...(gather ? gather.setup : []),
    ...range(threadM).flatMap(i =>
      range(columnVectors).map(j => `var ${accumulator(i, j)} = ${type}();`)
    ),
    `for (var k0 = k_begin; k0 < k_end; k0 += ${tileK}u) {`,
    ...stage(a, 'row0', 'a_base').map(s => `  ${s}`),
    ...(gather ? gather.stage : stage(b, 'col0', 'b_base')).map(s => `  ${s}`),
    '  workgroupBarrier();',
    `  for (var k = 0u; k < ${tileK}u; k++) {`,
    ...range(rowVectors).map(
      q => `    let a_${q} = a_tile[k * ${tileM / vector}u + lid.y * ${rowVectors}u + ${q}u];`
    ),
    ...range(columnVectors).map(
      j => `    let b_${j} = b_tile[k * ${tileN / vector}u + ${j * threadsX}u + lid.x];`
    ),
    ...range(threadM).flatMap(i =>
      range(columnVectors).map(
        j =>
          `    ${accumulator(i, j)} += ${component(`a_${Math.floor(i / vector)}`, vector, i % vector)} * b_${j};`
      )
    ),
    '  }',
    '  workgroupBarrier();',
    '}',
    ...range(threadM).flatMap(i => range(columnVectors).map(j => store(i, j)))
  ];

  const usesF16 = Object.values(plan.formats).includes('f16') || compute === 'f16';
  const code = `${usesF16 ? 'enable f16;\n' : ''}${declarations.join('\n')}

var<workgroup> a_tile: array<${type}, ${(tileK * tileM) / vector}>;
var<workgroup> b_tile: array<${type}, ${(tileK * tileN) / vector}>;

${functions.join('\n\n')}

@compute @workgroup_size(${threadsX}, ${threadsY})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let row0 = wid.y * ${tileM}u;
  let col0 = wid.x * ${tileN}u;
  ${body.join('\n  ')}
}
`;
  return {
    code,
    workgroups: [Math.ceil(N / tileN), Math.ceil(M / tileM), batch * splitK],
    bindings
  };
}

/**
 * Split K's second kernel: one invocation per element of C adds up the slices' sums and
 * finishes it through the epilogue.
 */
function reduceKernel(plan: Plan): GemmKernel<GemmKernelBindingName> {
  const { M, N, batch, compute, splitK } = plan;
  // One element per invocation: the epilogue's vector width is 1.
  const scalar: Plan = { ...plan, tactic: { ...plan.tactic, vector: 1 } };
  const count = batch * M * N;
  const bindings: KernelBinding[] = [
    { name: 'partial', elements: splitK * count },
    ...epilogueBindings(scalar),
    { name: 'c', elements: count }
  ];
  const { declarations, functions } = epilogueCode(scalar, bindings, { partial: 1 });
  const body = `  let col = index % ${N}u;
  let row = (index / ${N}u) % ${M}u;
  let batch = index / ${M * N}u;
  var sum = 0.0;
  for (var slice = 0u; slice < ${splitK}u; slice++) {
    sum += partial[slice * ${count}u + index];
  }
  finish(batch, row, col, ${compute === 'f32' ? 'sum' : 'f16(sum)'});`;
  const usesF16 = Object.values(plan.formats).includes('f16') || compute === 'f16';
  const code = [
    ...(usesF16 ? ['enable f16;'] : []),
    ...declarations,
    ...functions,
    linearMain(count, body)
  ].join('\n');
  const [x, y] = linearGrid(count);
  return { code, workgroups: [x, y, 1], bindings };
}

/**
 * The kernels for one GEMM shape, precision, tactic and epilogue, to dispatch in order: one,
 * or for a tactic that splits K, the product into the f32 workspace ('partial') and the
 * kernel that sums it into C.
 */
export function gemmKernels(spec: GemmSpec): GemmKernel<GemmKernelBindingName>[] {
  const plan = checkedPlan(spec);
  return plan.splitK > 1 ? [productKernel(plan), reduceKernel(plan)] : [productKernel(plan)];
}

/** The one kernel for a GEMM whose tactic does not split K (see gemmKernels). */
export function gemmKernel(spec: GemmSpec): GemmKernel {
  const kernels = gemmKernels(spec);
  if (kernels.length > 1) {
    throw new Error(`GEMM ${spec.M}x${spec.N}x${spec.K}: a split-K tactic needs gemmKernels`);
  }
  // Without a split K, no kernel binds the workspace.
  return kernels[0] as GemmKernel;
}

/** Candidate tactics, largest tiles first; the auto-tuner times them and keeps the best. */
const CANDIDATES: GemmTactic[] = [
  { tileM: 128, tileN: 128, tileK: 16, threadM: 8, threadN: 8, vector: 4 },
  { tileM: 128, tileN: 128, tileK: 8, threadM: 8, threadN: 8, vector: 4 },
  { tileM: 128, tileN: 64, tileK: 16, threadM: 8, threadN: 4, vector: 4 },
  { tileM: 64, tileN: 128, tileK: 16, threadM: 4, threadN: 8, vector: 4 },
  { tileM: 64, tileN: 64, tileK: 16, threadM: 4, threadN: 4, vector: 4 },
  { tileM: 64, tileN: 64, tileK: 32, threadM: 8, threadN: 8, vector: 4 },
  { tileM: 32, tileN: 32, tileK: 32, threadM: 4, threadN: 4, vector: 4 },
  { tileM: 16, tileN: 32, tileK: 32, threadM: 4, threadN: 4, vector: 4 },
  // Small products (a convolution over a 7x7 map at batch 1) need many small workgroups to
  // occupy the GPU, even at fewer multiply-adds per value read.
  { tileM: 32, tileN: 16, tileK: 32, threadM: 4, threadN: 2, vector: 1 },
  { tileM: 16, tileN: 16, tileK: 32, threadM: 2, threadN: 2, vector: 1 }
];

function nextPowerOfTwo(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, n)));
}

/**
 * A short list of tactics worth timing for an M x N x K product: those the device's limits
 * allow (workgroup memory counted at 4 bytes per element, enough for every precision), and
 * whose tiles are not larger than the problem needs (a tile past twice the next power of
 * two of a dimension only adds idle invocations). Never empty while the smallest candidate
 * fits the limits.
 */
export function gemmTactics(limits: GemmLimits, M: number, N: number, K: number): GemmTactic[] {
  const fits = (tactic: GemmTactic) => {
    const { threadsX, threadsY, storageBytes } = tacticFootprint(tactic, 4);
    return (
      threadsX * threadsY <= limits.maxComputeInvocationsPerWorkgroup &&
      threadsX <= limits.maxComputeWorkgroupSizeX &&
      threadsY <= limits.maxComputeWorkgroupSizeY &&
      storageBytes <= limits.maxComputeWorkgroupStorageSize
    );
  };
  const allowed = CANDIDATES.filter(fits);
  const sized = allowed.filter(
    t =>
      t.tileM <= nextPowerOfTwo(M) * 2 &&
      t.tileN <= nextPowerOfTwo(N) * 2 &&
      t.tileK <= nextPowerOfTwo(K) * 2
  );
  return sized.length > 0 ? sized : allowed.slice(-1);
}
