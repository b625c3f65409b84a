/**
 * INT8 GEMM kernels, behind webtrt::Int8Conv and webtrt::Int8MatMul:
 *
 *   C = activation(x_scale * w_scale[channel] * (q(X-side operand) x W) + bias + residual)
 *
 * with q(x) = clamp(round(x / x_scale), -128, 127) (WGSL's round() rounds half to even) and
 * the product summed exactly in i32. One operand is int8 weights (an int8 tensor, stored as
 * i32 per element), the other float activations (f32, or f16 in an FP16 engine), quantized
 * as they are staged. Two layouts:
 *
 * - 'convolution' (implicit GEMM, as kernels/gemm.ts's ConvolutionLayout): A is W as
 *   [group][Cout / group][K], B is im2col(X) gathered from X on the fly, C is stored NCHW;
 *   the weight scale, bias and channel are C's row (the output channel).
 * - 'matmul': A is the activations [M, K] (batch dims folded into M), B the weights [K, N];
 *   the weight scale and bias are per column.
 *
 * Each workgroup computes a tileM x tileN block of C; each invocation threadM x threadN of it
 * in i32 registers. Operand tiles tileK deep are staged through workgroup memory with four
 * K-consecutive int8 values packed into a u32 (pack4xI8, zeros past K), so that one
 * dot4I8Packed (WGSL's packed_4x8_integer_dot_product) does four multiply-adds.
 */
import { stridesOf } from '../ir/tensor';
import { StoredTensor, withSplitK } from './conv';
import {
  axisDigit,
  Convolution as ConvolutionSizes,
  convolutionColumnSetup,
  convolutionSizes,
  ConvolutionLayout,
  GemmLimits,
  splitKPrologue
} from './gemm';
import { f32Literal, linearGrid, linearMain, readFloat, wgslType, writeFloat } from './wgsl';

/** The block of C a workgroup computes, and how K is staged and split. */
interface TileShape {
  tileM: number;
  tileN: number;
  /** K per staged tile, in int8 elements: a multiple of 16. */
  tileK: number;
  /**
   * K split into this many slices of whole tiles, each summed by workgroups of its own into
   * an i32 workspace that a second kernel adds up and finishes; 1 unless given.
   */
  splitK?: number;
}

/** Packed dot products (dot4I8Packed): each invocation computes threadM x threadN of C. */
export interface Dp4aTactic extends TileShape {
  kind: 'dp4a';
  /** Multiples of 4: registers and tiles hold vectors of four packed values along M and N. */
  threadM: number;
  threadN: number;
}

/** An i8 x i8 -> i32 subgroup matrix shape the device offers (GPUSubgroupMatrixConfig). */
export interface SubgroupMatrixShape {
  M: number;
  N: number;
  K: number;
}

/**
 * Subgroup matrices (tensor cores): each subgroup of `subgroupSize` invocations computes a
 * warpM x warpN block of the tile as matrices of `matrix`'s shape, reading both operands
 * from the workgroup tiles; the sums go through workgroup memory to the epilogue.
 */
export interface SubgroupMatrixTactic extends TileShape {
  kind: 'subgroupMatrix';
  matrix: SubgroupMatrixShape;
  subgroupSize: number;
  warpM: number;
  warpN: number;
}

export type Int8GemmTactic = Dp4aTactic | SubgroupMatrixTactic;

export type Int8GemmLayout =
  { kind: 'convolution'; convolution: ConvolutionLayout } | { kind: 'matmul' };

export type Int8GemmBindingName = 'x' | 'w' | 'w_scale' | 'bias' | 'residual' | 'y' | 'workspace';

type Int8TensorName = Exclude<Int8GemmBindingName, 'workspace'>;

export interface Int8GemmSpec {
  M: number;
  N: number;
  K: number;
  /** A convolution's groups (the GEMM's batch); 1 unless given. */
  batch?: number;
  layout: Int8GemmLayout;
  /** x_scale: the float operand's quantization step, > 0. */
  inputScale: number;
  /** X, W (int8), W's per-channel scales and Y; bias (per channel) and residual (Y's shape). */
  tensors: Record<'x' | 'w' | 'w_scale' | 'y', StoredTensor> &
    Partial<Record<'bias' | 'residual', StoredTensor>>;
  /** Applied last: a WGSL f32 expression of `x`, and the functions it calls. */
  activation?: { expression: string; helpers: string };
  tactic: Int8GemmTactic;
}

export interface Int8GemmKernel {
  /** A compute shader with entry point `main`; binding i of group 0 is `bindings[i]`. */
  code: string;
  workgroups: [number, number, number];
  /** What each binding holds, and how many elements ('workspace': i32 elements to allocate). */
  bindings: { name: Int8GemmBindingName; elements: number }[];
}

const MAX_WORKGROUPS_PER_DIMENSION = 65535;
const COMPONENTS = ['x', 'y', 'z', 'w'];

/** A convolution's layout with the sizes the kernel bakes in, and its order of K. */
interface Convolution extends ConvolutionSizes {
  /**
   * Where the channels come in fours, K runs in blocks of four channels, each block tap by
   * tap (k = (channel / 4) * 4 * kernelPoints + tap * 4 + channel % 4) rather than in W's
   * order (k = channel * kernelPoints + tap): each packed quad is then four channels at one
   * tap, whose input position and padding test are worked out once instead of four times,
   * while a K tile's weights still come from a few contiguous runs of W (a block's are
   * 4 * kernelPoints consecutive values). The sums do not depend on the order.
   */
  channelQuads: boolean;
}

/** Everything the generator derives from a spec, checked once. */
interface Plan extends Int8GemmSpec {
  batch: number;
  convolution?: Convolution;
  /** Invocations per workgroup. */
  threads: number;
  /** Slices of K (none empty), each kSlice deep (whole tiles) but the last. */
  splitK: number;
  kSlice: number;
}

/** The workgroup shape of a tactic: dp4a's is 2-D, a subgroup matrix tactic's 1-D. */
function workgroupShape(tactic: Int8GemmTactic): { x: number; y: number } {
  if (tactic.kind === 'dp4a') {
    return { x: tactic.tileN / tactic.threadN, y: tactic.tileM / tactic.threadM };
  }
  const subgroups = (tactic.tileM / tactic.warpM) * (tactic.tileN / tactic.warpN);
  return { x: subgroups * tactic.subgroupSize, y: 1 };
}

/** Workgroup memory a tactic takes: the two packed tiles, and C's for subgroup matrices. */
function tileBytes(tactic: Int8GemmTactic): number {
  const operands = tactic.tileK * (tactic.tileM + tactic.tileN);
  return tactic.kind === 'dp4a' ? operands : operands + tactic.tileM * tactic.tileN * 4;
}

/**
 * Why `tactic` cannot gather a convolution's B tile, or null when it can: each invocation
 * gathers one column of the tile, so the workgroup must be a whole number of tile columns.
 */
function gatherRestriction(tactic: Int8GemmTactic): string | null {
  const { x, y } = workgroupShape(tactic);
  const threads = x * y;
  return threads % tactic.tileN === 0
    ? null
    : `gathering a convolution's input needs the workgroup's ${threads} invocations to be a multiple of tileN ${tactic.tileN}`;
}

function checkedPlan(spec: Int8GemmSpec): Plan {
  const { M, N, K, tactic } = spec;
  const batch = spec.batch ?? 1;
  const describe = `INT8 GEMM ${M}x${N}x${K}`;
  for (const [name, value] of Object.entries({ M, N, K, batch })) {
    if (!Number.isInteger(value) || value < 1) {
      throw new Error(`${describe}: ${name} must be a positive integer, got ${value}`);
    }
  }
  if (!(spec.inputScale > 0) || !Number.isFinite(spec.inputScale)) {
    throw new Error(`${describe}: the input scale must be positive, got ${spec.inputScale}`);
  }
  const tacticName = `tactic ${JSON.stringify(tactic)}`;
  const reason = tacticRestriction(tactic);
  if (reason) {
    throw new Error(`${describe}: ${tacticName}: ${reason}`);
  }
  const requestedSplit = tactic.splitK ?? 1;
  if (!Number.isInteger(requestedSplit) || requestedSplit < 1) {
    throw new Error(`${describe}: ${tacticName}: splitK must be a positive integer`);
  }
  const { tileM, tileN, tileK } = tactic;
  const kSlice = Math.ceil(K / requestedSplit / tileK) * tileK;
  const splitK = Math.ceil(K / kSlice);
  if (
    Math.ceil(N / tileN) > MAX_WORKGROUPS_PER_DIMENSION ||
    Math.ceil(M / tileM) > MAX_WORKGROUPS_PER_DIMENSION ||
    batch * splitK > MAX_WORKGROUPS_PER_DIMENSION
  ) {
    throw new Error(`${describe} (batch ${batch}) needs more than 65535 workgroups along one axis`);
  }
  let convolution: Convolution | undefined;
  if (spec.layout.kind === 'convolution') {
    const layout = spec.layout.convolution;
    convolution = {
      ...convolutionSizes(layout, batch),
      channelQuads: (layout.inChannels / batch) % 4 === 0
    };
    const expected = {
      M: layout.outChannels / batch,
      N: layout.images * convolution.outputPoints,
      K: convolution.channelsPerGroup * convolution.kernelPoints
    };
    for (const [name, value] of Object.entries(expected)) {
      if (value !== spec[name as 'M' | 'N' | 'K']) {
        throw new Error(`${describe}: the convolution (${batch} groups) makes ${name} ${value}`);
      }
    }
    const restriction = gatherRestriction(tactic);
    if (restriction) {
      throw new Error(`${describe}: ${tacticName}: ${restriction}`);
    }
  } else if (batch !== 1) {
    throw new Error(`${describe}: a matmul folds its batch into M`);
  }
  const { x, y } = workgroupShape(tactic);
  return { ...spec, batch, convolution, threads: x * y, splitK, kSlice };
}

/** Why a tactic's sizes do not fit together, or null. */
function tacticRestriction(tactic: Int8GemmTactic): string | null {
  const { tileM, tileN, tileK } = tactic;
  const sizes =
    tactic.kind === 'dp4a'
      ? { tileM, tileN, tileK, threadM: tactic.threadM, threadN: tactic.threadN }
      : { tileM, tileN, tileK, warpM: tactic.warpM, warpN: tactic.warpN };
  for (const [name, value] of Object.entries(sizes)) {
    if (!Number.isInteger(value) || value < 1) {
      return `${name} must be a positive integer`;
    }
  }
  if (tileK % 16 !== 0) {
    return 'tileK must be a multiple of 16';
  }
  if (tactic.kind === 'dp4a') {
    const { threadM, threadN } = tactic;
    if (threadM % 4 !== 0 || threadN % 4 !== 0) {
      return 'threadM and threadN must be multiples of 4';
    }
    return tileM % threadM !== 0 || tileN % threadN !== 0
      ? 'threadM and threadN must divide tileM and tileN'
      : null;
  }
  const { warpM, warpN, matrix } = tactic;
  if (tileM % warpM !== 0 || tileN % warpN !== 0) {
    return 'warpM and warpN must divide tileM and tileN';
  }
  return warpM % matrix.M !== 0 || warpN % matrix.N !== 0 || tileK % matrix.K !== 0
    ? `warpM, warpN and tileK must be multiples of the ${matrix.M}x${matrix.N}x${matrix.K} matrices`
    : null;
}

// --- staging ----------------------------------------------------------------------------

/**
 * The statement storing `value`, the u32 holding four K-consecutive values at (kq, d) of
 * operand tile `tile` (d along M for A, N for B). dp4a tiles are laid out [kq][d] in vec4s
 * along d, for the inner loop's vector reads; subgroup matrix tiles hold i32 words, A's
 * row-major [d][K] and B's column-major (also [d][K]), as subgroupMatrixLoad reads i8.
 */
function storePacked(plan: Plan, tile: 'a' | 'b', kq: string, d: string, value: string): string {
  const { tactic } = plan;
  if (tactic.kind === 'subgroupMatrix') {
    return `${tile}_tile[(${d}) * ${tactic.tileK / 4}u + ${kq}] = bitcast<i32>(${value});`;
  }
  const extent = tile === 'a' ? tactic.tileM : tactic.tileN;
  return `${tile}_tile[(${kq}) * ${extent / 4}u + (${d}) / 4u][(${d}) & 3u] = ${value};`;
}

/**
 * Statements that fill `v` (a vec4 of the operand's type, zero) with the four values at
 * K positions k + 0..3, reading element `index(c)` where `k + c < K` (k itself is).
 */
function readQuad(
  plan: Plan,
  k: string,
  index: (c: number) => string,
  read: (at: string) => string
): string[] {
  return [0, 1, 2, 3].map(c => {
    const statement = `v.${COMPONENTS[c]} = ${read(index(c))};`;
    return c === 0 || plan.K % 4 === 0
      ? statement
      : `if (${k} + ${c}u < ${plan.K}u) { ${statement} }`;
  });
}

/** The f32 value of element `at` of X. */
function readX(plan: Plan): (at: string) => string {
  return at => readFloat(plan.tensors.x, `x[${at}]`);
}

const readW = (at: string) => `w[${at}]`;

/**
 * Whether a convolution's weights are read as vec4<i32>, one load per packed quad: where
 * K comes in fours and each quad's four weights are consecutive in W (K in W's order, or
 * a 1x1 window, where both orders agree).
 */
function weightsInVectors(plan: Plan): boolean {
  const conv = plan.convolution;
  return !!conv && plan.K % 4 === 0 && (!conv.channelQuads || conv.kernelPoints === 1);
}

/**
 * `load_a(item, row0, k0, base)`: item `item` (one row, four K values) of A's tileM x tileK
 * block at (row0, k0); `store_a(item, v)` packs it into the workgroup tile. A is row-major
 * [M, K] from `base`: W (int8) for a convolution, X (quantized as stored) for a matmul.
 */
function aStager(plan: Plan): string {
  const { M, K, tactic, convolution: conv } = plan;
  const quads = tactic.tileK / 4;
  const pack = conv ? 'pack4xI8(v)' : 'quantize4(v)';
  let reads: string[];
  if (!conv) {
    reads = [
      `let at = base + (row0 + m) * ${K}u + k;`,
      ...readQuad(plan, 'k', c => (c === 0 ? 'at' : `at + ${c}u`), readX(plan))
    ];
  } else if (weightsInVectors(plan)) {
    reads = [`v = w[(base + (row0 + m) * ${K}u + k) / 4u];`];
  } else if (conv.channelQuads) {
    // The quad's weights, four channels at one tap, lie kernelPoints apart in W.
    const taps = conv.kernelPoints;
    reads = [
      `let at = base + (row0 + m) * ${K}u + (k / ${4 * taps}u) * ${4 * taps}u + (k / 4u) % ${taps}u;`,
      ...[0, 1, 2, 3].map(
        c => `v.${COMPONENTS[c]} = ${readW(c === 0 ? 'at' : `at + ${c * taps}u`)};`
      )
    ];
  } else {
    reads = [
      `let at = base + (row0 + m) * ${K}u + k;`,
      ...readQuad(plan, 'k', c => (c === 0 ? 'at' : `at + ${c}u`), readW)
    ];
  }
  const type = conv ? 'vec4<i32>' : 'vec4<f32>';
  return `fn load_a(item: u32, row0: u32, k0: u32, base: u32) -> ${type} {
  let m = item / ${quads}u;
  let k = k0 + (item % ${quads}u) * 4u;
  var v = ${type}();
  if (row0 + m < ${M}u && k < ${K}u) {
    ${reads.join('\n    ')}
  }
  return v;
}

fn store_a(item: u32, v: ${type}) {
  ${storePacked(plan, 'a', `item % ${quads}u`, `item / ${quads}u`, pack)}
}`;
}

/**
 * `load_b(item, col0, k0)`: item `item` (one column, four K values) of a matmul's weights
 * [K, N] at (k0, col0), neighbouring invocations reading neighbouring columns; `store_b`
 * packs it into the workgroup tile.
 */
function bStager(plan: Plan): string {
  const { N, K, tactic } = plan;
  return `fn load_b(item: u32, col0: u32, k0: u32) -> vec4<i32> {
  let n = item % ${tactic.tileN}u;
  let k = k0 + (item / ${tactic.tileN}u) * 4u;
  var v = vec4<i32>();
  if (col0 + n < ${N}u && k < ${K}u) {
    let at = k * ${N}u + col0 + n;
    ${readQuad(plan, 'k', c => (c === 0 ? 'at' : `at + ${c * N}u`), readW).join('\n    ')}
  }
  return v;
}

fn store_b(item: u32, v: vec4<i32>) {
  ${storePacked(plan, 'b', `item / ${tactic.tileN}u`, `item % ${tactic.tileN}u`, 'pack4xI8(v)')}
}`;
}

/**
 * How an operand tile is staged: each invocation holds `slots` items in registers
 * (`next_a[slot]`, ...) between their loads and their stores, so that the loads for the
 * next step of K are in flight while this step's multiply-adds run. Loads and stores are
 * loops over the slots, so that each appears once in the shader.
 */
interface Staging {
  /** Declares the registers. */
  declare: string;
  /** Loads the items at `k0` into the registers. */
  load: (k0: string) => string[];
  /** Stores the registers' items into the workgroup tile. */
  store: string[];
}

/** `for` over an invocation's slots running `body` on `item`, its slot's item, if below `items`. */
function slotLoop(slots: number, item: string, items: number | undefined, body: string): string[] {
  return [
    `for (var slot = 0u; slot < ${slots}u; slot++) {`,
    `  let item = ${item};`,
    items === undefined ? `  ${body}` : `  if (item < ${items}u) { ${body} }`,
    '}'
  ];
}

/**
 * Staging through functions `load_${tile}(item, origin, k0[, base])` and `store_${tile}`,
 * items `lidx + slot * threads` of `items`.
 */
function itemStaging(
  plan: Plan,
  tile: 'a' | 'b',
  items: number,
  origin: string,
  base = ''
): Staging {
  const slots = Math.ceil(items / plan.threads);
  const item = `lidx + slot * ${plan.threads}u`;
  const type = tile === 'a' && !plan.convolution ? 'vec4<f32>' : 'vec4<i32>';
  const args = (k0: string) => ['item', origin, k0, base].filter(a => a).join(', ');
  const exact = slots * plan.threads === items;
  return {
    declare: `var next_${tile}: array<${type}, ${slots}>;`,
    // Past the items, an invocation's last slot loads something harmless and stores nothing.
    load: k0 => slotLoop(slots, item, undefined, `next_${tile}[slot] = load_${tile}(${args(k0)});`),
    store: slotLoop(
      slots,
      item,
      exact ? undefined : items,
      `store_${tile}(item, next_${tile}[slot]);`
    )
  };
}

/**
 * Where a window tap falls in the input, for the invocation's output point (its window
 * origin `b_window_d` per axis): statements defining `${name}_d` per axis from `tap`, an
 * expression whose digits (kernel strides) are the tap's per-axis positions (its first
 * digit unbounded unless `firstBounded`), the conditions that keep the position inside
 * the input (the padding reads as zero), and its offset terms within a channel.
 */
function windowPosition(
  conv: Convolution,
  name: string,
  tap: string,
  firstBounded: boolean
): { lines: string[]; conditions: string[]; offsets: string[] } {
  const inStrides = stridesOf(conv.axes.map(a => a.input));
  const kernelStrides = stridesOf(conv.axes.map(a => a.kernel));
  const lines: string[] = [];
  const conditions: string[] = [];
  const offsets: string[] = [];
  conv.axes.forEach((a, d) => {
    const input = `${name}_${d}`;
    const along =
      a.kernel === 1
        ? ''
        : ` + i32(${axisDigit(tap, kernelStrides[d], a.kernel, firstBounded && d === 0)}) * ${a.dilation}i`;
    lines.push(`let ${input} = b_window_${d}${along};`);
    const reachesEnd = (a.output - 1) * a.stride - a.padBegin + (a.kernel - 1) * a.dilation;
    if (a.padBegin > 0 && reachesEnd >= a.input) {
      conditions.push(`u32(${input}) < ${a.input}u`);
    } else if (a.padBegin > 0) {
      conditions.push(`${input} >= 0i`);
    } else if (reachesEnd >= a.input) {
      conditions.push(`${input} < ${a.input}i`);
    }
    offsets.push(inStrides[d] === 1 ? `u32(${input})` : `u32(${input}) * ${inStrides[d]}u`);
  });
  return { lines, conditions, offsets };
}

/**
 * A channel quad's gather (`k` a multiple of 4): four channels at one tap, one window
 * position and padding test for all four, then four reads a channel apart.
 */
function channelQuad(plan: Plan, conv: Convolution): string[] {
  const { K } = plan;
  const { kernelPoints, inputPoints } = conv;
  const single = kernelPoints === 1;
  const window = windowPosition(conv, 'i', single ? '0u' : 'tap', true);
  const channel = single ? 'k' : `(k / ${4 * kernelPoints}u) * 4u`;
  const at = `b_image_base + ${[`(${channel}) * ${inputPoints}u`, ...window.offsets].join(' + ')}`;
  const read = readX(plan);
  const quad = [0, 1, 2, 3].map(c => read(c === 0 ? 'at' : `at + ${c * inputPoints}u`));
  const conditions = [`k < ${K}u`, ...window.conditions];
  return [
    ...(single ? [] : [`let tap = (k / 4u) % ${kernelPoints}u;`]),
    ...window.lines,
    `if (${conditions.join(' && ')}) {`,
    `  let at = ${at};`,
    `  v = vec4<f32>(${quad.join(', ')});`,
    '}'
  ].map(line => `    ${line}`);
}

/**
 * A convolution's B staging: each invocation owns one column of the tile, an output point
 * whose window origin it locates once (`setup`), and gathers that column's packed rows
 * (four consecutive positions along K each) from X on every step of K (`staging`).
 * Window positions in the padding read as zeros.
 */
function gatherer(plan: Plan, conv: Convolution): { setup: string[]; staging: Staging } {
  const { N, K, tactic } = plan;
  const threads = plan.threads;
  const setup = convolutionColumnSetup(conv, tactic.tileN);
  const element = (c: number) => {
    const kk = `kk_${c}`;
    // K in W's order: the tap is kk % kernelPoints, the channel kk / kernelPoints.
    const window = windowPosition(conv, `i_${c}`, kk, false);
    const offsets = [`(${kk} / ${conv.kernelPoints}u) * ${conv.inputPoints}u`, ...window.offsets];
    const read = readX(plan)(`b_image_base + ${offsets.join(' + ')}`);
    const conditions = [`${kk} < ${K}u`, ...window.conditions];
    return [
      `let ${kk} = k + ${c}u;`,
      ...window.lines,
      `if (${conditions.join(' && ')}) { v.${COMPONENTS[c]} = ${read}; }`
    ].map(line => `    ${line}`);
  };
  const gatherQuad = conv.channelQuads ? channelQuad(plan, conv) : [0, 1, 2, 3].flatMap(element);
  const quads = tactic.tileK / 4;
  const rowsAtOnce = threads / tactic.tileN;
  const slots = Math.ceil(quads / rowsAtOnce);
  const row = `lidx / ${tactic.tileN}u + slot * ${rowsAtOnce}u`;
  const staging: Staging = {
    declare: `var next_b: array<vec4<f32>, ${slots}>;`,
    // Past the tile's rows, an invocation's last slot gathers something harmless and
    // stores nothing.
    load: k0 => [
      `for (var slot = 0u; slot < ${slots}u; slot++) {`,
      `  let k = ${k0} + (${row}) * 4u;`,
      '  var v = vec4<f32>();',
      `  if (b_n < ${N}u) {`,
      ...gatherQuad,
      '  }',
      '  next_b[slot] = v;',
      '}'
    ],
    store: slotLoop(
      slots,
      row,
      slots * rowsAtOnce === quads ? undefined : quads,
      storePacked(plan, 'b', 'item', 'b_col', 'quantize4(next_b[slot])')
    )
  };
  return { setup, staging };
}

/** q(x) of four values, packed: clamp(round(x / x_scale), -128, 127), ties to even. */
function quantizer(plan: Plan): string {
  return `fn quantize4(v: vec4<f32>) -> u32 {
  let q = clamp(round(v / ${f32Literal(plan.inputScale)}), vec4<f32>(-128.0), vec4<f32>(127.0));
  return pack4xI8(vec4<i32>(q));
}`;
}

// --- the epilogue -----------------------------------------------------------------------

/** The element of C (and of the residual) at (batch, row, col). */
function outputIndex(plan: Plan): string {
  const { M, N, convolution: conv } = plan;
  if (!conv) {
    return `row * ${N}u + col`;
  }
  const image = `col / ${conv.outputPoints}u`;
  const point = `col % ${conv.outputPoints}u`;
  return `(${image} * ${conv.outChannels}u + batch * ${M}u + row) * ${conv.outputPoints}u + ${point}`;
}

/**
 * `finish(batch, row, col, sum)`: one element of C from its exact sum: scaled, plus bias
 * and residual, activated, stored in Y's storage.
 */
function finisher(plan: Plan): string {
  const { M, N, tensors, activation } = plan;
  const channel = plan.convolution ? `batch * ${M}u + row` : 'col';
  const lines = [
    `let channel = ${channel};`,
    `let index = ${outputIndex(plan)};`,
    `var v = f32(sum) * (${f32Literal(plan.inputScale)} * ${readFloat(tensors.w_scale, 'w_scale[channel]')});`
  ];
  if (tensors.bias) {
    lines.push(`v += ${readFloat(tensors.bias, 'bias[channel]')};`);
  }
  if (tensors.residual) {
    lines.push(`v += ${readFloat(tensors.residual, 'residual[index]')};`);
  }
  if (activation) {
    lines.push('v = activation(v);');
  }
  lines.push(`y[index] = ${writeFloat(tensors.y, 'v')};`);
  const functions = activation
    ? [activation.helpers, `fn activation(x: f32) -> f32 {\n  return ${activation.expression};\n}`]
    : [];
  return [
    ...functions.filter(f => f !== ''),
    `fn finish(batch: u32, row: u32, col: u32, sum: i32) {
  if (row >= ${M}u || col >= ${N}u) {
    return;
  }
  ${lines.join('\n  ')}
}`
  ].join('\n\n');
}

/** Elements each tensor binding holds. */
function elementsOf(plan: Plan, name: Int8TensorName): number {
  const { M, N, K, batch, convolution: conv } = plan;
  const channels = conv ? conv.outChannels : N;
  const outputs = batch * M * N;
  switch (name) {
    case 'x':
      return conv ? conv.images * conv.inChannels * conv.inputPoints : M * K;
    case 'w':
      return conv ? batch * M * K : K * N;
    case 'w_scale':
    case 'bias':
      return channels;
    case 'residual':
    case 'y':
      return outputs;
  }
}

function declaration(plan: Plan, index: number, name: Int8GemmBindingName): string {
  const scalar = name === 'workspace' ? 'i32' : wgslType(plan.tensors[name]!);
  const type = name === 'w' && weightsInVectors(plan) ? `vec4<${scalar}>` : scalar;
  const access = name === 'y' || name === 'workspace' ? 'read_write' : 'read';
  return `@group(0) @binding(${index}) var<storage, ${access}> ${name}: array<${type}>;`;
}

/** The bindings of the kernel that stores Y: the epilogue's inputs and Y. */
function epilogueBindings(plan: Plan): Int8TensorName[] {
  const names: Int8TensorName[] = ['w_scale'];
  if (plan.tensors.bias) {
    names.push('bias');
  }
  if (plan.tensors.residual) {
    names.push('residual');
  }
  names.push('y');
  return names;
}

// --- the kernels ------------------------------------------------------------------------

/** The statements and declarations of one kind of tactic's inner product. */
interface InnerProduct {
  /** Workgroup arrays besides nothing else: the operand tiles (and C's, if any). */
  workgroupArrays: string[];
  /** Before the K loop: accumulators. */
  setup: string[];
  /** Once a K step's tiles are staged: the multiply-adds. */
  step: string[];
  /** After the K loop: each sum of the workgroup's block to `deliver(row, col, sum)`. */
  deliver: (deliver: (row: string, col: string, sum: string) => string) => string[];
  workgroupSize: string;
  /** Builtins besides workgroup_id and local_invocation_index. */
  builtins: string[];
  /** Attributes of the entry point. */
  attributes: string[];
  enable?: string;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * dp4a: invocation (tx, ty) owns rows ty * threadM + i and column vectors j * threadsX + tx
 * (interleaved, so neighbouring invocations read neighbouring workgroup memory), and
 * accumulates their sums in vec4<i32> registers.
 */
function dp4aProduct(plan: Plan, tactic: Dp4aTactic): InnerProduct {
  const { tileM, tileN, tileK, threadM, threadN } = tactic;
  const quads = tileK / 4;
  const { x: threadsX, y: threadsY } = workgroupShape(tactic);
  const rowVectors = threadM / 4;
  const columnVectors = threadN / 4;
  const accumulator = (i: number, j: number) => `acc_${i}_${j}`;
  const each = <T>(f: (i: number, j: number) => T) =>
    range(threadM).flatMap(i => range(columnVectors).map(j => f(i, j)));
  return {
    workgroupArrays: [
      `var<workgroup> a_tile: array<vec4<u32>, ${(quads * tileM) / 4}>;`,
      `var<workgroup> b_tile: array<vec4<u32>, ${(quads * tileN) / 4}>;`
    ],
    setup: each((i, j) => `var ${accumulator(i, j)} = vec4<i32>();`),
    step: [
      `for (var kq = 0u; kq < ${quads}u; kq++) {`,
      ...range(rowVectors).map(
        q => `  let a_${q} = a_tile[kq * ${tileM / 4}u + lid.y * ${rowVectors}u + ${q}u];`
      ),
      ...range(columnVectors).map(
        j => `  let b_${j} = b_tile[kq * ${tileN / 4}u + ${j * threadsX}u + lid.x];`
      ),
      ...each((i, j) => {
        const a = `a_${Math.floor(i / 4)}.${COMPONENTS[i % 4]}`;
        const dots = COMPONENTS.map(c => `dot4I8Packed(${a}, b_${j}.${c})`);
        return `  ${accumulator(i, j)} += vec4<i32>(${dots.join(', ')});`;
      }),
      '}'
    ],
    deliver: deliver =>
      each((i, j) =>
        range(4).map(c =>
          deliver(
            `row0 + lid.y * ${threadM}u + ${i}u`,
            `col0 + ${j * threadsX * 4 + c}u + lid.x * 4u`,
            `${accumulator(i, j)}.${COMPONENTS[c]}`
          )
        )
      ).flat(),
    workgroupSize: `${threadsX}, ${threadsY}`,
    builtins: ['@builtin(local_invocation_id) lid: vec3<u32>'],
    attributes: []
  };
}

/**
 * Subgroup matrices: subgroup s owns the warpM x warpN block at (s / warps along N,
 * s % warps along N) and multiplies i8 matrices loaded from the workgroup tiles into i32
 * result matrices; these are stored to a workgroup tile of C, from which every invocation
 * delivers its share of the sums.
 */
function subgroupMatrixProduct(plan: Plan, tactic: SubgroupMatrixTactic): InnerProduct {
  const { tileM, tileN, tileK, warpM, warpN, matrix } = tactic;
  const warpsN = tileN / warpN;
  const rows = warpM / matrix.M;
  const columns = warpN / matrix.N;
  const left = `subgroup_matrix_left<i8, ${matrix.K}, ${matrix.M}>`;
  const right = `subgroup_matrix_right<i8, ${matrix.N}, ${matrix.K}>`;
  const result = `subgroup_matrix_result<i32, ${matrix.N}, ${matrix.M}>`;
  const accumulator = (i: number, j: number) => `acc_${i}_${j}`;
  const each = <T>(f: (i: number, j: number) => T) =>
    range(rows).flatMap(i => range(columns).map(j => f(i, j)));
  const row = (i: number) => `warp_row + ${i * matrix.M}u`;
  const column = (j: number) => `warp_col + ${j * matrix.N}u`;
  // Offsets and strides of i8 matrices count bytes; both tiles hold [d][K] bytes.
  const step = range(tileK / matrix.K).flatMap(step => {
    const k = step * matrix.K;
    return [
      ...range(rows).map(
        i =>
          `let a_${step}_${i} = subgroupMatrixLoad<${left}>(&a_tile, (${row(i)}) * ${tileK}u + ${k}u, false, ${tileK}u);`
      ),
      ...range(columns).map(
        j =>
          `let b_${step}_${j} = subgroupMatrixLoad<${right}>(&b_tile, (${column(j)}) * ${tileK}u + ${k}u, true, ${tileK}u);`
      ),
      ...each(
        (i, j) =>
          `${accumulator(i, j)} = subgroupMatrixMultiplyAccumulate(a_${step}_${i}, b_${step}_${j}, ${accumulator(i, j)});`
      )
    ];
  });
  return {
    workgroupArrays: [
      `var<workgroup> a_tile: array<i32, ${(tileM * tileK) / 4}>;`,
      `var<workgroup> b_tile: array<i32, ${(tileN * tileK) / 4}>;`,
      `var<workgroup> c_tile: array<i32, ${tileM * tileN}>;`
    ],
    setup: [
      `let warp_row = (subgroup / ${warpsN}u) * ${warpM}u;`,
      `let warp_col = (subgroup % ${warpsN}u) * ${warpN}u;`,
      ...each((i, j) => `var ${accumulator(i, j)} = ${result}();`)
    ],
    step,
    deliver: deliver => [
      ...each(
        (i, j) =>
          `subgroupMatrixStore(&c_tile, (${row(i)}) * ${tileN}u + ${column(j)}, ${accumulator(i, j)}, false, ${tileN}u);`
      ),
      'workgroupBarrier();',
      `for (var e = lidx; e < ${tileM * tileN}u; e += ${plan.threads}u) {`,
      `  ${deliver(`row0 + e / ${tileN}u`, `col0 + e % ${tileN}u`, 'c_tile[e]')}`,
      '}'
    ],
    workgroupSize: `${plan.threads}`,
    builtins: ['@builtin(subgroup_id) subgroup: u32'],
    // Each subgroup's operands are uniform within it, which WGSL's analysis (workgroup
    // scope) cannot see.
    attributes: ['@diagnostic(off, chromium_experimental.subgroup_matrix_uniformity)'],
    enable: 'enable subgroups;\nenable chromium_experimental_subgroup_matrix;'
  };
}

/** The tiled product: Y through the epilogue, or with a split K each slice's sums. */
function productKernel(plan: Plan): Int8GemmKernel {
  const { M, N, K, batch, tactic, splitK, convolution: conv } = plan;
  const { tileM, tileN, tileK } = tactic;
  const quads = tileK / 4;
  const names: Int8GemmBindingName[] = [
    'x',
    'w',
    ...(splitK > 1 ? ['workspace' as const] : epilogueBindings(plan))
  ];
  const bindings = names.map(name => ({
    name,
    elements: name === 'workspace' ? splitK * batch * M * N : elementsOf(plan, name)
  }));
  const functions = [quantizer(plan), aStager(plan)];
  if (!conv) {
    functions.push(bStager(plan));
  }
  functions.push(
    splitK > 1
      ? `fn store_partial(batch: u32, slice: u32, row: u32, col: u32, sum: i32) {
  if (row < ${M}u && col < ${N}u) {
    workspace[((slice * ${batch}u + batch) * ${M}u + row) * ${N}u + col] = sum;
  }
}`
      : finisher(plan)
  );
  const inner =
    tactic.kind === 'dp4a' ? dp4aProduct(plan, tactic) : subgroupMatrixProduct(plan, tactic);

  const gather = conv && gatherer(plan, conv);
  const prologue = splitKPrologue(splitK, plan.kSlice, K);
  prologue.push(`let a_base = batch * ${M * K}u;`);
  const stagings = [
    itemStaging(plan, 'a', quads * tileM, 'row0', 'a_base'),
    gather ? gather.staging : itemStaging(plan, 'b', quads * tileN, 'col0')
  ];
  const deliver = (row: string, col: string, sum: string) =>
    splitK > 1
      ? `store_partial(batch, slice, ${row}, ${col}, ${sum});`
      : `finish(batch, ${row}, ${col}, ${sum});`;
  const body = [
    ...prologue,
    ...(gather ? gather.setup : []),
    ...inner.setup,
    ...stagings.map(staging => staging.declare),
    // Step i stores the operands step i - 1 loaded, starts loading step i's, and multiplies
    // step i - 1's: one step more than K has, the first only loading, the last not.
    `for (var k0 = k_begin; k0 < k_end + ${tileK}u; k0 += ${tileK}u) {`,
    '  if (k0 > k_begin) {',
    ...stagings.flatMap(staging => staging.store).map(s => `    ${s}`),
    '  }',
    '  workgroupBarrier();',
    '  if (k0 < k_end) {',
    ...stagings.flatMap(staging => staging.load('k0')).map(s => `    ${s}`),
    '  }',
    '  if (k0 > k_begin) {',
    ...inner.step.map(s => `    ${s}`),
    '  }',
    '  workgroupBarrier();',
    '}',
    ...inner.deliver(deliver)
  ];
  const builtins = [
    '@builtin(workgroup_id) wid: vec3<u32>',
    '@builtin(local_invocation_index) lidx: u32',
    ...inner.builtins
  ];

  const code = `${inner.enable ? `${inner.enable}\n` : ''}${names.map((name, i) => declaration(plan, i, name)).join('\n')}

${inner.workgroupArrays.join('\n')}

${functions.filter(f => f !== '').join('\n\n')}

@compute @workgroup_size(${inner.workgroupSize})
${inner.attributes.map(a => `${a}\n`).join('')}fn main(${builtins.join(', ')}) {
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
 * Split K's second kernel: one invocation per element of C adds up the slices' exact sums
 * and finishes it through the epilogue.
 */
function reduceKernel(plan: Plan): Int8GemmKernel {
  const { M, N, batch, splitK } = plan;
  const count = batch * M * N;
  const names: Int8GemmBindingName[] = ['workspace', ...epilogueBindings(plan)];
  const body = `  let col = index % ${N}u;
  let row = (index / ${N}u) % ${M}u;
  let batch = index / ${M * N}u;
  var sum = 0i;
  for (var slice = 0u; slice < ${splitK}u; slice++) {
    sum += workspace[slice * ${count}u + index];
  }
  finish(batch, row, col, sum);`;
  const code = [
    ...names.map((name, i) => declaration(plan, i, name)),
    finisher(plan),
    linearMain(count, body)
  ].join('\n');
  const [x, y] = linearGrid(count);
  return {
    code,
    workgroups: [x, y, 1],
    bindings: names.map(name => ({
      name,
      elements: name === 'workspace' ? splitK * count : elementsOf(plan, name)
    }))
  };
}

/**
 * The kernels for one INT8 product, tactic and epilogue, to dispatch in order: one, or for a
 * tactic that splits K, the product into the i32 workspace and the kernel that sums it
 * into Y.
 */
export function int8GemmKernels(spec: Int8GemmSpec): Int8GemmKernel[] {
  const plan = checkedPlan(spec);
  return plan.splitK > 1 ? [productKernel(plan), reduceKernel(plan)] : [productKernel(plan)];
}

// --- tactics ----------------------------------------------------------------------------

/**
 * dp4a tiles. The first is the default where the problem fills it: 256 invocations of 4x4
 * outputs, which keeps enough warps in flight to hide the gathers' latency.
 */
const DP4A_TILES: Omit<Dp4aTactic, 'kind'>[] = [
  { tileM: 64, tileN: 64, tileK: 32, threadM: 4, threadN: 4 },
  { tileM: 128, tileN: 128, tileK: 32, threadM: 8, threadN: 8 },
  { tileM: 128, tileN: 64, tileK: 32, threadM: 8, threadN: 4 },
  { tileM: 64, tileN: 128, tileK: 32, threadM: 4, threadN: 8 },
  { tileM: 64, tileN: 64, tileK: 64, threadM: 8, threadN: 8 },
  { tileM: 32, tileN: 32, tileK: 64, threadM: 4, threadN: 4 },
  // Small products (a 7x7 map at batch 1) need many small workgroups to occupy the GPU.
  { tileM: 32, tileN: 16, tileK: 64, threadM: 4, threadN: 4 },
  { tileM: 16, tileN: 32, tileK: 64, threadM: 4, threadN: 4 },
  { tileM: 16, tileN: 16, tileK: 64, threadM: 4, threadN: 4 }
];

/** Subgroup matrix tiles, for 16x16 (or 16x8) matrices; each subgroup a 32x32 block or less. */
const SUBGROUP_MATRIX_TILES: Pick<
  SubgroupMatrixTactic,
  'tileM' | 'tileN' | 'tileK' | 'warpM' | 'warpN'
>[] = [
  { tileM: 64, tileN: 64, tileK: 64, warpM: 32, warpN: 32 },
  { tileM: 128, tileN: 64, tileK: 32, warpM: 32, warpN: 32 },
  { tileM: 64, tileN: 128, tileK: 32, warpM: 32, warpN: 32 },
  { tileM: 32, tileN: 32, tileK: 64, warpM: 16, warpN: 16 }
];

/** What a device offers for the subgroup matrix tactics. */
export interface SubgroupMatrixSupport {
  /** i8 x i8 -> i32 shapes, largest first. */
  shapes: SubgroupMatrixShape[];
  /** The one subgroup size the device runs (min and max agree). */
  subgroupSize: number;
}

/** The adapter's subgroup matrix configs, as Dawn reports them in GPUAdapterInfo. */
interface SubgroupMatrixConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

/**
 * Configs by device, from its adapter: Dawn's `device.adapterInfo` lists none (its
 * adapter's `info` does), so whoever requests a device hands them over here.
 */
const configsByDevice = new WeakMap<GPUDevice, readonly SubgroupMatrixConfig[]>();

/** Records the subgroup matrix configs of the adapter `device` was requested from. */
export function rememberSubgroupMatrixConfigs(device: GPUDevice, adapter: GPUAdapter): void {
  const configs = (adapter.info as { subgroupMatrixConfigs?: readonly SubgroupMatrixConfig[] })
    .subgroupMatrixConfigs;
  if (configs?.length) {
    configsByDevice.set(device, configs);
  }
}

/**
 * The i8 subgroup matrices `device` offers, or undefined: it needs the device feature
 * 'chromium-experimental-subgroup-matrix', an i8 -> i32 config whose M and N are 8 or 16
 * and K divides 32, and one fixed subgroup size (the kernels split a workgroup into
 * subgroups by it).
 */
export function subgroupMatrixSupport(device: GPUDevice): SubgroupMatrixSupport | undefined {
  if (!device.features.has('chromium-experimental-subgroup-matrix')) {
    return undefined;
  }
  const info = device.adapterInfo as GPUAdapterInfo & {
    subgroupMatrixConfigs?: readonly SubgroupMatrixConfig[];
    subgroupMinSize?: number;
    subgroupMaxSize?: number;
  };
  const size = info.subgroupMaxSize;
  if (!size || info.subgroupMinSize !== size) {
    return undefined;
  }
  const configs = info.subgroupMatrixConfigs?.length
    ? info.subgroupMatrixConfigs
    : (configsByDevice.get(device) ?? []);
  const shapes = configs
    .filter(
      c =>
        c.componentType === 'i8' &&
        c.resultComponentType === 'i32' &&
        [8, 16].includes(c.M) &&
        [8, 16].includes(c.N) &&
        32 % c.K === 0
    )
    .map(({ M, N, K }) => ({ M, N, K }))
    .sort((a, b) => b.M * b.N - a.M * a.N);
  return shapes.length > 0 ? { shapes, subgroupSize: size } : undefined;
}

function nextPowerOfTwo(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, n)));
}

/**
 * The tactics worth timing for an INT8 product, the default first: the dp4a candidates,
 * then (where `subgroupMatrices` is given) the subgroup matrix ones, that the device's
 * limits allow and whose tiles are not larger than the problem needs (twice the next power
 * of two of a dimension); each as is and, where its workgroups are too few to occupy a
 * large GPU and K is long, with K split (kernels/conv.ts's splitFor). `gathered`: B is a
 * convolution's input, which restricts the workgroup shape.
 */
export function int8GemmTactics(
  limits: GemmLimits,
  problem: { M: number; N: number; K: number; batch?: number; gathered: boolean },
  subgroupMatrices?: SubgroupMatrixSupport
): Int8GemmTactic[] {
  const { M, N, K, batch = 1, gathered } = problem;
  const fits = (tactic: Int8GemmTactic) => {
    const { x, y } = workgroupShape(tactic);
    return (
      x * y <= limits.maxComputeInvocationsPerWorkgroup &&
      x <= limits.maxComputeWorkgroupSizeX &&
      y <= limits.maxComputeWorkgroupSizeY &&
      tileBytes(tactic) <= limits.maxComputeWorkgroupStorageSize &&
      (!gathered || gatherRestriction(tactic) === null)
    );
  };
  const sized = (tactic: Int8GemmTactic) =>
    tactic.tileM <= nextPowerOfTwo(M) * 2 &&
    tactic.tileN <= nextPowerOfTwo(N) * 2 &&
    tactic.tileK <= nextPowerOfTwo(K) * 2;
  const dp4a = DP4A_TILES.map(tile => ({ kind: 'dp4a' as const, ...tile })).filter(fits);
  const dp4aSized = dp4a.filter(sized);
  const size = { M, N, K, batch };
  const tactics: Int8GemmTactic[] = withSplitK(
    dp4aSized.length > 0 ? dp4aSized : dp4a.slice(-1),
    size
  );
  if (subgroupMatrices) {
    const [matrix] = subgroupMatrices.shapes;
    const tiles = SUBGROUP_MATRIX_TILES.map((tile): SubgroupMatrixTactic => ({
      kind: 'subgroupMatrix',
      ...tile,
      matrix,
      subgroupSize: subgroupMatrices.subgroupSize
    }));
    tactics.push(
      ...withSplitK(
        tiles.filter(t => fits(t) && sized(t)),
        size
      )
    );
  }
  return tactics;
}

/**
 * A short name for the tuner and layer reports, e.g. 'int8 dp4a 64x64x32 4x4' or
 * 'int8 subgroup matrix 64x64x64 warp 32x32 16x16x32'.
 */
export function int8GemmTacticName(t: Int8GemmTactic): string {
  const split = (t.splitK ?? 1) > 1 ? `, K split ${t.splitK} ways` : '';
  const tile = `${t.tileM}x${t.tileN}x${t.tileK}`;
  if (t.kind === 'dp4a') {
    return `int8 dp4a ${tile} ${t.threadM}x${t.threadN}${split}`;
  }
  const { M, N, K } = t.matrix;
  return `int8 subgroup matrix ${tile} warp ${t.warpM}x${t.warpN} ${M}x${N}x${K}${split}`;
}

/** The WGSL language feature the kernels' dot4I8Packed and pack4xI8 need. */
export const PACKED_DOT_PRODUCT_FEATURE = 'packed_4x8_integer_dot_product';

/**
 * Why WGSL's packed 4x8 integer dot product is not available, or null when it is or cannot
 * be told: browsers list their WGSL language features in navigator.gpu; Node has no
 * navigator, and Dawn (the `webgpu` package) has offered this feature since 2024.
 */
export function packedDotProductMissing(): string | null {
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  const features = gpu?.wgslLanguageFeatures;
  return features && !features.has(PACKED_DOT_PRODUCT_FEATURE)
    ? `this browser's WGSL lacks ${PACKED_DOT_PRODUCT_FEATURE}`
    : null;
}
