/**
 * INT8 layers, as the builder's quantizeLayers pass makes them of FusedConv and FusedMatMul:
 *
 *   q(x) = clamp(roundHalfEven(x / x_scale), -128, 127)
 *
 * - webtrt::Int8Conv: inputs X (float NCHW), W (int8 [Cout, Cin / group, k...], constant),
 *   W_scale (float32 [Cout]), B? (float [Cout]), Z? (float, Y's shape); FusedConv's
 *   attributes and `x_scale`. Y = activation(x_scale * W_scale[c] * Σ q(X)·W + B[c] + Z).
 * - webtrt::Int8MatMul: inputs A (float [..., M, K]), B (int8 [K, N], constant), B_scale
 *   (float32 [N]), bias? (float [N]), Z? (float, Y's shape); `a_scale` and FusedMatMul's
 *   activation attributes. Y = activation(a_scale * B_scale[n] * Σ_k q(A)[m, k]·B[k, n] +
 *   bias[n] + Z).
 *
 * The sums are exact integers; Y has X's (A's) float type and is rounded to it once. The
 * WebGPU kernels are kernels/int8-gemm.ts's.
 */
import { DataType, isFloat } from '../ir/dtype';
import { Dim } from '../ir/graph';
import { sizeOf, Tensor } from '../ir/tensor';
import { dispatchInOrder, GpuTensor, KernelContext } from '../kernels/context';
import {
  Int8GemmSpec,
  Int8GemmTactic,
  int8GemmKernels,
  int8GemmTacticName,
  int8GemmTactics,
  packedDotProductMissing,
  subgroupMatrixSupport
} from '../kernels/int8-gemm';
import { Activation, activationMath, readActivation } from './activation';
import { Attributes } from './attributes';
import {
  checkResidual,
  ConvGeometry,
  convReference,
  FusedConvAttributes,
  geometry,
  inferFusedConv,
  parseFusedConvAttributes
} from './conv';
import { roundHalfEven } from './elementwise';
import { matmulShape, planMatMul, productOnCpu } from './matmul';
import { OpContext, OpDefinition } from './types';
import { atNode } from './window';

interface Int8ConvAttributes extends FusedConvAttributes {
  xScale: number;
}

/** The GEMM an INT8 layer is, without its tensors and tactic. */
type Int8Product = Pick<Int8GemmSpec, 'M' | 'N' | 'K' | 'batch' | 'layout'>;

interface Int8MatMulAttributes {
  aScale: number;
  activation?: Activation;
}

/** A quantization scale attribute: required, positive and finite. */
function readScale(ctx: OpContext, name: string): number {
  const a = new Attributes(ctx.node);
  const scale = a.float(name);
  if (scale === undefined) {
    throw a.invalid(name, 'is required');
  }
  if (!(scale > 0) || !Number.isFinite(scale)) {
    throw a.invalid(name, `must be positive, got ${scale}`);
  }
  return scale;
}

/** Throws unless `input` (named for the message), where present, is int8 or a float type. */
function checkType(
  name: string,
  input: { dtype: DataType } | undefined,
  accepts: 'int8' | 'float'
): void {
  const ok = accepts === 'int8' ? input?.dtype === 'int8' : input && isFloat(input.dtype);
  if (input && !ok) {
    throw new Error(`${name} must be ${accepts}, got ${input.dtype}`);
  }
}

/** Throws unless a per-channel vector (scales or biases) has `channels` entries. */
function checkChannels(name: string, shape: readonly Dim[] | undefined, channels: Dim): void {
  if (!shape) {
    return;
  }
  const count = shape[0];
  const known = typeof count === 'number' && typeof channels === 'number';
  if (shape.length !== 1 || (known && count !== channels)) {
    throw new Error(
      `${name} must be a vector of ${channels ?? 'one value per channel'}, got [${shape.join(', ')}]`
    );
  }
}

// --- the arithmetic, shared by the CPU references ---------------------------------------

/** q(x) of every element, as exact integers in a float64 tensor. */
function quantized(x: Tensor, scale: number): Tensor {
  const step = Math.fround(scale);
  const values = x
    .toNumbers()
    .map(v => Math.min(Math.max(roundHalfEven(Math.fround(v / step)), -128), 127));
  return new Tensor('float64', x.shape, values);
}

/**
 * Y from the exact sums: each scaled by the input scale and its channel's weight scale,
 * plus the channel's bias and the residual, activated, rounded once to `dtype`.
 */
function finishSums(
  dtype: DataType,
  shape: readonly number[],
  sums: Float64Array,
  channelOf: (index: number) => number,
  inputScale: number,
  [weightScales, bias, residual]: (Tensor | undefined)[],
  activation: Activation | undefined
): Tensor {
  const scales = weightScales!.toNumbers();
  const biases = bias?.toNumbers();
  const addends = residual?.toNumbers();
  const activate = activation && activationMath(activation).cpu;
  const step = Math.fround(inputScale);
  const values = sums.map((sum, i) => {
    const channel = channelOf(i);
    let v = step * scales[channel] * sum + (biases?.[channel] ?? 0) + (addends?.[i] ?? 0);
    if (activate) {
      v = activate(v);
    }
    return v;
  });
  return Tensor.fromNumbers(dtype, shape, values);
}

// --- webtrt::Int8Conv -------------------------------------------------------------------

function outputShape(g: ConvGeometry): number[] {
  return [g.batch, g.outChannels, ...g.axes.map(a => a.output)];
}

function isDepthwise(group: number, weightShape: readonly Dim[] | undefined): boolean {
  return group > 1 && weightShape?.[0] === group && weightShape[1] === 1;
}

function int8ConvReference(inputs: (Tensor | undefined)[], attrs: Int8ConvAttributes): Tensor {
  const [x, w, wScale, b, z] = inputs;
  checkType('W', w, 'int8');
  const g = geometry('conv', attrs, x!, w!, b);
  const shape = outputShape(g);
  checkChannels('W_scale', wScale!.shape, g.outChannels);
  checkResidual(z?.shape, shape);
  const sums = convReference(quantized(x!, attrs.xScale), w!, undefined, g).toNumbers();
  const points = sizeOf(shape.slice(2));
  return finishSums(
    x!.dtype,
    shape,
    sums,
    i => Math.floor(i / points) % g.outChannels,
    attrs.xScale,
    [wScale, b, z],
    attrs.activation
  );
}

/** Int8Conv as a GEMM per group (implicit GEMM, B gathered from X). */
function int8ConvProduct(
  [x, w, , b]: (GpuTensor | undefined)[],
  attrs: Int8ConvAttributes
): Int8Product {
  const g = geometry('conv', attrs, x!, w!, b);
  return {
    M: g.outChannels / g.group,
    N: g.batch * sizeOf(g.axes.map(a => a.output)),
    K: (g.inChannels / g.group) * sizeOf(g.axes.map(a => a.kernel)),
    batch: g.group,
    layout: {
      kind: 'convolution',
      convolution: {
        images: g.batch,
        inChannels: g.inChannels,
        outChannels: g.outChannels,
        axes: g.axes
      }
    }
  };
}

const int8Conv: OpDefinition<Int8ConvAttributes> = {
  opType: 'Int8Conv',
  domain: 'webtrt',
  parseAttributes: ctx => ({
    ...parseFusedConvAttributes(ctx),
    xScale: readScale(ctx, 'x_scale')
  }),
  inferTypes: ([x, w, wScale, b, z], attrs) => {
    checkType('W', w, 'int8');
    checkType('W_scale', wScale, 'float');
    const [y] = inferFusedConv([x, w, b, z], attrs);
    checkChannels('W_scale', wScale?.shape, y.shape?.[1] ?? null);
    return [y];
  },
  cpu: (inputs, attrs, ctx) =>
    atNode(ctx, () => {
      checkType('X', inputs[0], 'float');
      return [int8ConvReference(inputs, attrs)];
    }),
  webgpu: {
    halfStorage: true,
    float32Inputs: [2],
    unsupported: (dtypes, attrs, shapes) =>
      isDepthwise(attrs.group, shapes?.[1])
        ? 'depthwise: INT8 is not faster here'
        : int8KernelDeclines(dtypes),
    tactics: (inputs, attrs, limits, device, level) =>
      tacticsOf(int8ConvProduct(inputs, attrs), limits, device, level).map(int8GemmTacticName),
    timedAttributes: ({ xScale: _scale, ...timed }) => timed,
    run: (ctx, inputs, _host, attrs) => {
      const [x, w, , b, z] = inputs;
      const shape = outputShape(geometry('conv', attrs, x!, w!, b));
      checkResidual(z?.shape, shape);
      const product = int8ConvProduct(inputs, attrs);
      return [runInt8Gemm(ctx, 'Int8Conv', product, shape, inputs, attrs.xScale, attrs.activation)];
    }
  }
};

// --- webtrt::Int8MatMul -----------------------------------------------------------------

function checkMatMulOperands(a: readonly Dim[], b: readonly Dim[]): void {
  if (a.length < 2 || b.length !== 2) {
    throw new Error(
      `A must have rank 2 or more and B rank 2, got [${a.join(', ')}] and [${b.join(', ')}]`
    );
  }
}

function int8MatMulReference(inputs: (Tensor | undefined)[], attrs: Int8MatMulAttributes): Tensor {
  const [a, b, bScale, bias, z] = inputs;
  checkType('B', b, 'int8');
  checkMatMulOperands(a!.shape, b!.shape);
  const plan = planMatMul(a!.shape, b!.shape);
  checkChannels('B_scale', bScale!.shape, plan.n);
  checkChannels('bias', bias?.shape, plan.n);
  checkResidual(z?.shape, plan.outShape);
  const sums = productOnCpu(plan, quantized(a!, attrs.aScale), b!, 1);
  return finishSums(
    a!.dtype,
    plan.outShape,
    sums,
    i => i % plan.n,
    attrs.aScale,
    [bScale, bias, z],
    attrs.activation
  );
}

/** Int8MatMul as one GEMM: A's batch dims folded into M, the weights shared. */
function int8MatMulProduct([a, b]: (GpuTensor | undefined)[]): Int8Product {
  const [K, N] = b!.shape;
  return { M: a!.size / K, N, K, layout: { kind: 'matmul' } };
}

const int8MatMul: OpDefinition<Int8MatMulAttributes> = {
  opType: 'Int8MatMul',
  domain: 'webtrt',
  parseAttributes: ctx => ({
    aScale: readScale(ctx, 'a_scale'),
    activation: readActivation(ctx.node)
  }),
  inferTypes: ([a, b, bScale, bias, z]) => {
    checkType('A', a, 'float');
    checkType('B', b, 'int8');
    checkType('B_scale', bScale, 'float');
    if (!a!.shape || !b!.shape) {
      return [{ dtype: a!.dtype, shape: undefined }];
    }
    checkMatMulOperands(a!.shape, b!.shape);
    const shape = matmulShape(a!.shape, b!.shape);
    const columns = shape[shape.length - 1];
    checkChannels('B_scale', bScale?.shape, columns);
    checkChannels('bias', bias?.shape, columns);
    if (z?.shape) {
      checkResidual(z.shape, shape);
    }
    return [{ dtype: a!.dtype, shape }];
  },
  cpu: (inputs, attrs, ctx) =>
    atNode(ctx, () => {
      checkType('A', inputs[0], 'float');
      return [int8MatMulReference(inputs, attrs)];
    }),
  webgpu: {
    halfStorage: true,
    float32Inputs: [2],
    unsupported: dtypes => int8KernelDeclines(dtypes),
    tactics: (inputs, _attrs, limits, device, level) =>
      tacticsOf(int8MatMulProduct(inputs), limits, device, level).map(int8GemmTacticName),
    timedAttributes: ({ aScale: _scale, ...timed }) => timed,
    run: (ctx, inputs, _host, attrs) => {
      const [a, b, , , z] = inputs;
      checkMatMulOperands(a!.shape, b!.shape);
      const shape = matmulShape(a!.shape, b!.shape) as number[];
      checkResidual(z?.shape, shape);
      const product = int8MatMulProduct(inputs);
      return [
        runInt8Gemm(ctx, 'Int8MatMul', product, shape, inputs, attrs.aScale, attrs.activation)
      ];
    }
  }
};

// --- the WebGPU side, shared ----------------------------------------------------------

/**
 * Why the INT8 kernels decline a layer with these input types: X (A) float, the weights
 * int8, the rest float; and the device's WGSL must have the packed dot product.
 */
function int8KernelDeclines([x, w, ...rest]: (DataType | undefined)[]): string | null {
  const notFloat = [x, ...rest].find(d => d !== undefined && !isFloat(d));
  if (notFloat) {
    return `${notFloat} inputs other than the weights run on the CPU`;
  }
  if (w !== 'int8') {
    return `the weights are ${w}, not int8`;
  }
  return packedDotProductMissing();
}

/**
 * From this builder optimization level up, the i8 subgroup matrix tactics are timed too. On
 * the H100 they took an INT8 ResNet-50's build from 79 s to 220-240 s (their shaders compile
 * slowly) and the engine was no faster with them (docs/benchmarks.md).
 */
const SUBGROUP_MATRIX_LEVEL = 4;

/**
 * The tactics of `product`: dp4a tiles, and subgroup matrix ones where `device` offers i8
 * subgroup matrices and the optimization level, if given, reaches SUBGROUP_MATRIX_LEVEL.
 */
function tacticsOf(
  product: Int8Product,
  limits: GPUSupportedLimits,
  device: GPUDevice | undefined,
  level?: number
): Int8GemmTactic[] {
  const { M, N, K, batch, layout } = product;
  const problem = { M, N, K, batch, gathered: layout.kind === 'convolution' };
  const matrices = (level ?? SUBGROUP_MATRIX_LEVEL) >= SUBGROUP_MATRIX_LEVEL;
  return int8GemmTactics(
    limits,
    problem,
    matrices ? device && subgroupMatrixSupport(device) : undefined
  );
}

/**
 * Y of `shape` from the INT8 kernels of `product`, with the tactic the builder chose (the
 * auto-tuner times those `tactics` lists), else the default.
 */
function runInt8Gemm(
  ctx: KernelContext,
  label: string,
  product: Int8Product,
  shape: readonly number[],
  [x, w, wScale, bias, residual]: (GpuTensor | undefined)[],
  inputScale: number,
  activation: Activation | undefined
): GpuTensor {
  const y = ctx.allocate(x!.dtype, shape);
  if (y.size === 0) {
    return y;
  }
  const tactics = tacticsOf(product, ctx.device.limits, ctx.device);
  const tactic = tactics.find(t => int8GemmTacticName(t) === ctx.tactic) ?? tactics[0];
  const tensors = { x: x!, w: w!, w_scale: wScale!, y, bias, residual };
  const kernels = int8GemmKernels({
    ...product,
    inputScale,
    tensors,
    activation: activation && activationMath(activation),
    tactic
  });
  dispatchInOrder(ctx, label, kernels, tensors, { name: 'workspace', dtype: 'int32' });
  return y;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const int8Ops: OpDefinition<any>[] = [int8Conv, int8MatMul];
