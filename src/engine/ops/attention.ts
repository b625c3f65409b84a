/**
 * webtrt::Attention: scaled dot-product attention as one layer, what fuseAttention makes of
 * the MatMul → scale → Add(mask) → Softmax → MatMul chains exporters write.
 *
 *   Y[b, h] = softmax(scale * Q[b, h] K[b, h]ᵀ + mask[b, h]) V[b, h]   for every batch b, head h
 *
 * Inputs
 *   0 Q     [B, S_q, num_heads * d]: the heads side by side along the last axis, as a Linear
 *           layer writes them (what the exporter's Reshape + Transpose would split), or
 *           [B, num_heads, S_q, d] (heads already split). With K and V omitted, Q is
 *           [B, S, q_width + k_width + v_width]: Q, K and V packed side by side along the
 *           last axis (one merged projection), with widths from qkv_hidden_sizes.
 *   1 K     [B, S_k, num_heads * d] or [B, num_heads, S_k, d]; '' when Q is packed.
 *   2 V     [B, S_k, num_heads * d_v] or [B, num_heads, S_k, d_v]; '' when Q is packed.
 *   3 mask  optional, added to the scaled scores: broadcast one way (numpy rules) to
 *           [B, num_heads, S_q, S_k], e.g. [B, 1, 1, S_k] padding masks or [S_q, S_k].
 *   Each of Q, K, V may have either layout.
 * Attributes
 *   num_heads         int, required.
 *   scale             float, default 1 / sqrt(d).
 *   causal            int, default 0. 1: query i sees keys j <= i only (top-left aligned, as
 *                     torch's is_causal): the others count as a mask of -inf.
 *   qkv_hidden_sizes  ints [q_width, k_width, v_width], packed Q only; default three equal
 *                     widths.
 * Output
 *   Y  [B, S_q, num_heads * d_v] when Q has rank 3 (heads merged back, as the exporter's
 *      Transpose + Reshape after the last MatMul do), [B, num_heads, S_q, d_v] when rank 4.
 *
 * The CPU reference computes the unfused ops' steps, each rounded to the value type as the
 * ops would: MatMul, Mul by scale, Add mask, Softmax, MatMul. The WebGPU kernel is flash
 * attention: no S_q x S_k score tensor is ever stored.
 */
import { DataType, isFloat } from '../ir/dtype';
import { Dim } from '../ir/graph';
import { sizeOf, stridesOf, Tensor } from '../ir/tensor';
import { GpuTensor, KernelContext } from '../kernels/context';
import { bindings, f32Literal, readFloat, writeFloat } from '../kernels/wgsl';
import { Attributes } from './attributes';
import { broadcastIndices } from './broadcast';
import { dimProduct } from './shape';
import { InferInput, OpContext, OpDefinition, OpError } from './types';
import { atNode } from './window';

export interface AttentionAttributes {
  numHeads: number;
  /** undefined: 1 / sqrt(d). */
  scale?: number;
  causal: boolean;
  qkvHiddenSizes?: number[];
}

function parseAttentionAttributes({ node }: OpContext): AttentionAttributes {
  const a = new Attributes(node);
  const numHeads = a.int('num_heads');
  if (numHeads === undefined || numHeads < 1) {
    throw new OpError(node, `num_heads must be a positive integer, got ${numHeads}`);
  }
  const qkvHiddenSizes = a.ints('qkv_hidden_sizes');
  if (qkvHiddenSizes && qkvHiddenSizes.length !== 3) {
    throw new OpError(node, `qkv_hidden_sizes must hold 3 widths, got ${qkvHiddenSizes.length}`);
  }
  return {
    numHeads,
    scale: a.float('scale'),
    causal: a.int('causal', 0) !== 0,
    qkvHiddenSizes
  };
}

// --- where the heads lie ----------------------------------------------------------------

/** Q, K or V as the op reads it: batch, sequence and per-head width, and how it is stored. */
interface Operand<D extends Dim> {
  batch: D;
  sequence: D;
  /** d (Q, K) or d_v (V). */
  headDim: D;
  /** 'merged': [B, S, row] with head h at columns column + h * headDim; 'split': [B, H, S, d]. */
  layout: 'merged' | 'split';
  column: number;
  /** Elements per sequence position of a merged tensor (its last dim). */
  rowWidth: D;
}

interface Operands<D extends Dim> {
  q: Operand<D>;
  k: Operand<D>;
  v: Operand<D>;
}

function describe(shape: readonly Dim[]): string {
  return `[${shape.map(d => d ?? '?').join(', ')}]`;
}

/** d = width / heads: known when the width is, and then a whole number or an error. */
function perHead<D extends Dim>(what: string, width: D, heads: number): D {
  if (typeof width !== 'number') {
    return null as D;
  }
  if (width % heads !== 0) {
    throw new Error(`${what} width ${width} is not divisible by num_heads ${heads}`);
  }
  return (width / heads) as D;
}

function operand<D extends Dim>(
  what: string,
  shape: readonly D[],
  heads: number,
  column = 0,
  width: D = shape[shape.length - 1]
): Operand<D> {
  if (shape.length === 3) {
    const [batch, sequence, rowWidth] = shape;
    const headDim = perHead(what, width, heads);
    return { batch, sequence, headDim, layout: 'merged', column, rowWidth };
  }
  if (shape.length === 4) {
    const [batch, shapeHeads, sequence, headDim] = shape;
    if (typeof shapeHeads === 'number' && shapeHeads !== heads) {
      throw new Error(`${what} of shape ${describe(shape)} has ${shapeHeads} heads, not ${heads}`);
    }
    return { batch, sequence, headDim, layout: 'split', column: 0, rowWidth: headDim };
  }
  throw new Error(`${what} must have rank 3 or 4, got shape ${describe(shape)}`);
}

/** Q, K and V of the node's inputs (one packed Q when K and V are omitted), checked. */
function operands<D extends Dim>(
  [q, k, v]: (readonly D[] | undefined)[],
  attrs: AttentionAttributes
): Operands<D> {
  const heads = attrs.numHeads;
  let result: Operands<D>;
  if (!k && !v) {
    if (q!.length !== 3) {
      throw new Error(`packed Q, K and V must have rank 3, got shape ${describe(q!)}`);
    }
    const [qWidth, kWidth, vWidth] = packedWidths(q![2], attrs.qkvHiddenSizes);
    result = {
      q: operand('Q', q!, heads, 0, qWidth as D),
      k: operand('K', q!, heads, qWidth ?? 0, kWidth as D),
      v: operand('V', q!, heads, (qWidth ?? 0) + (kWidth ?? 0), vWidth as D)
    };
  } else if (k && v) {
    result = { q: operand('Q', q!, heads), k: operand('K', k, heads), v: operand('V', v, heads) };
  } else {
    throw new Error('K and V must be given together, or both omitted for a packed Q');
  }
  checkAgree('batch', [result.q.batch, result.k.batch, result.v.batch]);
  checkAgree('key sequence (K and V)', [result.k.sequence, result.v.sequence]);
  checkAgree('head size (Q and K)', [result.q.headDim, result.k.headDim]);
  return result;
}

/** The widths of Q, K and V packed in a last dim of `total`: as given, or three equal ones. */
function packedWidths(total: Dim, given: number[] | undefined): (number | null)[] {
  if (typeof total !== 'number') {
    return given ?? [null, null, null];
  }
  const widths = given ?? [total / 3, total / 3, total / 3];
  if (widths.some(w => !Number.isInteger(w)) || widths[0] + widths[1] + widths[2] !== total) {
    throw new Error(
      `packed Q, K and V of width ${total} do not split into widths ${widths.join(', ')}`
    );
  }
  return widths;
}

function checkAgree(what: string, dims: readonly Dim[]): void {
  const known = dims.filter(d => typeof d === 'number');
  if (known.some(d => d !== known[0])) {
    throw new Error(`${what} differs: ${known.join(' vs ')}`);
  }
}

function outputShape<D extends Dim>(qRank: number, ops: Operands<D>, heads: number): D[] {
  const { q, v } = ops;
  return qRank === 3
    ? [q.batch, q.sequence, dimProduct([v.headDim, heads]) as D]
    : [q.batch, heads as D, q.sequence, v.headDim];
}

// --- concrete plan, shared by the CPU reference and the kernel ---------------------------

/** Where element (b, h, s, c) of one operand lies: offset + b*batch + h*head + s*row + c. */
interface Strides {
  offset: number;
  batch: number;
  head: number;
  row: number;
}

interface AttentionPlan {
  batch: number;
  heads: number;
  queries: number;
  keys: number;
  headDim: number;
  valueDim: number;
  scale: number;
  causal: boolean;
  q: Strides;
  k: Strides;
  v: Strides;
  out: Strides;
  outShape: number[];
  /** The mask's strides over [B, H, S_q, S_k] (0 along broadcast axes). */
  mask?: [number, number, number, number];
}

function strides(o: Operand<number>, heads: number): Strides {
  return o.layout === 'merged'
    ? { offset: o.column, batch: o.sequence * o.rowWidth, head: o.headDim, row: o.rowWidth }
    : {
        offset: 0,
        batch: heads * o.sequence * o.headDim,
        head: o.sequence * o.headDim,
        row: o.headDim
      };
}

function maskStrides(shape: readonly number[], target: readonly number[]): Strides['batch'][] {
  const shift = target.length - shape.length;
  if (shift < 0 || shape.some((d, i) => d !== 1 && d !== target[i + shift])) {
    throw new Error(`mask of shape ${describe(shape)} does not broadcast to ${describe(target)}`);
  }
  const own = stridesOf(shape);
  return target.map((_, axis) => {
    const i = axis - shift;
    return i >= 0 && shape[i] !== 1 ? own[i] : 0;
  });
}

function planAttention(
  shapes: (readonly number[] | undefined)[],
  attrs: AttentionAttributes
): AttentionPlan {
  const ops = operands<number>(shapes.slice(0, 3), attrs);
  const heads = attrs.numHeads;
  if (ops.k.sequence === 0) {
    throw new Error('K and V hold no keys: attention over an empty sequence is undefined');
  }
  const outShape = outputShape(shapes[0]!.length, ops, heads);
  const out = strides(operand('Y', outShape, heads), heads);
  const scoresShape = [ops.q.batch, heads, ops.q.sequence, ops.k.sequence];
  const mask = shapes[3] && (maskStrides(shapes[3], scoresShape) as AttentionPlan['mask']);
  return {
    batch: ops.q.batch,
    heads,
    queries: ops.q.sequence,
    keys: ops.k.sequence,
    headDim: ops.q.headDim,
    valueDim: ops.v.headDim,
    scale: attrs.scale ?? 1 / Math.sqrt(ops.q.headDim),
    causal: attrs.causal,
    q: strides(ops.q, heads),
    k: strides(ops.k, heads),
    v: strides(ops.v, heads),
    out,
    outShape,
    mask
  };
}

// --- CPU reference ----------------------------------------------------------------------

/** `values` rounded to `dtype`, as an op writing them into a tensor of that type would. */
function rounded(dtype: DataType, values: Float64Array): Float64Array {
  return Tensor.fromNumbers(dtype, [values.length], values).toNumbers() as Float64Array;
}

function attentionReference(inputs: (Tensor | undefined)[], attrs: AttentionAttributes): Tensor {
  const [qT, kT, vT, maskT] = inputs;
  const plan = planAttention(
    inputs.map(t => t?.shape),
    attrs
  );
  const { batch, heads, queries, keys, headDim, valueDim } = plan;
  const dtype = qT!.dtype;
  const q = qT!.toNumbers();
  const k = (kT ?? qT)!.toNumbers();
  const v = (vT ?? qT)!.toNumbers();
  const mask = maskT?.toNumbers();
  const at = (s: Strides, b: number, h: number) => s.offset + b * s.batch + h * s.head;

  // Step by step over [B, H, S_q, S_k], rounding where an op would write its output.
  const scores = new Float64Array(batch * heads * queries * keys);
  let cell = 0;
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < queries; i++) {
        const qRow = at(plan.q, b, h) + i * plan.q.row;
        for (let j = 0; j < keys; j++) {
          const kRow = at(plan.k, b, h) + j * plan.k.row;
          let dot = 0;
          for (let c = 0; c < headDim; c++) {
            dot += q[qRow + c] * k[kRow + c];
          }
          scores[cell++] = dot;
        }
      }
    }
  }
  let logits = rounded(
    dtype,
    rounded(dtype, scores).map(s => s * plan.scale)
  );
  const scoresShape = [batch, heads, queries, keys];
  if (mask) {
    const read = broadcastIndices(maskT!.shape, scoresShape);
    logits = rounded(
      dtype,
      logits.map((s, i) => s + mask[read[i]])
    );
  }
  if (plan.causal) {
    logits = logits.map((s, i) => (i % keys > Math.floor(i / keys) % queries ? -Infinity : s));
  }
  const probabilities = rounded(dtype, softmaxRows(logits, keys));

  const out = new Float64Array(sizeOf(plan.outShape));
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < queries; i++) {
        const pRow = ((b * heads + h) * queries + i) * keys;
        const outRow = at(plan.out, b, h) + i * plan.out.row;
        for (let c = 0; c < valueDim; c++) {
          let sum = 0;
          for (let j = 0; j < keys; j++) {
            sum += probabilities[pRow + j] * v[at(plan.v, b, h) + j * plan.v.row + c];
          }
          out[outRow + c] = sum;
        }
      }
    }
  }
  return Tensor.fromNumbers(dtype, plan.outShape, out);
}

/** Softmax of every row of `rowSize` values, as ONNX Softmax along the last axis. */
function softmaxRows(x: Float64Array, rowSize: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let base = 0; base < x.length; base += rowSize) {
    const row = x.subarray(base, base + rowSize);
    const peak = Math.max(...row);
    let total = 0;
    for (const value of row) {
      total += Math.exp(value - peak);
    }
    row.forEach((value, j) => {
      y[base + j] = Math.exp(value - peak) / total;
    });
  }
  return y;
}

// --- WebGPU kernel -----------------------------------------------------------------------

/**
 * How the kernel spreads one (batch, head) over workgroups: each workgroup takes
 * `blockRows` queries with `threadsPerRow` invocations per query, and walks the keys in
 * tiles of `blockKeys`.
 */
export interface AttentionTactic {
  blockRows: number;
  threadsPerRow: number;
  blockKeys: number;
}

const TACTICS: readonly AttentionTactic[] = [
  { blockRows: 32, threadsPerRow: 4, blockKeys: 32 },
  { blockRows: 16, threadsPerRow: 4, blockKeys: 32 },
  { blockRows: 16, threadsPerRow: 8, blockKeys: 32 },
  { blockRows: 64, threadsPerRow: 4, blockKeys: 32 }
];

/** Enough workgroups to keep every SM of a large GPU busy (an H100 has 132). */
const WORKGROUPS_TO_FILL_THE_DEVICE = 256;

const tacticName = (t: AttentionTactic) => `rows${t.blockRows}x${t.threadsPerRow}`;

const vec4Count = (n: number) => Math.ceil(n / 4);

/** vec4<f32>s of workgroup memory a tactic takes: the K and V tiles, or the merge buffer. */
function tileVec4s(tactic: AttentionTactic, plan: AttentionPlan): number {
  // Each tile row has one vec4 of padding, so the keys that the invocations of one query
  // read at once fall in different memory banks.
  const kv = tactic.blockKeys * (vec4Count(plan.headDim) + 1 + vec4Count(plan.valueDim) + 1);
  return Math.max(kv, tactic.blockRows * vec4Count(plan.valueDim));
}

/**
 * The tactics that fit the device, best guess first: the largest query block that still
 * gives enough workgroups to fill a large GPU, else the most parallel one.
 */
function attentionTactics(plan: AttentionPlan, limits: GPUSupportedLimits): AttentionTactic[] {
  const fitting = TACTICS.filter(t => {
    const invocations = t.blockRows * t.threadsPerRow;
    const storage = tileVec4s(t, plan) * 16 + invocations * 8;
    return (
      invocations <= limits.maxComputeInvocationsPerWorkgroup &&
      invocations <= limits.maxComputeWorkgroupSizeX &&
      storage <= limits.maxComputeWorkgroupStorageSize
    );
  });
  if (fitting.length === 0) {
    throw new Error(
      `no attention tactic fits the device's workgroup limits for head sizes ${plan.headDim} and ${plan.valueDim}`
    );
  }
  const workgroups = (t: AttentionTactic) =>
    plan.batch * plan.heads * Math.ceil(plan.queries / t.blockRows);
  const invocations = (t: AttentionTactic) => workgroups(t) * t.blockRows * t.threadsPerRow;
  const filling = fitting.filter(t => workgroups(t) >= WORKGROUPS_TO_FILL_THE_DEVICE);
  const best =
    filling.length > 0
      ? filling.reduce((a, b) => (b.blockRows > a.blockRows ? b : a))
      : fitting.reduce((a, b) => (invocations(b) > invocations(a) ? b : a));
  return [best, ...fitting.filter(t => t !== best)];
}

/** WGSL sum of `terms` (`factor * stride`), the zero strides left out. */
function offsetExpression(terms: [string, number][], constant = 0): string {
  const parts = terms.filter(([, stride]) => stride !== 0).map(([f, s]) => `${f} * ${s}u`);
  if (constant !== 0 || parts.length === 0) {
    parts.push(`${constant}u`);
  }
  return parts.join(' + ');
}

/**
 * WGSL of a vec4<f32> of the elements `column` to `column` + 3 of a row of `width` elements
 * that starts at `rowStart` (u32 expressions), zero past the end of the row or when
 * `inBounds` is false.
 */
function readVec4(
  name: string,
  t: GpuTensor,
  rowStart: string,
  column: string,
  width: number,
  inBounds: string
): string {
  const lanes = [0, 1, 2, 3].map(e => {
    const value = readFloat(t, `${name}[${rowStart} + ${column} + ${e}u]`);
    const guard = width % 4 === 0 ? inBounds : `${inBounds} && ${column} + ${e}u < ${width}u`;
    return `select(0.0, ${value}, ${guard})`;
  });
  return `vec4<f32>(${lanes.join(', ')})`;
}

/**
 * Flash attention. One workgroup per (query block, head, batch); `threadsPerRow`
 * invocations per query, each running the online softmax (a running max and sum in f32)
 * over its own strided share of the keys, with its own output accumulator in registers.
 * K and V come through workgroup memory one tile of keys at a time, shared by every
 * query of the block. At the end the invocations of a query merge their partial results
 * (rescaled to the common max, as split-K flash decoding does across workgroups) and
 * the block is written once, a row of the output per query.
 */
function attentionKernel(
  ctx: KernelContext,
  plan: AttentionPlan,
  tactic: AttentionTactic,
  [q, k, v, mask]: (GpuTensor | undefined)[],
  y: GpuTensor
): void {
  const { blockRows, threadsPerRow, blockKeys } = tactic;
  const invocations = blockRows * threadsPerRow;
  const d4 = vec4Count(plan.headDim);
  const dv4 = vec4Count(plan.valueDim);
  const kStride = d4 + 1;
  const vStride = dv4 + 1;
  const vBase = blockKeys * kStride;
  const base = (s: Strides) =>
    offsetExpression(
      [
        ['batch', s.batch],
        ['head', s.head]
      ],
      s.offset
    );
  const maskRead = plan.mask
    ? `select(0.0, ${readFloat(
        mask!,
        `mask[${offsetExpression([
          ['batch', plan.mask[0]],
          ['head', plan.mask[1]],
          ['query', plan.mask[2]],
          ['key', plan.mask[3]]
        ])}]`
      )}, valid)`
    : '0.0';
  const inputs: [string, GpuTensor][] = [
    ['q', q!],
    ['k', k ?? q!],
    ['v', v ?? q!]
  ];
  if (mask) {
    inputs.push(['mask', mask]);
  }
  const code = `${bindings(inputs, [['y', y]])}

const ROWS = ${blockRows}u;
const LANES = ${threadsPerRow}u;
const KEYS = ${blockKeys}u;
const KEYS_PER_LANE = ${blockKeys / threadsPerRow}u;
const INVOCATIONS = ${invocations}u;
const D4 = ${d4}u;
const DV4 = ${dv4}u;
const LOWEST = ${f32Literal(-3.4028234663852886e38)};

// K tile rows at [j * ${kStride}], V tile rows at [${vBase} + j * ${vStride}]; after the
// last tile, the merged output rows at [r * DV4].
var<workgroup> tile: array<vec4<f32>, ${tileVec4s(tactic, plan)}>;
var<workgroup> lane_max: array<f32, INVOCATIONS>;
var<workgroup> lane_sum: array<f32, INVOCATIONS>;

/** Whether query attends to key: a key of the sequence${plan.causal ? ', not after the query' : ''}. */
fn visible(query: u32, key: u32) -> bool {
  return key < ${plan.keys}u${plan.causal ? ' && key <= query' : ''};
}

@compute @workgroup_size(${invocations})
fn main(@builtin(local_invocation_index) local: u32, @builtin(workgroup_id) group: vec3<u32>) {
  let r = local / LANES;
  let lane = local % LANES;
  let query = group.x * ROWS + r;
  let head = group.y;
  let batch = group.z;
  let q_base = ${base(plan.q)};
  let k_base = ${base(plan.k)};
  let v_base = ${base(plan.v)};

  // This query's row, scaled once here rather than every score.
  var q_row: array<vec4<f32>, D4>;
  let q_valid = query < ${plan.queries}u;
  for (var c4 = 0u; c4 < D4; c4++) {
    let row_start = q_base + query * ${plan.q.row}u;
    q_row[c4] = ${f32Literal(plan.scale)} * ${readVec4('q', q!, 'row_start', 'c4 * 4u', plan.headDim, 'q_valid')};
  }
  var acc: array<vec4<f32>, DV4>;
  var running_max = LOWEST;
  var running_sum = 0.0;

  for (var start = 0u; start < ${plan.keys}u; start += KEYS) {
    workgroupBarrier();
    for (var i = local; i < KEYS * D4; i += INVOCATIONS) {
      let j = i / D4;
      let c4 = i % D4;
      let row_start = k_base + (start + j) * ${plan.k.row}u;
      tile[j * ${kStride}u + c4] = ${readVec4('k', k ?? q!, 'row_start', 'c4 * 4u', plan.headDim, `start + j < ${plan.keys}u`)};
    }
    for (var i = local; i < KEYS * DV4; i += INVOCATIONS) {
      let j = i / DV4;
      let c4 = i % DV4;
      let row_start = v_base + (start + j) * ${plan.v.row}u;
      tile[${vBase}u + j * ${vStride}u + c4] = ${readVec4('v', v ?? q!, 'row_start', 'c4 * 4u', plan.valueDim, `start + j < ${plan.keys}u`)};
    }
    workgroupBarrier();

    // This lane's keys of the tile: j = lane, lane + LANES, ... (neighbouring lanes read
    // neighbouring tile rows, in different banks).
    var scores: array<f32, KEYS_PER_LANE>;
    var tile_max = running_max;
    for (var jj = 0u; jj < KEYS_PER_LANE; jj++) {
      let j = lane + jj * LANES;
      let key = start + j;
      let valid = visible(query, key);
      var dot_qk = 0.0;
      for (var c4 = 0u; c4 < D4; c4++) {
        dot_qk += dot(q_row[c4], tile[j * ${kStride}u + c4]);
      }
      let score = dot_qk + ${maskRead};
      scores[jj] = select(LOWEST, score, valid);
      tile_max = select(tile_max, max(tile_max, score), valid);
    }
    let correction = exp(running_max - tile_max);
    running_max = tile_max;
    running_sum *= correction;
    for (var c4 = 0u; c4 < DV4; c4++) {
      acc[c4] *= correction;
    }
    for (var jj = 0u; jj < KEYS_PER_LANE; jj++) {
      let j = lane + jj * LANES;
      let p = select(0.0, exp(scores[jj] - running_max), visible(query, start + j));
      running_sum += p;
      for (var c4 = 0u; c4 < DV4; c4++) {
        acc[c4] += p * tile[${vBase}u + j * ${vStride}u + c4];
      }
    }
  }

  // Merge the lanes of each query: rescale to their common max, sum, normalize.
  lane_max[local] = running_max;
  lane_sum[local] = running_sum;
  workgroupBarrier();
  var row_max = LOWEST;
  for (var l = 0u; l < LANES; l++) {
    row_max = max(row_max, lane_max[r * LANES + l]);
  }
  var row_sum = 0.0;
  for (var l = 0u; l < LANES; l++) {
    row_sum += exp(lane_max[r * LANES + l] - row_max) * lane_sum[r * LANES + l];
  }
  let weight = exp(running_max - row_max) / row_sum;
  for (var l = 0u; l < LANES; l++) {
    if (lane == l) {
      for (var c4 = 0u; c4 < DV4; c4++) {
        let previous = select(vec4<f32>(0.0), tile[r * DV4 + c4], l > 0u);
        tile[r * DV4 + c4] = previous + weight * acc[c4];
      }
    }
    workgroupBarrier();
  }

  let y_base = ${base(plan.out)};
  for (var i = local; i < ROWS * ${plan.valueDim}u; i += INVOCATIONS) {
    let row = i / ${plan.valueDim}u;
    let c = i % ${plan.valueDim}u;
    let out_query = group.x * ROWS + row;
    if (out_query < ${plan.queries}u) {
      y[y_base + out_query * ${plan.out.row}u + c] = ${writeFloat(y, 'tile[row * DV4 + c / 4u][c % 4u]')};
    }
  }
}
`;
  ctx.dispatch({
    label: 'Attention',
    code,
    bindings: [...inputs.map(([, t]) => t), y],
    workgroups: [Math.ceil(plan.queries / blockRows), plan.heads, plan.batch]
  });
}

// --- the op -------------------------------------------------------------------------------

function checkTypes(inputs: (InferInput | Tensor | GpuTensor | undefined)[]): void {
  const dtype = inputs[0]!.dtype;
  if (!isFloat(dtype)) {
    throw new Error(`${dtype} inputs are not supported (float types only)`);
  }
  inputs.forEach((input, i) => {
    if (input && input.dtype !== dtype) {
      throw new Error(`input ${i} is ${input.dtype}, Q is ${dtype}: all must share one type`);
    }
  });
}

const attention: OpDefinition<AttentionAttributes> = {
  opType: 'Attention',
  domain: 'webtrt',
  parseAttributes: parseAttentionAttributes,
  inferTypes: (inputs, attrs, ctx) =>
    atNode(ctx, () => {
      checkTypes(inputs);
      const shapes = inputs.map(i => i?.shape);
      if (!shapes[0] || shapes.slice(1, 3).some((s, i) => inputs[i + 1] && !s)) {
        return [{ dtype: inputs[0]!.dtype, shape: undefined }];
      }
      const ops = operands(shapes.slice(0, 3), attrs);
      return [
        { dtype: inputs[0]!.dtype, shape: outputShape(shapes[0].length, ops, attrs.numHeads) }
      ];
    }),
  cpu: (inputs, attrs, ctx) =>
    atNode(ctx, () => {
      checkTypes(inputs);
      return [attentionReference(inputs, attrs)];
    }),
  webgpu: {
    halfStorage: true,
    bindsInputTwice: true,
    tactics: (inputs, attrs, limits) =>
      attentionTactics(
        planAttention(
          inputs.map(t => t?.shape),
          attrs
        ),
        limits
      ).map(tacticName),
    run: (ctx, inputs, _host, attrs) => {
      const plan = planAttention(
        inputs.map(t => t?.shape),
        attrs
      );
      const tactics = attentionTactics(plan, ctx.device.limits);
      const tactic = tactics.find(t => tacticName(t) === ctx.tactic) ?? tactics[0];
      const y = ctx.allocate(inputs[0]!.dtype, plan.outShape);
      if (y.size > 0) {
        attentionKernel(ctx, plan, tactic, inputs, y);
      }
      return [y];
    }
  }
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const attentionOps: OpDefinition<any>[] = [attention];
