/**
 * Convolution kernels for Conv and webtrt::FusedConv (NCHW, any number of spatial axes),
 * each storing Y through the same epilogue: bias per output channel, a residual of Y's
 * shape, then an activation. Three kinds, picked per layer by shape (TensorRT's tactics):
 *
 * - 'gemm': 1x1 kernels at stride 1 without padding are a plain batched GEMM: W as
 *   [Cout, Cin] shared by every image, X[n] as [Cin, points], Y[n] as [Cout, points].
 * - 'implicitGemm': every other convolution is one GEMM per group (kernels/gemm.ts's
 *   ConvolutionLayout): M = output channels per group, N = images x output points,
 *   K = input channels per group x kernel points, op(B) gathered from X on the fly.
 * - 'depthwise': one input channel per group (2-D): a direct kernel in which each
 *   invocation computes several adjacent outputs of one row, with the filter taps in
 *   registers and each input row segment loaded once for all of them.
 *
 * Values are computed in f32 whatever the tensors' storage (f32, or native f16 in an FP16
 * engine); float16 outputs stored as f32 are rounded to float16 as they are stored.
 */
import { sizeOf } from '../ir/tensor';
import { GpuTensor } from './context';
import {
  ConvolutionAxis,
  GemmBindingName,
  GemmKernelBindingName,
  gemmKernels,
  GemmLimits,
  GemmSpec,
  GemmTactic,
  gemmTactics,
  implicitGemmRestriction
} from './gemm';
import { f32Literal, linearGrid, linearMain, readFloat, wgslType, writeFloat } from './wgsl';

/** A convolution's channels and window, resolved against concrete shapes. */
export interface ConvGeometry {
  batch: number;
  inChannels: number;
  outChannels: number;
  group: number;
  axes: readonly ConvolutionAxis[];
}

export type ConvTactic =
  | { kind: 'gemm'; gemm: GemmTactic }
  | { kind: 'implicitGemm'; gemm: GemmTactic }
  | {
      kind: 'depthwise';
      /** Adjacent outputs along the last axis that one invocation computes. */
      outputsPerThread: number;
    };

/** 'workspace': an f32 scratch tensor the kernels of a split-K tactic pass sums through. */
export type ConvBindingName = 'x' | 'w' | 'bias' | 'residual' | 'y' | 'workspace';

type ConvTensorName = Exclude<ConvBindingName, 'workspace'>;

/** What a kernel needs to know of a tensor: its type and how it is stored. */
export type StoredTensor = Pick<GpuTensor, 'dtype' | 'storage'>;

export interface ConvSpec {
  geometry: ConvGeometry;
  tactic: ConvTactic;
  /** X, W and Y; bias ([Cout]) and residual (Y's shape) when the layer adds them. */
  tensors: Record<'x' | 'w' | 'y', StoredTensor> &
    Partial<Record<'bias' | 'residual', StoredTensor>>;
  /** Applied last: a WGSL f32 expression of `x`, and the functions it calls. */
  activation?: { expression: string; helpers: string };
}

export interface ConvKernel {
  /** A compute shader with entry point `main`; binding i of group 0 is `bindings[i]`. */
  code: string;
  workgroups: [number, number, number];
  /** What each binding holds, and how many elements ('workspace': f32 elements to allocate). */
  bindings: { name: ConvBindingName; elements: number }[];
}

/**
 * Enough workgroups to give every multiprocessor of a large GPU (an H100 has 132) two:
 * with fewer, each K step's wait on memory is hidden by nothing (measured on the H100:
 * 512 -> 512 channels, 3x3, on a 7x7 map took 1.04 ms unsplit, 49 us with K split 32 ways).
 */
const OCCUPANCY_WORKGROUPS = 256;

/** The most filter taps the depthwise kernel keeps in registers (7x7 and below). */
const MAX_DEPTHWISE_TAPS = 64;

const DEPTHWISE_OUTPUTS_PER_THREAD = [4, 2, 8, 1];

/** The fewest tile steps along K that a slice of a split K keeps. */
const MIN_SPLIT_STEPS = 4;

/** The fewest invocations in a workgroup of the default tile. */
const DEFAULT_MIN_INVOCATIONS = 128;

/** How many outputs each kind of layer computes per GEMM dimension. */
function gemmDims(g: ConvGeometry, kind: 'gemm' | 'implicitGemm') {
  const inputPoints = sizeOf(g.axes.map(a => a.input));
  const outputPoints = sizeOf(g.axes.map(a => a.output));
  const kernelPoints = sizeOf(g.axes.map(a => a.kernel));
  if (kind === 'gemm') {
    return { M: g.outChannels, N: inputPoints, K: g.inChannels, batch: g.batch };
  }
  return {
    M: g.outChannels / g.group,
    N: g.batch * outputPoints,
    K: (g.inChannels / g.group) * kernelPoints,
    batch: g.group
  };
}

/** A 1x1 window at stride 1 without padding: Y is W times X, point by point. */
function isPointwise(g: ConvGeometry): boolean {
  return (
    g.group === 1 &&
    g.axes.every(a => a.kernel === 1 && a.stride === 1 && a.padBegin === 0 && a.output === a.input)
  );
}

function isDepthwise(g: ConvGeometry): boolean {
  return (
    g.axes.length === 2 &&
    g.inChannels === g.group &&
    sizeOf(g.axes.map(a => a.kernel)) <= MAX_DEPTHWISE_TAPS
  );
}

/** GEMM tiles for one kind of convolution GEMM, within the limits and the problem's size. */
function gemmTiles(g: ConvGeometry, kind: 'gemm' | 'implicitGemm', limits: GemmLimits) {
  const { M, N, K, batch } = gemmDims(g, kind);
  const tiles = gemmTactics(limits, M, N, K).filter(
    t => kind === 'gemm' || implicitGemmRestriction(t) === null
  );
  return tiles.map(tile => {
    const workgroups = Math.ceil(M / tile.tileM) * Math.ceil(N / tile.tileN) * batch;
    return { kind, tile, workgroups, splitK: splitFor(workgroups, Math.ceil(K / tile.tileK)) };
  });
}

/**
 * How many slices of K a tile that fills less than half of OCCUPANCY_WORKGROUPS needs to
 * fill it (a power of two), each slice still MIN_SPLIT_STEPS tiles deep; 1 otherwise.
 */
export function splitFor(workgroups: number, kSteps: number): number {
  if (workgroups * 2 > OCCUPANCY_WORKGROUPS) {
    return 1;
  }
  let split = 1;
  while (workgroups * split < OCCUPANCY_WORKGROUPS && kSteps / (split * 2) >= MIN_SPLIT_STEPS) {
    split *= 2;
  }
  return split;
}

/** The size of a GEMM that tactics are split for: M x N x K, `batch` times. */
export interface ProductSize {
  M: number;
  N: number;
  K: number;
  batch: number;
}

/**
 * Each tile as is and, first, with K split (splitFor) where its workgroups alone are too
 * few to occupy the GPU on `size`.
 */
export function withSplitK<T extends { tileM: number; tileN: number; tileK: number }>(
  tiles: readonly T[],
  { M, N, K, batch }: ProductSize
): (T & { splitK?: number })[] {
  return tiles.flatMap(tile => {
    const workgroups = Math.ceil(M / tile.tileM) * Math.ceil(N / tile.tileN) * batch;
    const splitK = splitFor(workgroups, Math.ceil(K / tile.tileK));
    return splitK > 1 ? [{ ...tile, splitK }, tile] : [tile];
  });
}

/**
 * The tactics worth timing for one convolution, the default first. Each GEMM tile comes
 * as is and, where its workgroups are too few to occupy the GPU and K is long (a 7x7 map
 * at batch 1), with K split to make up the difference. The default is the first tile of
 * 64x64 or less with at least DEFAULT_MIN_INVOCATIONS invocations (enough warps to hide
 * memory latency: on an H100 such tiles beat both larger tiles and smaller workgroups on
 * ResNet's and MobileNet's layers), with its split. Pointwise layers of several images
 * may also run as one implicit GEMM over every image's points, which fills tiles better
 * where each image has few points.
 */
export function convTactics(g: ConvGeometry, limits: GemmLimits): ConvTactic[] {
  if (isDepthwise(g)) {
    const width = g.axes[1].output;
    // Fewer outputs per invocation than the row has, except for rows narrower than every choice.
    const fitting = DEPTHWISE_OUTPUTS_PER_THREAD.filter(t => t === 1 || t <= width);
    return fitting.map(outputsPerThread => ({ kind: 'depthwise', outputsPerThread }));
  }
  const kinds: ('gemm' | 'implicitGemm')[] = !isPointwise(g)
    ? ['implicitGemm']
    : g.batch > 1
      ? ['gemm', 'implicitGemm']
      : ['gemm'];
  const tiles = kinds.flatMap(kind => gemmTiles(g, kind, limits));
  const invocations = (t: GemmTactic) => (t.tileM / t.threadM) * (t.tileN / t.threadN);
  const preferred =
    tiles.find(
      ({ tile }) =>
        tile.tileM * tile.tileN <= 64 * 64 && invocations(tile) >= DEFAULT_MIN_INVOCATIONS
    ) ??
    tiles.reduce((most, t) => (t.workgroups * t.splitK > most.workgroups * most.splitK ? t : most));
  const tactics: ConvTactic[] = [];
  for (const { kind, tile, splitK } of [preferred, ...tiles.filter(t => t !== preferred)]) {
    if (splitK > 1) {
      tactics.push({ kind, gemm: { ...tile, splitK } });
    }
    tactics.push({ kind, gemm: tile });
  }
  return tactics;
}

/** A short name for layer reports, e.g. 'implicitGemm 64x64x16 4x4 vec4'. */
export function convTacticName(t: ConvTactic): string {
  if (t.kind === 'depthwise') {
    return `depthwise ${t.outputsPerThread} outputs per thread`;
  }
  const { tileM, tileN, tileK, threadM, threadN, vector, splitK = 1 } = t.gemm;
  const split = splitK > 1 ? `, K split ${splitK} ways` : '';
  return `${t.kind} ${tileM}x${tileN}x${tileK} ${threadM}x${threadN} vec${vector}${split}`;
}

/** The kernels for one convolution, tactic and epilogue, to dispatch in order. */
export function convKernels(spec: ConvSpec): ConvKernel[] {
  const { geometry: g, tactic } = spec;
  if (g.inChannels % g.group !== 0 || g.outChannels % g.group !== 0) {
    throw new Error(
      `${g.inChannels} input and ${g.outChannels} output channels do not split into ${g.group} groups`
    );
  }
  if (tactic.kind === 'depthwise') {
    return [depthwiseKernel(spec, tactic.outputsPerThread)];
  }
  if (tactic.kind === 'gemm' && !isPointwise(g)) {
    throw new Error("the 'gemm' tactic takes only 1x1 convolutions at stride 1 without padding");
  }
  return convolutionGemm(spec, tactic.kind, tactic.gemm);
}

/** The convolution's tensors, as a GEMM kernel names them. */
const GEMM_TENSORS: Record<GemmBindingName, ConvTensorName> = {
  a: 'w',
  b: 'x',
  bias: 'bias',
  residual: 'residual',
  c: 'y'
};

function convBindingName(name: GemmKernelBindingName): ConvBindingName {
  return name === 'partial' ? 'workspace' : GEMM_TENSORS[name];
}

function convolutionGemm(
  { geometry: g, tensors, activation }: ConvSpec,
  kind: 'gemm' | 'implicitGemm',
  tile: GemmTactic
): ConvKernel[] {
  const { M, N, K, batch } = gemmDims(g, kind);
  const bindingStorage: GemmSpec['bindingStorage'] = {};
  for (const name of ['a', 'b', 'bias', 'residual', 'c'] as const) {
    const tensor = tensors[GEMM_TENSORS[name]];
    if (tensor) {
      bindingStorage[name] = wgslType(tensor) === 'f16' ? 'f16' : 'f32';
    }
  }
  const kernels = gemmKernels({
    M,
    N,
    K,
    batch,
    // The pointwise GEMM shares W between images; the implicit GEMM's batch is the group.
    batchStrideA: kind === 'gemm' ? 0 : M * K,
    batchStrideB: kind === 'gemm' ? K * N : undefined,
    precision: 'f32',
    bindingStorage,
    roundToF16: tensors.y.dtype === 'float16',
    convolution:
      kind === 'implicitGemm'
        ? { images: g.batch, inChannels: g.inChannels, outChannels: g.outChannels, axes: g.axes }
        : undefined,
    tactic: tile,
    epilogue: {
      bias: tensors.bias ? 'col' : undefined,
      residual: tensors.residual !== undefined,
      activation: activation?.expression,
      activationHelpers: activation?.helpers
    }
  });
  return kernels.map(kernel => ({
    code: kernel.code,
    workgroups: kernel.workgroups,
    bindings: kernel.bindings.map(({ name, elements }) => ({
      name: convBindingName(name),
      elements
    }))
  }));
}

/**
 * Depthwise convolution (one input channel per group, any channel multiplier), 2-D: each
 * invocation computes `outputs` adjacent outputs of one output row of one channel. Its
 * channel's filter taps are read once into registers; for each kernel row, the input
 * segment that the outputs' windows cover is read once and every tap of the row is
 * applied to it from registers.
 */
function depthwiseKernel(
  { geometry: g, tensors, activation }: ConvSpec,
  outputs: number
): ConvKernel {
  const [rows, columns] = g.axes;
  const multiplier = g.outChannels / g.group;
  const chunks = Math.ceil(columns.output / outputs);
  const count = g.batch * g.outChannels * rows.output * chunks;
  const inputPoints = rows.input * columns.input;
  const taps = rows.kernel * columns.kernel;
  // Input columns one row of windows covers, relative to the first window's start.
  const span = (outputs - 1) * columns.stride + (columns.kernel - 1) * columns.dilation + 1;
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const { x, w, y, bias, residual } = tensors;

  const outputElements = g.batch * g.outChannels * rows.output * columns.output;
  const bindings: { name: ConvTensorName; elements: number }[] = [
    { name: 'x', elements: g.batch * g.inChannels * inputPoints },
    { name: 'w', elements: g.outChannels * taps }
  ];
  if (bias) {
    bindings.push({ name: 'bias', elements: g.outChannels });
  }
  if (residual) {
    bindings.push({ name: 'residual', elements: outputElements });
  }
  bindings.push({ name: 'y', elements: outputElements });
  const declarations = bindings.map(
    ({ name }, i) =>
      `@group(0) @binding(${i}) var<storage, ${name === 'y' ? 'read_write' : 'read'}> ${name}: array<${wgslType(tensors[name]!)}>;`
  );

  const body = [
    `  let chunk = index % ${chunks}u;`,
    `  let row = (index / ${chunks}u) % ${rows.output}u;`,
    `  let plane = index / ${chunks * rows.output}u;`,
    `  let channel = plane % ${g.outChannels}u;`,
    `  let x_base = (plane / ${g.outChannels}u * ${g.inChannels}u + channel / ${multiplier}u) * ${inputPoints}u;`,
    `  let w_base = channel * ${taps}u;`,
    ...range(taps).map(t => `  let w_${t} = ${readFloat(w, `w[w_base + ${t}u]`)};`),
    `  let column0 = chunk * ${outputs}u;`,
    `  let window_row = i32(row) * ${rows.stride}i - ${rows.padBegin}i;`,
    `  let window_column = i32(column0) * ${columns.stride}i - ${columns.padBegin}i;`,
    ...range(outputs).map(
      o => `  var sum_${o} = ${bias ? readFloat(bias, 'bias[channel]') : f32Literal(0)};`
    )
  ];
  for (let kr = 0; kr < rows.kernel; kr++) {
    body.push(
      '  {',
      `    let input_row = window_row + ${kr * rows.dilation}i;`,
      `    if (u32(input_row) < ${rows.input}u) {`,
      `      let row_base = x_base + u32(input_row) * ${columns.input}u;`
    );
    for (let s = 0; s < span; s++) {
      body.push(
        `      let column_${s} = window_column + ${s}i;`,
        `      let x_${s} = select(0.0, ${readFloat(x, `x[row_base + u32(clamp(column_${s}, 0i, ${columns.input - 1}i))]`)}, u32(column_${s}) < ${columns.input}u);`
      );
    }
    for (let o = 0; o < outputs; o++) {
      for (let kc = 0; kc < columns.kernel; kc++) {
        const s = o * columns.stride + kc * columns.dilation;
        body.push(`      sum_${o} += x_${s} * w_${kr * columns.kernel + kc};`);
      }
    }
    body.push('    }', '  }');
  }
  const outputPoints = rows.output * columns.output;
  for (let o = 0; o < outputs; o++) {
    const column = `column0 + ${o}u`;
    const store = [
      `    let at = plane * ${outputPoints}u + row * ${columns.output}u + ${column};`,
      `    var v = sum_${o};`
    ];
    if (residual) {
      store.push(`    v += ${readFloat(residual, 'residual[at]')};`);
    }
    if (activation) {
      store.push('    v = activation(v);');
    }
    store.push(`    y[at] = ${writeFloat(y, 'v')};`);
    body.push(`  if (${column} < ${columns.output}u) {`, ...store, '  }');
  }
  const functions = activation
    ? [activation.helpers, `fn activation(x: f32) -> f32 {\n  return ${activation.expression};\n}`]
    : [];
  const code = [
    ...declarations,
    ...functions.filter(f => f !== ''),
    linearMain(count, body.join('\n'))
  ].join('\n');
  const [groupsX, groupsY] = linearGrid(count);
  return { code, workgroups: [groupsX, groupsY, 1], bindings };
}
