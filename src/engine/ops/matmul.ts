/**
 * MatMul (numpy semantics), Gemm and webtrt::FusedMatMul. All are one batched product
 * out[b] = activation(alpha * op(A[b]) · op(B[b]) + beta * C + Z), planned once on concrete
 * shapes and then run by the CPU reference or by the tiled GEMM kernel (kernels/gemm.ts),
 * whose epilogue adds C and Z and applies the activation as it stores the product.
 *
 * webtrt::FusedMatMul is the layer the builder makes of a MatMul or Gemm and what follows
 * it (fuseMatMulActivation): inputs A, B, C? (a bias broadcast one way to Y) and Z? (a
 * residual of Y's shape); attributes transA and transB (ints, default 0: transpose the last
 * two dims of A or B), alpha (float, default 1) and activation / activation_params
 * (ops/activation.ts). Y = activation(alpha * op(A) @ op(B) + C + Z), with MatMul's batch
 * broadcasting.
 *
 * Float16 tensors may be stored as f16 (`halfStorage`): the kernel reads and writes each
 * tensor in its storage and computes in f32. Float16 outputs held in f32 storage are rounded
 * to float16 as they are stored.
 */
import { Dim } from '../ir/graph';
import { sizeOf, Tensor } from '../ir/tensor';
import { dispatchInOrder, GpuTensor, KernelContext, tensorStorage } from '../kernels/context';
import { withSplitK } from '../kernels/conv';
import {
  GemmBindingName,
  GemmEpilogue,
  GemmLimits,
  GemmSpec,
  gemmKernels,
  GemmTactic,
  gemmTactics
} from '../kernels/gemm';
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
import { Activation, activationMath, readActivation } from './activation';
import { Attributes } from './attributes';
import { broadcastConcrete, broadcastIndices, broadcastShapes } from './broadcast';
import { InferInput, OpContext, OpDefinition, OpError } from './types';
import { atNode } from './window';

interface Transposes {
  /** A is stored with its last two dims swapped: [.., K, M] rather than [.., M, K]. */
  transA: boolean;
  /** B is stored as [.., N, K] rather than [.., K, N]. */
  transB: boolean;
}

const NO_TRANSPOSES: Transposes = { transA: false, transB: false };

/** Everything a batched product needs, on concrete shapes. */
export interface ProductPlan extends Transposes {
  m: number;
  k: number;
  n: number;
  /** The broadcast batch shape, and each operand's own batch shape (broadcast against it). */
  batchShape: number[];
  aBatchShape: number[];
  bBatchShape: number[];
  /** A 1-D operand: the output drops its extra dim (M of a vector A, N of a vector B). */
  vectorA: boolean;
  vectorB: boolean;
  /** The output shape the op defines. */
  outShape: number[];
}

/** The scaled bias of Gemm: beta * C, C broadcast one way to the output. */
interface Bias<T> {
  c: T;
  beta: number;
}

/** What a layer adds to alpha * op(A) op(B) before storing it, in this order. */
interface Epilogue<T> {
  bias?: Bias<T>;
  /** A tensor of the output's shape. */
  residual?: T;
  activation?: Activation;
}

function describe(shape: readonly Dim[]): string {
  return `[${shape.map(d => d ?? '?').join(', ')}]`;
}

function checkInnerDims(a: readonly Dim[], b: readonly Dim[], ka: Dim, kb: Dim): void {
  if (typeof ka === 'number' && typeof kb === 'number' && ka !== kb) {
    throw new Error(
      `inner dimensions differ: A ${describe(a)} has ${ka}, B ${describe(b)} has ${kb}`
    );
  }
}

function readTransposes(a: Attributes): Transposes {
  return { transA: a.int('transA', 0) !== 0, transB: a.int('transB', 0) !== 0 };
}

// --- MatMul ---------------------------------------------------------------------------

/** `shape` with its last two dims swapped. */
function swapLastTwo<D extends Dim>(shape: readonly D[]): D[] {
  return [...shape.slice(0, -2), shape[shape.length - 1], shape[shape.length - 2]];
}

/**
 * numpy.matmul's view of op(A) and op(B): a 1-D A is a row [1, K], a 1-D B a column [K, 1];
 * a transposed operand (rank 2 or more) has its last two dims swapped.
 */
function asMatrices<D extends Dim>(
  a: readonly D[],
  b: readonly D[],
  { transA, transB }: Transposes
): [D[], D[]] {
  if (a.length === 0 || b.length === 0) {
    throw new Error('operands must have rank 1 or more, got a scalar');
  }
  if ((transA && a.length === 1) || (transB && b.length === 1)) {
    throw new Error(
      `a transposed operand must have rank 2 or more, got ${describe(transA ? a : b)}`
    );
  }
  const aMatrix = a.length === 1 ? [1 as D, a[0]] : transA ? swapLastTwo(a) : [...a];
  const bMatrix = b.length === 1 ? [b[0], 1 as D] : transB ? swapLastTwo(b) : [...b];
  return [aMatrix, bMatrix];
}

/** MatMul's output shape, symbolic dims carried through. */
export function matmulShape(
  a: readonly Dim[],
  b: readonly Dim[],
  transposes: Transposes = NO_TRANSPOSES
): Dim[] {
  const [aMatrix, bMatrix] = asMatrices(a, b, transposes);
  checkInnerDims(a, b, aMatrix[aMatrix.length - 1], bMatrix[bMatrix.length - 2]);
  const batch = broadcastShapes([aMatrix.slice(0, -2), bMatrix.slice(0, -2)])!;
  return [
    ...batch,
    ...(a.length === 1 ? [] : [aMatrix[aMatrix.length - 2]]),
    ...(b.length === 1 ? [] : [bMatrix[bMatrix.length - 1]])
  ];
}

export function planMatMul(
  a: readonly number[],
  b: readonly number[],
  transposes: Transposes = NO_TRANSPOSES
): ProductPlan {
  const outShape = matmulShape(a, b, transposes) as number[];
  const [aMatrix, bMatrix] = asMatrices(a, b, transposes);
  const aBatchShape = aMatrix.slice(0, -2);
  const bBatchShape = bMatrix.slice(0, -2);
  return {
    m: aMatrix[aMatrix.length - 2],
    k: aMatrix[aMatrix.length - 1],
    n: bMatrix[bMatrix.length - 1],
    batchShape: broadcastConcrete([aBatchShape, bBatchShape]),
    aBatchShape,
    bBatchShape,
    ...transposes,
    vectorA: a.length === 1,
    vectorB: b.length === 1,
    outShape
  };
}

const matmul: OpDefinition<Record<string, never>> = {
  opType: 'MatMul',
  parseAttributes: () => ({}),
  inferTypes: ([a, b], _attrs, ctx) => {
    checkSameType(ctx, a!, b!);
    const shape = a!.shape && b!.shape ? matmulShape(a!.shape, b!.shape) : undefined;
    return [{ dtype: a!.dtype, shape }];
  },
  cpu: ([a, b], _attrs, ctx) => {
    checkSameType(ctx, a!, b!);
    const plan = atNode(ctx, () => planMatMul(a!.shape, b!.shape));
    return [multiplyOnCpu(plan, a!, b!, 1)];
  },
  webgpu: {
    halfStorage: true,
    tactics: ([a, b], _attrs, limits) => tacticNames(planMatMul(a!.shape, b!.shape), limits),
    run: (ctx, [a, b]) => [multiplyOnGpu(ctx, 'MatMul', planMatMul(a!.shape, b!.shape), a!, b!, 1)]
  }
};

// --- Gemm -------------------------------------------------------------------------------

interface GemmAttributes extends Transposes {
  alpha: number;
  beta: number;
}

/** op(A)'s and op(B)'s dims: M, K and N. */
function gemmDims<D extends Dim>(
  a: readonly D[],
  b: readonly D[],
  attrs: GemmAttributes
): { m: D; k: D; n: D } {
  if (a.length !== 2 || b.length !== 2) {
    throw new Error(`A and B must be matrices, got ${describe(a)} and ${describe(b)}`);
  }
  const aRows = attrs.transA ? 1 : 0;
  const bRows = attrs.transB ? 1 : 0;
  checkInnerDims(a, b, a[1 - aRows], b[bRows]);
  return { m: a[aRows], k: a[1 - aRows], n: b[1 - bRows] };
}

function planGemm(
  a: readonly number[],
  b: readonly number[],
  c: readonly number[] | undefined,
  attrs: GemmAttributes
): ProductPlan {
  const { m, k, n } = gemmDims<number>(a, b, attrs);
  const plan: ProductPlan = {
    m,
    k,
    n,
    batchShape: [],
    aBatchShape: [],
    bBatchShape: [],
    transA: attrs.transA,
    transB: attrs.transB,
    vectorA: false,
    vectorB: false,
    outShape: [m, n]
  };
  checkAddends(plan, c);
  return plan;
}

const gemm: OpDefinition<GemmAttributes> = {
  opType: 'Gemm',
  // Before opset 7 a `broadcast` attribute allowed C to broadcast; C is broadcast
  // whenever its shape allows, which covers both readings.
  parseAttributes: ({ node }) => {
    const a = new Attributes(node);
    return { alpha: a.float('alpha', 1), beta: a.float('beta', 1), ...readTransposes(a) };
  },
  inferTypes: ([a, b], attrs, ctx) => {
    checkSameType(ctx, a!, b!);
    if (a!.shape && b!.shape) {
      const { m, n } = gemmDims(a!.shape, b!.shape, attrs);
      return [{ dtype: a!.dtype, shape: [m, n] }];
    }
    const m = a!.shape?.[attrs.transA ? 1 : 0] ?? null;
    const n = b!.shape?.[attrs.transB ? 0 : 1] ?? null;
    return [{ dtype: a!.dtype, shape: [m, n] }];
  },
  cpu: ([a, b, c], attrs, ctx) => {
    checkSameType(ctx, a!, b!);
    const plan = atNode(ctx, () => planGemm(a!.shape, b!.shape, c?.shape, attrs));
    return [multiplyOnCpu(plan, a!, b!, attrs.alpha, { bias: c && { c, beta: attrs.beta } })];
  },
  webgpu: {
    halfStorage: true,
    tactics: ([a, b, c], attrs, limits) =>
      tacticNames(planGemm(a!.shape, b!.shape, c?.shape, attrs), limits),
    run: (ctx, [a, b, c], _host, attrs) => {
      const plan = planGemm(a!.shape, b!.shape, c?.shape, attrs);
      const epilogue = { bias: c && { c, beta: attrs.beta } };
      return [multiplyOnGpu(ctx, 'Gemm', plan, a!, b!, attrs.alpha, epilogue)];
    }
  }
};

// --- webtrt::FusedMatMul ---------------------------------------------------------------

interface FusedMatMulAttributes extends Transposes {
  alpha: number;
  activation?: Activation;
}

function planFusedMatMul(
  [a, b, c, z]: (readonly number[] | undefined)[],
  attrs: FusedMatMulAttributes
): ProductPlan {
  const plan = planMatMul(a!, b!, attrs);
  checkAddends(plan, c, z);
  return plan;
}

function fusedEpilogue<T>(
  c: T | undefined,
  z: T | undefined,
  attrs: FusedMatMulAttributes
): Epilogue<T> {
  return { bias: c && { c, beta: 1 }, residual: z, activation: attrs.activation };
}

const fusedMatMul: OpDefinition<FusedMatMulAttributes> = {
  opType: 'FusedMatMul',
  domain: 'webtrt',
  parseAttributes: ({ node }) => {
    const a = new Attributes(node);
    return { ...readTransposes(a), alpha: a.float('alpha', 1), activation: readActivation(node) };
  },
  inferTypes: ([a, b], attrs, ctx) => {
    checkSameType(ctx, a!, b!);
    const shape = a!.shape && b!.shape ? matmulShape(a!.shape, b!.shape, attrs) : undefined;
    return [{ dtype: a!.dtype, shape }];
  },
  cpu: (inputs, attrs, ctx) => {
    const [a, b, c, z] = inputs;
    checkSameType(ctx, a!, b!);
    const plan = atNode(ctx, () =>
      planFusedMatMul(
        inputs.map(t => t?.shape),
        attrs
      )
    );
    return [multiplyOnCpu(plan, a!, b!, attrs.alpha, fusedEpilogue(c, z, attrs))];
  },
  webgpu: {
    halfStorage: true,
    tactics: (inputs, attrs, limits) =>
      tacticNames(
        planFusedMatMul(
          inputs.map(t => t?.shape),
          attrs
        ),
        limits
      ),
    run: (ctx, inputs, _host, attrs) => {
      const [a, b, c, z] = inputs;
      const plan = planFusedMatMul(
        inputs.map(t => t?.shape),
        attrs
      );
      const epilogue = fusedEpilogue(c, z, attrs);
      return [multiplyOnGpu(ctx, 'FusedMatMul', plan, a!, b!, attrs.alpha, epilogue)];
    }
  }
};

function checkSameType(ctx: OpContext, a: InferInput | Tensor, b: InferInput | Tensor): void {
  if (a.dtype !== b.dtype) {
    throw new OpError(ctx.node, `A and B must share one type, got ${a.dtype} and ${b.dtype}`);
  }
}

/** C must broadcast to the output without growing it; Z must have the output's shape. */
function checkAddends(
  plan: ProductPlan,
  c: readonly number[] | undefined,
  z?: readonly number[]
): void {
  const out = plan.outShape;
  const shift = out.length - (c?.length ?? 0);
  if (c && !(shift >= 0 && c.every((d, i) => d === 1 || d === out[i + shift]))) {
    throw new Error(`C of shape ${describe(c)} does not broadcast to ${describe(out)}`);
  }
  if (z && !(z.length === out.length && z.every((d, i) => d === out[i]))) {
    throw new Error(`Z of shape ${describe(z)} is not the output's shape ${describe(out)}`);
  }
}

// --- the product, on the CPU ------------------------------------------------------------

/** Element strides of op(A) as [row (m), column (k)] and of op(B) as [row (k), column (n)]. */
function operandStrides(plan: ProductPlan): { a: [number, number]; b: [number, number] } {
  const { m, k, n } = plan;
  return {
    a: plan.transA ? [1, m] : [k, 1],
    b: plan.transB ? [1, k] : [n, 1]
  };
}

function multiplyOnCpu(
  plan: ProductPlan,
  a: Tensor,
  b: Tensor,
  alpha: number,
  { bias, residual, activation }: Epilogue<Tensor> = {}
): Tensor {
  const out = productOnCpu(plan, a, b, alpha);
  if (bias) {
    const c = bias.c.toNumbers();
    const indices = broadcastIndices(bias.c.shape, plan.outShape);
    out.forEach((v, i) => (out[i] = v + bias.beta * c[indices[i]]));
  }
  if (residual) {
    const z = residual.toNumbers();
    out.forEach((v, i) => (out[i] = v + z[i]));
  }
  if (activation) {
    const { cpu } = activationMath(activation);
    out.forEach((v, i) => (out[i] = cpu(v)));
  }
  // One rounding to the output's type, as the kernel stores once.
  return Tensor.fromNumbers(a.dtype, plan.outShape, out);
}

/** alpha * op(A) op(B) in float64, in the output's layout. */
export function productOnCpu(plan: ProductPlan, a: Tensor, b: Tensor, alpha: number): Float64Array {
  const { m, k, n } = plan;
  const aValues = a.toNumbers();
  const bValues = b.toNumbers();
  const strides = operandStrides(plan);
  const [aRow, aCol] = strides.a;
  const [bRow, bCol] = strides.b;
  const aBatches = broadcastIndices(plan.aBatchShape, plan.batchShape);
  const bBatches = broadcastIndices(plan.bBatchShape, plan.batchShape);
  const out = new Float64Array(sizeOf(plan.batchShape) * m * n);
  for (let batch = 0; batch < aBatches.length; batch++) {
    const aBase = aBatches[batch] * m * k;
    const bBase = bBatches[batch] * k * n;
    const outBase = batch * m * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let p = 0; p < k; p++) {
          sum += aValues[aBase + i * aRow + p * aCol] * bValues[bBase + p * bRow + j * bCol];
        }
        out[outBase + i * n + j] = alpha * sum;
      }
    }
  }
  return out;
}

// --- the product, on the GPU ------------------------------------------------------------

/**
 * The product on the tiled GEMM kernel, with the tactic the builder chose (the auto-tuner
 * times those `tactics` lists) or the default. Batches run as the kernel's one batch dim, each operand
 * either shared by every batch or holding one matrix per batch; C, Z and the activation
 * are the kernel's epilogue.
 */
function multiplyOnGpu(
  ctx: KernelContext,
  label: string,
  plan: ProductPlan,
  a: GpuTensor,
  b: GpuTensor,
  alpha: number,
  epilogue: Epilogue<GpuTensor> = {}
): GpuTensor {
  const out = ctx.allocate(a.dtype, plan.outShape);
  if (out.size === 0) {
    return out;
  }
  const { m, k, n } = plan;
  const batchedA = batchedOperand(ctx, label, a, plan.aBatchShape, plan.batchShape, m * k);
  const batchedB = batchedOperand(ctx, label, b, plan.bBatchShape, plan.batchShape, k * n);
  const addends = gemmAddends(ctx, label, plan, epilogue);
  const tensors: Record<GemmBindingName, GpuTensor | undefined> = {
    a: batchedA.tensor,
    b: batchedB.tensor,
    bias: addends.bias,
    residual: addends.residual,
    c: out
  };
  const math = epilogue.activation && activationMath(epilogue.activation);
  const kernels = gemmKernels({
    M: m,
    N: n,
    K: k,
    batch: sizeOf(plan.batchShape),
    batchStrideA: batchedA.stride,
    batchStrideB: batchedB.stride,
    transA: plan.transA,
    transB: plan.transB,
    alpha,
    precision: 'f32',
    bindingStorage: bindingStorage(tensors),
    roundToF16: out.dtype === 'float16',
    tactic: chosenTactic(ctx, plan),
    epilogue: {
      ...addends.epilogue,
      activation: math?.expression,
      activationHelpers: math?.helpers
    }
  });
  dispatchInOrder(ctx, label, kernels, tensors, { name: 'partial', dtype: 'float32' });
  return out;
}

/**
 * The GEMM tactics the product can run with, the kernel's default first: each tile as is
 * and, where its workgroups are too few to occupy the GPU and K is long (a classifier's
 * 8 x 2048 by 2048 x 1000), first with K split to make up the difference.
 */
function productTactics(plan: ProductPlan, limits: GemmLimits): GemmTactic[] {
  const { m: M, n: N, k: K } = plan;
  return withSplitK(gemmTactics(limits, M, N, K), { M, N, K, batch: sizeOf(plan.batchShape) });
}

/** A tactic's name for the tuner and layer reports, e.g. '64x64x16 4x4 vec4, K split 4 ways'. */
function tacticName({
  tileM,
  tileN,
  tileK,
  threadM,
  threadN,
  vector,
  splitK = 1
}: GemmTactic): string {
  const split = splitK > 1 ? `, K split ${splitK} ways` : '';
  return `${tileM}x${tileN}x${tileK} ${threadM}x${threadN} vec${vector}${split}`;
}

function tacticNames(plan: ProductPlan, limits: GemmLimits): string[] {
  return productTactics(plan, limits).map(tacticName);
}

/** The tactic the builder chose for this layer, or the default. */
function chosenTactic(ctx: KernelContext, plan: ProductPlan): GemmTactic {
  const tactics = productTactics(plan, ctx.device.limits);
  return tactics.find(t => tacticName(t) === ctx.tactic) ?? tactics[0];
}

/** Each bound tensor's storage: the kernel computes in f32 and reads and writes f32 or f16. */
function bindingStorage(
  tensors: Record<GemmBindingName, GpuTensor | undefined>
): GemmSpec['bindingStorage'] {
  return Object.fromEntries(
    Object.entries(tensors).flatMap(([name, tensor]) =>
      tensor ? [[name, tensorStorage(tensor) === 'f16' ? 'f16' : 'f32']] : []
    )
  );
}

/**
 * An operand as the GEMM kernel reads it: shared by every batch (stride 0) or one matrix
 * per batch (stride: the matrix's size). An operand broadcast over some batch axes but not
 * all is neither, and is expanded to the full batch shape first.
 */
function batchedOperand(
  ctx: KernelContext,
  label: string,
  operand: GpuTensor,
  batchShape: readonly number[],
  fullBatchShape: readonly number[],
  matrixSize: number
): { tensor: GpuTensor; stride: number } {
  const batches = sizeOf(batchShape);
  if (batches === 1) {
    return { tensor: operand, stride: 0 };
  }
  if (batches === sizeOf(fullBatchShape)) {
    return { tensor: operand, stride: matrixSize };
  }
  const expandedShape = [...fullBatchShape, ...operand.shape.slice(-2)];
  const expanded = broadcastSum(ctx, `${label} batch broadcast`, operand, expandedShape, 1);
  return { tensor: expanded, stride: matrixSize };
}

/**
 * beta * C and Z as the kernel's epilogue takes them. It adds C unscaled, as one value, a
 * row of N or a column of M shared by every batch, and Z as a residual of the output's
 * layout. Any other C is broadcast to the output and summed with Z into the residual.
 */
function gemmAddends(
  ctx: KernelContext,
  label: string,
  plan: ProductPlan,
  { bias, residual }: Epilogue<GpuTensor>
): { epilogue: GemmEpilogue; bias?: GpuTensor; residual?: GpuTensor } {
  if (!bias) {
    return { epilogue: { residual: residual !== undefined }, residual };
  }
  const { c, beta } = bias;
  const kind = biasKind(c.shape, plan);
  if (kind) {
    const scaled = beta === 1 ? c : broadcastSum(ctx, `${label} beta * C`, c, c.shape, beta);
    return { epilogue: { bias: kind, residual: residual !== undefined }, bias: scaled, residual };
  }
  const sum =
    beta === 1 && !residual && c.size === sizeOf(plan.outShape)
      ? c
      : broadcastSum(ctx, `${label} beta * C + Z`, c, plan.outShape, beta, residual);
  return { epilogue: { residual: true }, residual: sum };
}

/**
 * How C varies over the product [..batch, M, N]: 'scalar' (not at all), 'row' (along N
 * only), 'col' (along M only), or undefined (otherwise). C's dims align to the output's
 * from the right, and the output lacks M for a vector A and N for a vector B.
 */
function biasKind(shape: readonly number[], plan: ProductPlan): GemmEpilogue['bias'] {
  const varying = shape.flatMap((d, axis) => (d === 1 ? [] : [shape.length - 1 - axis]));
  if (varying.length === 0) {
    return 'scalar';
  }
  const trailingAxes = [
    ...(plan.vectorB ? [] : ['row' as const]),
    ...(plan.vectorA ? [] : ['col' as const])
  ];
  return varying.length === 1 ? trailingAxes[varying[0]] : undefined;
}

/** scale * x broadcast to `shape`, plus `addend` (of `shape`) when given, in a new tensor. */
function broadcastSum(
  ctx: KernelContext,
  label: string,
  x: GpuTensor,
  shape: readonly number[],
  scale: number,
  addend?: GpuTensor
): GpuTensor {
  const out = ctx.allocate(x.dtype, shape);
  const read = readFloat(x, `x[${broadcastOffset(x.shape, shape.length, 'o')}]`);
  const scaled = scale === 1 ? read : `${f32Literal(scale)} * ${read}`;
  const value = addend ? `${scaled} + ${readFloat(addend, 'z[index]')}` : scaled;
  const inputs: [string, GpuTensor][] = [
    ['x', x],
    ...(addend ? [['z', addend] as [string, GpuTensor]] : [])
  ];
  const body = `${coordinates('index', shape, 'o')}
  out[index] = ${writeFloat(out, value)};`;
  ctx.dispatch({
    label,
    code: `${bindings(inputs, [['out', out]])}\n${linearMain(out.size, body)}`,
    bindings: [...inputs.map(([, t]) => t), out],
    workgroups: linearGrid(out.size)
  });
  return out;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const matmulOps: OpDefinition<any>[] = [matmul, gemm, fusedMatMul];
