/**
 * MatMul (numpy semantics) and Gemm. Both are one batched product
 * out[b] = alpha * op(A[b]) · op(B[b]) + beta * C, planned once on concrete shapes and
 * then run by the CPU reference or by the tiled GEMM kernel (kernels/gemm.ts).
 */
import { Dim } from '../ir/graph';
import { sizeOf, Tensor } from '../ir/tensor';
import { GpuTensor, KernelContext } from '../kernels/context';
import { gemmKernel, GemmBindingName, GemmEpilogue, gemmTactics } from '../kernels/gemm';
import {
  bindings,
  broadcastOffset,
  coordinates,
  f32Literal,
  linearGrid,
  linearMain
} from '../kernels/wgsl';
import { Attributes } from './attributes';
import { broadcastConcrete, broadcastIndices, broadcastShapes } from './broadcast';
import { InferInput, OpContext, OpDefinition, OpError } from './types';
import { atNode } from './window';

/** Everything a batched product needs, on concrete shapes. */
interface ProductPlan {
  m: number;
  k: number;
  n: number;
  /** The broadcast batch shape, and each operand's own batch shape (broadcast against it). */
  batchShape: number[];
  aBatchShape: number[];
  bBatchShape: number[];
  /** Whether A is stored as [K, M] and B as [N, K]. */
  transA: boolean;
  transB: boolean;
  /** The output shape the op defines (a 1-D operand's extra dim removed). */
  outShape: number[];
}

/** The scaled bias of Gemm: beta * C, C broadcast to [M, N]. */
interface Bias<T> {
  c: T;
  beta: number;
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

// --- MatMul ---------------------------------------------------------------------------

/** numpy.matmul's view of the operands: a 1-D A is a row [1, K], a 1-D B a column [K, 1]. */
function asMatrices<D extends Dim>(a: readonly D[], b: readonly D[]): [D[], D[]] {
  if (a.length === 0 || b.length === 0) {
    throw new Error('operands must have rank 1 or more, got a scalar');
  }
  const aMatrix = a.length === 1 ? [1 as D, a[0]] : [...a];
  const bMatrix = b.length === 1 ? [b[0], 1 as D] : [...b];
  return [aMatrix, bMatrix];
}

/** MatMul's output shape, symbolic dims carried through. */
function matmulShape(a: readonly Dim[], b: readonly Dim[]): Dim[] {
  const [aMatrix, bMatrix] = asMatrices(a, b);
  checkInnerDims(a, b, aMatrix[aMatrix.length - 1], bMatrix[bMatrix.length - 2]);
  const batch = broadcastShapes([aMatrix.slice(0, -2), bMatrix.slice(0, -2)])!;
  return [
    ...batch,
    ...(a.length === 1 ? [] : [aMatrix[aMatrix.length - 2]]),
    ...(b.length === 1 ? [] : [bMatrix[bMatrix.length - 1]])
  ];
}

function planMatMul(a: readonly number[], b: readonly number[]): ProductPlan {
  const outShape = matmulShape(a, b) as number[];
  const [aMatrix, bMatrix] = asMatrices(a, b);
  const aBatchShape = aMatrix.slice(0, -2);
  const bBatchShape = bMatrix.slice(0, -2);
  return {
    m: aMatrix[aMatrix.length - 2],
    k: aMatrix[aMatrix.length - 1],
    n: bMatrix[bMatrix.length - 1],
    batchShape: broadcastConcrete([aBatchShape, bBatchShape]),
    aBatchShape,
    bBatchShape,
    transA: false,
    transB: false,
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
    run: (ctx, [a, b]) => [multiplyOnGpu(ctx, 'MatMul', planMatMul(a!.shape, b!.shape), a!, b!, 1)]
  }
};

// --- Gemm -------------------------------------------------------------------------------

interface GemmAttributes {
  alpha: number;
  beta: number;
  transA: boolean;
  transB: boolean;
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
  // C broadcasts one way only: to [M, N], never the other way round.
  if (c && !(c.length <= 2 && c.every((d, i) => d === 1 || d === [m, n][i + 2 - c.length]))) {
    throw new Error(`C of shape ${describe(c)} does not broadcast to [${m}, ${n}]`);
  }
  return {
    m,
    k,
    n,
    batchShape: [],
    aBatchShape: [],
    bBatchShape: [],
    transA: attrs.transA,
    transB: attrs.transB,
    outShape: [m, n]
  };
}

const gemm: OpDefinition<GemmAttributes> = {
  opType: 'Gemm',
  // Before opset 7 a `broadcast` attribute allowed C to broadcast; C is broadcast
  // whenever its shape allows, which covers both readings.
  parseAttributes: ({ node }) => {
    const a = new Attributes(node);
    return {
      alpha: a.float('alpha', 1),
      beta: a.float('beta', 1),
      transA: a.int('transA', 0) !== 0,
      transB: a.int('transB', 0) !== 0
    };
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
    return [multiplyOnCpu(plan, a!, b!, attrs.alpha, c && { c, beta: attrs.beta })];
  },
  webgpu: {
    run: (ctx, [a, b, c], _host, attrs) => {
      const plan = planGemm(a!.shape, b!.shape, c?.shape, attrs);
      const bias = c && { c, beta: attrs.beta };
      return [multiplyOnGpu(ctx, 'Gemm', plan, a!, b!, attrs.alpha, bias)];
    }
  }
};

function checkSameType(ctx: OpContext, a: InferInput | Tensor, b: InferInput | Tensor): void {
  if (a.dtype !== b.dtype) {
    throw new OpError(ctx.node, `A and B must share one type, got ${a.dtype} and ${b.dtype}`);
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
  bias?: Bias<Tensor>
): Tensor {
  const { m, k, n } = plan;
  const aValues = a.toNumbers();
  const bValues = b.toNumbers();
  const strides = operandStrides(plan);
  const [aRow, aCol] = strides.a;
  const [bRow, bCol] = strides.b;
  const aBatches = broadcastIndices(plan.aBatchShape, plan.batchShape);
  const bBatches = broadcastIndices(plan.bBatchShape, plan.batchShape);
  const cValues = bias?.c.toNumbers();
  const cIndices = bias && broadcastIndices(bias.c.shape, [m, n]);
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
        const cell = i * n + j;
        out[outBase + cell] = alpha * sum + (cValues ? bias!.beta * cValues[cIndices![cell]] : 0);
      }
    }
  }
  return Tensor.fromNumbers(a.dtype, plan.outShape, out);
}

// --- the product, on the GPU ------------------------------------------------------------

/**
 * The product on the tiled GEMM kernel, with the first tactic that fits the device (the
 * auto-tuner times the others). Batches run as the kernel's one batch dim, each operand
 * either shared by every batch or holding one matrix per batch; Gemm's beta * C is the
 * kernel's epilogue.
 */
function multiplyOnGpu(
  ctx: KernelContext,
  label: string,
  plan: ProductPlan,
  a: GpuTensor,
  b: GpuTensor,
  alpha: number,
  bias?: Bias<GpuTensor>
): GpuTensor {
  const out = ctx.allocate(a.dtype, plan.outShape);
  if (out.size === 0) {
    return out;
  }
  const { m, k, n } = plan;
  const batchedA = batchedOperand(ctx, label, a, plan.aBatchShape, plan.batchShape, m * k);
  const batchedB = batchedOperand(ctx, label, b, plan.bBatchShape, plan.batchShape, k * n);
  const addend = bias && gemmAddend(ctx, label, bias, m, n);
  const kernel = gemmKernel({
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
    tactic: gemmTactics(ctx.device.limits, m, n, k)[0],
    epilogue: addend?.epilogue
  });
  const tensors: Record<GemmBindingName, GpuTensor | undefined> = {
    a: batchedA.tensor,
    b: batchedB.tensor,
    bias: addend?.tensor,
    residual: addend?.tensor,
    c: out
  };
  ctx.dispatch({
    label,
    code: kernel.code,
    bindings: kernel.bindings.map(({ name }) => tensors[name]!),
    workgroups: kernel.workgroups
  });
  return out;
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
  const expanded = broadcastScaled(ctx, `${label} batch broadcast`, operand, expandedShape, 1);
  return { tensor: expanded, stride: matrixSize };
}

/**
 * Gemm's beta * C in the kernel's epilogue, which adds C unscaled: a scalar, a row of N, a
 * column of M, or (C of M * N elements, [M, N] or a row or column that is the whole
 * output) a residual of the output's layout.
 */
function gemmAddend(
  ctx: KernelContext,
  label: string,
  { c, beta }: Bias<GpuTensor>,
  m: number,
  n: number
): { epilogue: GemmEpilogue; tensor: GpuTensor } {
  const tensor = beta === 1 ? c : broadcastScaled(ctx, `${label} beta * C`, c, c.shape, beta);
  if (c.size === 1) {
    return { epilogue: { bias: 'scalar' }, tensor };
  }
  if (c.size === m * n) {
    return { epilogue: { residual: true }, tensor };
  }
  // C broadcasts to [M, N] (planGemm checks): [N] and [1, N] end in N > 1, [M, 1] in 1.
  return { epilogue: { bias: c.shape[c.shape.length - 1] === n ? 'row' : 'col' }, tensor };
}

/** scale * x, broadcast to `shape`, in a new tensor. */
function broadcastScaled(
  ctx: KernelContext,
  label: string,
  x: GpuTensor,
  shape: readonly number[],
  scale: number
): GpuTensor {
  const out = ctx.allocate(x.dtype, shape);
  const value = `x[${broadcastOffset(x.shape, shape.length, 'o')}]`;
  const body = `${coordinates('index', shape, 'o')}
  out[index] = ${scale === 1 ? value : `${f32Literal(scale)} * ${value}`};`;
  ctx.dispatch({
    label,
    code: `${bindings([['x', x]], [['out', out]])}\n${linearMain(out.size, body)}`,
    bindings: [x, out],
    workgroups: linearGrid(out.size)
  });
  return out;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const matmulOps: OpDefinition<any>[] = [matmul, gemm];
