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
import { splitFor, StoredTensor } from './conv';
import { ConvolutionLayout, GemmLimits } from './gemm';
import { f32Literal, linearGrid, linearMain, readFloat, wgslType, writeFloat } from './wgsl';

/** How a tactic spreads the product over workgroups, invocations and registers. */
export interface Int8GemmTactic {
  tileM: number;
  tileN: number;
  /** K per staged tile, in int8 elements: a multiple of 16. */
  tileK: number;
  /** Multiples of 4: registers and tiles hold vectors of four packed values along M and N. */
  threadM: number;
  threadN: number;
  /**
   * K split into this many slices of whole tiles, each summed by workgroups of its own into
   * an i32 workspace that a second kernel adds up and finishes; 1 unless given.
   */
  splitK?: number;
}

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

/** A convolution's layout with the sizes the kernel bakes in. */
interface Convolution extends ConvolutionLayout {
  inputPoints: number;
  outputPoints: number;
  kernelPoints: number;
  channelsPerGroup: number;
}

/** Everything the generator derives from a spec, checked once. */
interface Plan extends Int8GemmSpec {
  batch: number;
  convolution?: Convolution;
  threadsX: number;
  threadsY: number;
  /** Slices of K (none empty), each kSlice deep (whole tiles) but the last. */
  splitK: number;
  kSlice: number;
}

/** The workgroup shape of a tactic. */
function workgroupShape(tactic: Int8GemmTactic): { threadsX: number; threadsY: number } {
  return { threadsX: tactic.tileN / tactic.threadN, threadsY: tactic.tileM / tactic.threadM };
}

/** Workgroup memory a tactic's two packed tiles take. */
function tileBytes(tactic: Int8GemmTactic): number {
  return tactic.tileK * (tactic.tileM + tactic.tileN);
}

/**
 * Why `tactic` cannot gather a convolution's B tile, or null when it can: each invocation
 * gathers one column of the tile, so the workgroup must be a whole number of tile columns.
 */
function gatherRestriction(tactic: Int8GemmTactic): string | null {
  const { threadsX, threadsY } = workgroupShape(tactic);
  const threads = threadsX * threadsY;
  return threads % tactic.tileN === 0
    ? null
    : `gathering a convolution's input needs the workgroup's ${threads} invocations to be a multiple of tileN ${tactic.tileN}`;
}

function product(values: readonly number[]): number {
  return values.reduce((p, v) => p * v, 1);
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
  const { tileM, tileN, tileK, threadM, threadN } = tactic;
  const tacticName = `tactic ${JSON.stringify(tactic)}`;
  for (const [name, value] of Object.entries({ tileM, tileN, tileK, threadM, threadN })) {
    if (!Number.isInteger(value) || value < 1) {
      throw new Error(`${describe}: ${tacticName}: ${name} must be a positive integer`);
    }
  }
  if (threadM % 4 !== 0 || threadN % 4 !== 0 || tileK % 16 !== 0) {
    throw new Error(
      `${describe}: ${tacticName}: threadM and threadN must be multiples of 4, tileK of 16`
    );
  }
  if (tileM % threadM !== 0 || tileN % threadN !== 0) {
    throw new Error(`${describe}: ${tacticName}: threadM and threadN must divide tileM and tileN`);
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
  let convolution: Convolution | undefined;
  if (spec.layout.kind === 'convolution') {
    const layout = spec.layout.convolution;
    convolution = {
      ...layout,
      inputPoints: product(layout.axes.map(a => a.input)),
      outputPoints: product(layout.axes.map(a => a.output)),
      kernelPoints: product(layout.axes.map(a => a.kernel)),
      channelsPerGroup: layout.inChannels / batch
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
  return { ...spec, batch, convolution, ...workgroupShape(tactic), splitK, kSlice };
}

// --- staging ----------------------------------------------------------------------------

/** The u32 holding four K-consecutive values of a tile laid out [k / 4][extent] in vec4s. */
function packedTileElement(tile: string, tileExtent: number, kq: string, d: string): string {
  return `${tile}[(${kq}) * ${tileExtent / 4}u + (${d}) / 4u][(${d}) & 3u]`;
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
 * `stage_a(item, row0, k0, base)`: packs item `item` (one row, four K values) of A's
 * tileM x tileK block at (row0, k0) into the workgroup tile. A is row-major [M, K] from
 * `base`: W (int8) for a convolution, X (quantized) for a matmul.
 */
function aStager(plan: Plan): string {
  const { M, K, tactic } = plan;
  const quads = tactic.tileK / 4;
  const weights = plan.layout.kind === 'convolution';
  const read = weights ? readW : readX(plan);
  const pack = weights ? 'pack4xI8(v)' : 'quantize4(v)';
  return `fn stage_a(item: u32, row0: u32, k0: u32, base: u32) {
  let m = item / ${quads}u;
  let k = k0 + (item % ${quads}u) * 4u;
  var v = ${weights ? 'vec4<i32>' : 'vec4<f32>'}();
  if (row0 + m < ${M}u && k < ${K}u) {
    let at = base + (row0 + m) * ${K}u + k;
    ${readQuad(plan, 'k', c => (c === 0 ? 'at' : `at + ${c}u`), read).join('\n    ')}
  }
  ${packedTileElement('a_tile', tactic.tileM, `item % ${quads}u`, 'm')} = ${pack};
}`;
}

/**
 * `stage_b(item, col0, k0)`: packs item `item` (one column, four K values) of a matmul's
 * weights [K, N] at (k0, col0) into the workgroup tile; neighbouring invocations read
 * neighbouring columns.
 */
function bStager(plan: Plan): string {
  const { N, K, tactic } = plan;
  return `fn stage_b(item: u32, col0: u32, k0: u32) {
  let n = item % ${tactic.tileN}u;
  let kq = item / ${tactic.tileN}u;
  let k = k0 + kq * 4u;
  var v = vec4<i32>();
  if (col0 + n < ${N}u && k < ${K}u) {
    let at = k * ${N}u + col0 + n;
    ${readQuad(plan, 'k', c => (c === 0 ? 'at' : `at + ${c * N}u`), readW).join('\n    ')}
  }
  ${packedTileElement('b_tile', tactic.tileN, 'kq', 'n')} = pack4xI8(v);
}`;
}

/** `(value / stride) % size` without the operations that change nothing. */
function digit(value: string, stride: number, size: number, bounded: boolean): string {
  const quotient = stride === 1 ? value : `(${value} / ${stride}u)`;
  return bounded ? quotient : `${quotient} % ${size}u`;
}

/**
 * A convolution's B staging: each invocation owns one column of the tile, an output point
 * whose window origin it locates once (`setup`), and gathers that column's packed rows
 * (four consecutive input channel x kernel point positions each) from X on every step of
 * K (`stage`). Window positions in the padding read as zeros.
 */
function gatherer(plan: Plan, conv: Convolution): { setup: string[]; stage: string[] } {
  const { N, K, tactic } = plan;
  const threads = plan.threadsX * plan.threadsY;
  const outStrides = stridesOf(conv.axes.map(a => a.output));
  const inStrides = stridesOf(conv.axes.map(a => a.input));
  const kernelStrides = stridesOf(conv.axes.map(a => a.kernel));
  const setup = [
    `let b_col = lidx % ${tactic.tileN}u;`,
    'let b_n = col0 + b_col;',
    `let b_image = b_n / ${conv.outputPoints}u;`,
    `let b_point = b_n % ${conv.outputPoints}u;`,
    `let b_image_base = (b_image * ${conv.inChannels}u + batch * ${conv.channelsPerGroup}u) * ${conv.inputPoints}u;`,
    ...conv.axes.map(
      (a, d) =>
        `let b_window_${d} = i32(${digit('b_point', outStrides[d], a.output, d === 0)}) * ${a.stride}i - ${a.padBegin}i;`
    )
  ];
  const element = (c: number) => {
    const kk = `kk_${c}`;
    const conditions = [`${kk} < ${K}u`];
    const lines = [`let ${kk} = k + ${c}u;`];
    const offsets = [`(${kk} / ${conv.kernelPoints}u) * ${conv.inputPoints}u`];
    conv.axes.forEach((a, d) => {
      const input = `i_${c}_${d}`;
      const tap =
        a.kernel === 1
          ? ''
          : ` + i32(${digit(kk, kernelStrides[d], a.kernel, false)}) * ${a.dilation}i`;
      lines.push(`let ${input} = b_window_${d}${tap};`);
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
    const read = readX(plan)(`b_image_base + ${offsets.join(' + ')}`);
    return [...lines, `if (${conditions.join(' && ')}) { v.${COMPONENTS[c]} = ${read}; }`].map(
      line => `    ${line}`
    );
  };
  const stage = [
    `for (var kq = lidx / ${tactic.tileN}u; kq < ${tactic.tileK / 4}u; kq += ${threads / tactic.tileN}u) {`,
    '  let k = k0 + kq * 4u;',
    '  var v = vec4<f32>();',
    `  if (b_n < ${N}u) {`,
    ...[0, 1, 2, 3].flatMap(element),
    '  }',
    `  ${packedTileElement('b_tile', tactic.tileN, 'kq', 'b_col')} = quantize4(v);`,
    '}'
  ];
  return { setup, stage };
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
  const type = name === 'workspace' ? 'i32' : wgslType(plan.tensors[name]!);
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

/** The tiled product: Y through the epilogue, or with a split K each slice's sums. */
function productKernel(plan: Plan): Int8GemmKernel {
  const { M, N, K, batch, tactic, threadsX, threadsY, splitK, convolution: conv } = plan;
  const { tileM, tileN, tileK, threadM, threadN } = tactic;
  const threads = threadsX * threadsY;
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

  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const rowVectors = threadM / 4;
  const columnVectors = threadN / 4;
  const accumulator = (i: number, j: number) => `acc_${i}_${j}`;
  const gather = conv && gatherer(plan, conv);
  const prologue =
    splitK > 1
      ? [
          `let batch = wid.z / ${splitK}u;`,
          `let slice = wid.z % ${splitK}u;`,
          `let k_begin = slice * ${plan.kSlice}u;`,
          `let k_end = min(k_begin + ${plan.kSlice}u, ${K}u);`
        ]
      : ['let batch = wid.z;', 'let k_begin = 0u;', `let k_end = ${K}u;`];
  prologue.push(`let a_base = batch * ${M * K}u;`);
  const stageB = gather
    ? gather.stage
    : [
        `for (var item = lidx; item < ${quads * tileN}u; item += ${threads}u) {`,
        '  stage_b(item, col0, k0);',
        '}'
      ];
  const store = (i: number, j: number, c: number) => {
    const at = `row0 + lid.y * ${threadM}u + ${i}u, col0 + ${j * threadsX * 4 + c}u + lid.x * 4u`;
    const sum = `${accumulator(i, j)}.${COMPONENTS[c]}`;
    return splitK > 1
      ? `store_partial(batch, slice, ${at}, ${sum});`
      : `finish(batch, ${at}, ${sum});`;
  };
  // Invocation (tx, ty) owns rows ty * threadM + i and column vectors j * threadsX + tx
  // (interleaved, so neighbouring invocations read neighbouring workgroup memory).
  const body = [
    ...prologue,
    ...(gather ? gather.setup : []),
    ...range(threadM).flatMap(i =>
      range(columnVectors).map(j => `var ${accumulator(i, j)} = vec4<i32>();`)
    ),
    `for (var k0 = k_begin; k0 < k_end; k0 += ${tileK}u) {`,
    `  for (var item = lidx; item < ${quads * tileM}u; item += ${threads}u) {`,
    '    stage_a(item, row0, k0, a_base);',
    '  }',
    ...stageB.map(s => `  ${s}`),
    '  workgroupBarrier();',
    `  for (var kq = 0u; kq < ${quads}u; kq++) {`,
    ...range(rowVectors).map(
      q => `    let a_${q} = a_tile[kq * ${tileM / 4}u + lid.y * ${rowVectors}u + ${q}u];`
    ),
    ...range(columnVectors).map(
      j => `    let b_${j} = b_tile[kq * ${tileN / 4}u + ${j * threadsX}u + lid.x];`
    ),
    ...range(threadM).flatMap(i =>
      range(columnVectors).map(j => {
        const a = `a_${Math.floor(i / 4)}.${COMPONENTS[i % 4]}`;
        const dots = COMPONENTS.map(c => `dot4I8Packed(${a}, b_${j}.${c})`);
        return `    ${accumulator(i, j)} += vec4<i32>(${dots.join(', ')});`;
      })
    ),
    '  }',
    '  workgroupBarrier();',
    '}',
    ...range(threadM).flatMap(i =>
      range(columnVectors).flatMap(j => range(4).map(c => store(i, j, c)))
    )
  ];

  const code = `${names.map((name, i) => declaration(plan, i, name)).join('\n')}

var<workgroup> a_tile: array<vec4<u32>, ${(quads * tileM) / 4}>;
var<workgroup> b_tile: array<vec4<u32>, ${(quads * tileN) / 4}>;

${functions.filter(f => f !== '').join('\n\n')}

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
 * Candidate tiles. The first is the default where the problem fills it: 256 invocations of
 * 4x4 outputs, which keeps enough warps in flight to hide the gathers' latency.
 */
const CANDIDATES: Int8GemmTactic[] = [
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

function nextPowerOfTwo(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, n)));
}

/**
 * The tactics worth timing for an INT8 product, the default first: the candidates the
 * device's limits allow whose tiles are not larger than the problem needs (twice the next
 * power of two of a dimension), each as is and, where its workgroups are too few to
 * occupy a large GPU and K is long, with K split (kernels/conv.ts's splitFor). `gathered`:
 * B is a convolution's input, which restricts the workgroup shape.
 */
export function int8GemmTactics(
  limits: GemmLimits,
  problem: { M: number; N: number; K: number; batch?: number; gathered: boolean }
): Int8GemmTactic[] {
  const { M, N, K, batch = 1, gathered } = problem;
  const allowed = CANDIDATES.filter(tactic => {
    const { threadsX, threadsY } = workgroupShape(tactic);
    return (
      threadsX * threadsY <= limits.maxComputeInvocationsPerWorkgroup &&
      threadsX <= limits.maxComputeWorkgroupSizeX &&
      threadsY <= limits.maxComputeWorkgroupSizeY &&
      tileBytes(tactic) <= limits.maxComputeWorkgroupStorageSize &&
      (!gathered || gatherRestriction(tactic) === null)
    );
  });
  const sized = allowed.filter(
    t =>
      t.tileM <= nextPowerOfTwo(M) * 2 &&
      t.tileN <= nextPowerOfTwo(N) * 2 &&
      t.tileK <= nextPowerOfTwo(K) * 2
  );
  const tiles = sized.length > 0 ? sized : allowed.slice(-1);
  return tiles.flatMap(tile => {
    const workgroups = Math.ceil(M / tile.tileM) * Math.ceil(N / tile.tileN) * batch;
    const splitK = splitFor(workgroups, Math.ceil(K / tile.tileK));
    return splitK > 1 ? [{ ...tile, splitK }, tile] : [tile];
  });
}

/** A short name for the tuner and layer reports, e.g. 'int8 dp4a 64x64x32 4x4'. */
export function int8GemmTacticName(t: Int8GemmTactic): string {
  const split = (t.splitK ?? 1) > 1 ? `, K split ${t.splitK} ways` : '';
  return `int8 dp4a ${t.tileM}x${t.tileN}x${t.tileK} ${t.threadM}x${t.threadN}${split}`;
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
