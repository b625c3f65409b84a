/**
 * Convolutions: Conv and ConvTranspose over any number of spatial axes, with groups
 * (depthwise included), strides, dilations, explicit pads or auto_pad, and an optional
 * bias; ConvTranspose also takes output_padding and output_shape.
 *
 * webtrt::FusedConv is the layer the builder makes of a Conv and what follows it:
 * Y = activation(Conv(X, W, B) + Z), with inputs X, W, B? and Z? (a residual of Y's shape),
 * Conv's attributes, and `activation` / `activation_params` (ops/activation.ts).
 */
import { Dim } from '../ir/graph';
import { DataType, isFloat } from '../ir/dtype';
import { sizeOf, stridesOf, Tensor } from '../ir/tensor';
import { dispatchInOrder, GpuTensor, KernelContext } from '../kernels/context';
import {
  ConvGeometry as KernelGeometry,
  convKernels,
  ConvTactic,
  convTacticName,
  convTactics
} from '../kernels/conv';
import { bindings, coordinates, linearGrid, linearMain } from '../kernels/wgsl';
import { Activation, activationMath, ActivationMath, readActivation } from './activation';
import { Attributes } from './attributes';
import { InferInput, OpContext, OpDefinition } from './types';
import {
  atNode,
  checkWindowRank,
  gridPoints,
  parseWindowAttributes,
  resolveWindow,
  windowInputOffset,
  WindowAttributes,
  WindowAxis,
  windowOutputDims,
  wgslKernelLoops,
  wgslPlus
} from './window';

interface ConvAttributes {
  window: WindowAttributes;
  group: number;
}

export interface FusedConvAttributes extends ConvAttributes {
  activation?: Activation;
}

interface ConvTransposeAttributes extends ConvAttributes {
  outputPadding?: number[];
  /** Spatial output size; pads are derived from it when present. */
  outputShape?: number[];
}

/** The channel and window geometry of one convolution, checked against its tensors. */
export interface ConvGeometry extends KernelGeometry {
  axes: WindowAxis[];
}

/**
 * Where the channels sit in W: Conv's W is [M, C / group, k...], ConvTranspose's is
 * [C, M / group, k...].
 */
type WeightLayout = 'conv' | 'transpose';

function parseConvAttributes({ node }: OpContext): ConvAttributes {
  const a = new Attributes(node);
  const group = a.int('group', 1);
  if (group < 1) {
    throw a.invalid('group', `must be positive, got ${group}`);
  }
  return { window: parseWindowAttributes(a), group };
}

export function parseFusedConvAttributes(ctx: OpContext): FusedConvAttributes {
  return { ...parseConvAttributes(ctx), activation: readActivation(ctx.node) };
}

function parseConvTransposeAttributes(ctx: OpContext): ConvTransposeAttributes {
  const a = new Attributes(ctx.node);
  const outputPadding = a.ints('output_padding');
  if (outputPadding?.some(p => p < 0)) {
    throw a.invalid('output_padding', `must not be negative, got [${outputPadding.join(', ')}]`);
  }
  const outputShape = a.ints('output_shape');
  if (outputShape?.some(d => d < 1)) {
    throw a.invalid('output_shape', `must hold positive sizes, got [${outputShape.join(', ')}]`);
  }
  return { ...parseConvAttributes(ctx), outputPadding, outputShape };
}

function checkFloat(dtype: DataType): void {
  if (!isFloat(dtype)) {
    throw new Error(`${dtype} input is not supported (float types only)`);
  }
}

/**
 * Checks the channel counts of X, W and B against each other and the group count, and
 * returns the output channel count (null when W's dims are not known).
 */
function outputChannels(
  layout: WeightLayout,
  xShape: readonly Dim[],
  wShape: readonly Dim[],
  bShape: readonly Dim[] | undefined,
  group: number
): Dim {
  if (xShape.length < 3) {
    throw new Error(`X must have a batch, a channel and spatial axes, got rank ${xShape.length}`);
  }
  if (wShape.length !== xShape.length) {
    throw new Error(`W has rank ${wShape.length}, X has rank ${xShape.length}`);
  }
  const [inChannels] = xShape.slice(1);
  const [w0, w1] = wShape;
  const known = (...dims: Dim[]) => dims.every(d => typeof d === 'number');
  let channels: Dim = null;
  if (layout === 'conv') {
    if (known(inChannels, w1) && inChannels !== (w1 as number) * group) {
      throw new Error(`X has ${inChannels} channels, W takes ${w1} per group × ${group} groups`);
    }
    if (typeof w0 === 'number' && w0 % group !== 0) {
      throw new Error(`W's ${w0} output channels do not split into ${group} groups`);
    }
    channels = w0;
  } else {
    if (known(inChannels, w0) && inChannels !== w0) {
      throw new Error(`X has ${inChannels} channels, W takes ${w0}`);
    }
    if (typeof inChannels === 'number' && inChannels % group !== 0) {
      throw new Error(`X's ${inChannels} channels do not split into ${group} groups`);
    }
    channels = typeof w1 === 'number' ? w1 * group : null;
  }
  if (bShape && (bShape.length !== 1 || (known(bShape[0], channels) && bShape[0] !== channels))) {
    throw new Error(`B must be a vector of ${channels ?? 'M'} biases, got [${bShape.join(', ')}]`);
  }
  return channels;
}

/** The kernel's spatial shape: the attribute, else W's spatial dims (undefined if unknown). */
function kernelShape(w: WindowAttributes, wShape: readonly Dim[]): number[] | undefined {
  const fromWeights = wShape.slice(2);
  if (w.kernelShape) {
    const mismatch = fromWeights.some((d, i) => typeof d === 'number' && d !== w.kernelShape![i]);
    if (mismatch || fromWeights.length !== w.kernelShape.length) {
      throw new Error(
        `kernel_shape [${w.kernelShape.join(', ')}] does not match W's [${fromWeights.join(', ')}]`
      );
    }
    return w.kernelShape;
  }
  return fromWeights.every(d => typeof d === 'number') ? (fromWeights as number[]) : undefined;
}

// --- window geometry -------------------------------------------------------------------

/**
 * ConvTranspose's axis: the output is `stride * (input - 1) + output_padding + span`
 * less the pads, and output_shape (or SAME auto_pad, aiming at `input * stride`) derives
 * the pads from the size wanted: the odd one goes to the end for SAME_UPPER and to the
 * beginning otherwise. A negative pad widens the output (the extra elements hold only
 * the bias). `padBegin` is where output 0 sits in the full (unpadded) result.
 */
function resolveTransposeAxis(
  attrs: ConvTransposeAttributes,
  axis: number,
  rank: number,
  input: number,
  kernel: number
): WindowAxis {
  const w = attrs.window;
  const stride = w.strides?.[axis] ?? 1;
  const dilation = w.dilations?.[axis] ?? 1;
  const outputPadding = attrs.outputPadding?.[axis] ?? 0;
  const full = stride * (input - 1) + outputPadding + (kernel - 1) * dilation + 1;
  const sameAutoPad = w.autoPad === 'SAME_UPPER' || w.autoPad === 'SAME_LOWER';
  const wanted = attrs.outputShape
    ? attrs.outputShape[attrs.outputShape.length - rank + axis]
    : sameAutoPad
      ? input * stride
      : undefined;
  let padBegin = 0;
  let padEnd = 0;
  if (wanted !== undefined) {
    const total = full - wanted;
    const half = Math.floor(total / 2);
    padBegin = w.autoPad === 'SAME_UPPER' ? half : total - half;
    padEnd = total - padBegin;
  } else if (w.autoPad === 'NOTSET') {
    padBegin = w.pads?.[axis] ?? 0;
    padEnd = w.pads?.[axis + rank] ?? 0;
  }
  const output = full - padBegin - padEnd;
  if (output < 1) {
    throw new Error(`the output would be empty on spatial axis ${axis} (pads exceed its size)`);
  }
  return { input, output, kernel, stride, dilation, padBegin, padEnd };
}

function checkTransposeRank(attrs: ConvTransposeAttributes, rank: number): void {
  checkWindowRank(attrs.window, rank);
  if (attrs.outputPadding && attrs.outputPadding.length !== rank) {
    throw new Error(
      `attribute 'output_padding' has ${attrs.outputPadding.length} values, X has ${rank} spatial axes`
    );
  }
  const shape = attrs.outputShape;
  if (shape && shape.length !== rank && shape.length !== rank + 2) {
    throw new Error(
      `attribute 'output_shape' has ${shape.length} values, X has ${rank} spatial axes`
    );
  }
}

function resolveTranspose(
  attrs: ConvTransposeAttributes,
  inputSpatial: readonly number[],
  kernel: readonly number[]
): WindowAxis[] {
  checkTransposeRank(attrs, inputSpatial.length);
  return inputSpatial.map((input, axis) =>
    resolveTransposeAxis(attrs, axis, inputSpatial.length, input, kernel[axis])
  );
}

/** ConvTranspose's output spatial dims for shape inference: null where the input's are not numbers. */
function transposeOutputDims(
  attrs: ConvTransposeAttributes,
  inputSpatial: readonly Dim[],
  kernel: readonly number[]
): Dim[] {
  checkTransposeRank(attrs, inputSpatial.length);
  return inputSpatial.map((input, axis) =>
    typeof input === 'number'
      ? resolveTransposeAxis(attrs, axis, inputSpatial.length, input, kernel[axis]).output
      : null
  );
}

export function geometry(
  layout: WeightLayout,
  attrs: ConvAttributes,
  x: { shape: readonly number[] },
  w: { shape: readonly number[] },
  b: { shape: readonly number[] } | undefined
): ConvGeometry {
  const outChannels = outputChannels(layout, x.shape, w.shape, b?.shape, attrs.group) as number;
  const kernel = kernelShape(attrs.window, w.shape)!;
  const spatial = x.shape.slice(2);
  const axes =
    layout === 'conv'
      ? resolveWindow(attrs.window, spatial, kernel)
      : resolveTranspose(attrs as ConvTransposeAttributes, spatial, kernel);
  return { batch: x.shape[0], inChannels: x.shape[1], outChannels, group: attrs.group, axes };
}

function inferConv(
  layout: WeightLayout,
  [x, w, b]: (InferInput | undefined)[],
  attrs: ConvAttributes
): InferInput[] {
  checkFloat(x!.dtype);
  const xShape = x!.shape;
  if (!xShape || !w!.shape) {
    return [{ dtype: x!.dtype, shape: undefined }];
  }
  const channels = outputChannels(layout, xShape, w!.shape, b?.shape, attrs.group);
  const kernel = kernelShape(attrs.window, w!.shape);
  const spatial = xShape.slice(2);
  const outSpatial = !kernel
    ? spatial.map(() => null)
    : layout === 'conv'
      ? windowOutputDims(attrs.window, spatial, kernel)
      : transposeOutputDims(attrs as ConvTransposeAttributes, spatial, kernel);
  return [{ dtype: x!.dtype, shape: [xShape[0], channels, ...outSpatial] }];
}

// --- CPU references ----------------------------------------------------------------

export function convReference(
  x: Tensor,
  w: Tensor,
  b: Tensor | undefined,
  g: ConvGeometry
): Tensor {
  const xs = x.toNumbers();
  const ws = w.toNumbers();
  const bias = b?.toNumbers();
  const { batch, inChannels, outChannels, group, axes } = g;
  const inSpatial = axes.map(a => a.input);
  const inStrides = stridesOf(inSpatial);
  const inSize = sizeOf(inSpatial);
  const kernelSize = sizeOf(axes.map(a => a.kernel));
  const outPoints = gridPoints(axes.map(a => a.output));
  const kernelPoints = gridPoints(axes.map(a => a.kernel));
  const channelsPerGroup = inChannels / group;
  const filtersPerGroup = outChannels / group;
  const out = new Float64Array(batch * outChannels * outPoints.length);
  for (let n = 0; n < batch; n++) {
    for (let m = 0; m < outChannels; m++) {
      const firstChannel = Math.floor(m / filtersPerGroup) * channelsPerGroup;
      const xBase = (n * inChannels + firstChannel) * inSize;
      const wBase = m * channelsPerGroup * kernelSize;
      const outBase = (n * outChannels + m) * outPoints.length;
      outPoints.forEach((o, oi) => {
        let sum = bias ? bias[m] : 0;
        kernelPoints.forEach((k, ki) => {
          const offset = windowInputOffset(axes, o, k, inStrides);
          if (offset < 0) {
            return;
          }
          for (let c = 0; c < channelsPerGroup; c++) {
            sum += xs[xBase + c * inSize + offset] * ws[wBase + c * kernelSize + ki];
          }
        });
        out[outBase + oi] = sum;
      });
    }
  }
  return Tensor.fromNumbers(x.dtype, [batch, outChannels, ...axes.map(a => a.output)], out);
}

/**
 * FusedConv as the nodes it replaces compute it: Conv's result, plus Z rounded to the
 * type as Add rounds it, then the activation.
 */
function fusedConvReference(
  [x, w, b, z]: (Tensor | undefined)[],
  attrs: FusedConvAttributes
): Tensor {
  const conv = convReference(x!, w!, b, geometry('conv', attrs, x!, w!, b));
  checkResidual(z?.shape, conv.shape);
  let values = conv.toNumbers();
  if (z) {
    const residual = z.toNumbers();
    const sums = Float64Array.from(values, (v, i) => v + residual[i]);
    values = Tensor.fromNumbers(conv.dtype, conv.shape, sums).toNumbers();
  }
  if (attrs.activation) {
    values = values.map(activationMath(attrs.activation).cpu);
  }
  return Tensor.fromNumbers(conv.dtype, conv.shape, values);
}

/** FusedConv's output type: Conv's, with Z (inputs[3]) checked against it. */
export function inferFusedConv(
  inputs: (InferInput | undefined)[],
  attrs: FusedConvAttributes
): InferInput[] {
  const [y] = inferConv('conv', inputs, attrs);
  const z = inputs[3];
  if (z?.shape && y.shape) {
    checkResidual(z.shape, y.shape);
  }
  return [y];
}

/** Z must have Y's shape exactly: the fused residual does not broadcast. */
export function checkResidual(z: readonly Dim[] | undefined, y: readonly Dim[]): void {
  const differs = (a: Dim, b: Dim) => typeof a === 'number' && typeof b === 'number' && a !== b;
  if (z && (z.length !== y.length || z.some((d, i) => differs(d, y[i])))) {
    throw new Error(`Z must have Y's shape [${y.join(', ')}], got [${z.join(', ')}]`);
  }
}

/** ConvTranspose as the scatter it is defined as: each input element adds W times itself. */
function convTransposeReference(
  x: Tensor,
  w: Tensor,
  b: Tensor | undefined,
  g: ConvGeometry
): Tensor {
  const xs = x.toNumbers();
  const ws = w.toNumbers();
  const bias = b?.toNumbers();
  const { batch, inChannels, outChannels, group, axes } = g;
  const outSpatial = axes.map(a => a.output);
  const outStrides = stridesOf(outSpatial);
  const outSize = sizeOf(outSpatial);
  const kernelSize = sizeOf(axes.map(a => a.kernel));
  const inPoints = gridPoints(axes.map(a => a.input));
  const kernelPoints = gridPoints(axes.map(a => a.kernel));
  const channelsPerGroup = inChannels / group;
  const filtersPerGroup = outChannels / group;
  const out = new Float64Array(batch * outChannels * outSize);
  for (let n = 0; n < batch; n++) {
    for (let m = 0; m < outChannels; m++) {
      out.fill(
        bias ? bias[m] : 0,
        (n * outChannels + m) * outSize,
        (n * outChannels + m + 1) * outSize
      );
    }
  }
  // Flat output offset of input point i at kernel point k, or -1 outside the output.
  const target = (i: number[], k: number[]) => {
    let offset = 0;
    for (let d = 0; d < axes.length; d++) {
      const a = axes[d];
      const o = i[d] * a.stride + k[d] * a.dilation - a.padBegin;
      if (o < 0 || o >= a.output) {
        return -1;
      }
      offset += o * outStrides[d];
    }
    return offset;
  };
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < inChannels; c++) {
      const firstFilter = Math.floor(c / channelsPerGroup) * filtersPerGroup;
      inPoints.forEach((i, ii) => {
        const value = xs[(n * inChannels + c) * inPoints.length + ii];
        kernelPoints.forEach((k, ki) => {
          const offset = target(i, k);
          if (offset < 0) {
            return;
          }
          for (let f = 0; f < filtersPerGroup; f++) {
            const weight = ws[(c * filtersPerGroup + f) * kernelSize + ki];
            out[(n * outChannels + firstFilter + f) * outSize + offset] += value * weight;
          }
        });
      });
    }
  }
  return Tensor.fromNumbers(x.dtype, [batch, outChannels, ...outSpatial], out);
}

// --- WebGPU kernels ------------------------------------------------------------------

/** `u32(v0) * s0 + u32(v1) * s1 + ...`: the flat offset of coordinates `${prefix}d` (i32). */
function flatOffset(prefix: string, strides: readonly number[]): string {
  return strides
    .map((s, d) => (s === 1 ? `u32(${prefix}${d})` : `u32(${prefix}${d}) * ${s}u`))
    .join(' + ');
}

/**
 * ConvTranspose's kernel: one invocation per output element, looping over the receptive
 * field (transposed convolutions are rare enough in inference not to need more): `prologue` sets
 * up per-output bases, `enter(axis)` opens each kernel level (computing `i${axis}` or
 * skipping the offset) and `accumulate` adds the products of one kernel position.
 */
function convolutionKernel(
  ctx: KernelContext,
  label: string,
  [x, w, b]: (GpuTensor | undefined)[],
  g: ConvGeometry,
  enter: (axis: number) => string,
  prologue: string,
  accumulate: string
): GpuTensor {
  const outShape = [g.batch, g.outChannels, ...g.axes.map(a => a.output)];
  const out = ctx.allocate(x!.dtype, outShape);
  const inputs: [string, GpuTensor][] = [
    ['x', x!],
    ['w', w!]
  ];
  if (b) {
    inputs.push(['b', b]);
  }
  const loops = wgslKernelLoops(
    g.axes.map(a => a.kernel),
    enter,
    accumulate
  );
  const body = [
    coordinates('index', outShape, 'c'),
    prologue,
    `  var sum = ${b ? 'b[c1]' : '0.0'};`,
    loops,
    '  out[index] = sum;'
  ].join('\n');
  const code = [bindings(inputs, [['out', out]]), linearMain(out.size, body)].join('\n');
  ctx.dispatch({
    label,
    code,
    bindings: [...inputs.map(([, t]) => t), out],
    workgroups: linearGrid(out.size)
  });
  return out;
}

/**
 * The tactic the builder chose for this layer, by name, else the default for its shape (the
 * engine checks that a plan's tactic is still offered).
 */
function chosenTactic(ctx: KernelContext, g: ConvGeometry): ConvTactic {
  const tactics = convTactics(g, ctx.device.limits);
  return tactics.find(t => convTacticName(t) === ctx.tactic) ?? tactics[0];
}

/** Conv's and FusedConv's tactics, by name, the default first. */
function tacticNames(
  [x, w, b]: (GpuTensor | undefined)[],
  attrs: ConvAttributes,
  limits: GPUSupportedLimits
): string[] {
  return convTactics(geometry('conv', attrs, x!, w!, b), limits).map(convTacticName);
}

/**
 * Conv and FusedConv on the convolution kernels (kernels/conv.ts) with the chosen tactic;
 * bias, residual and activation are applied as Y is stored.
 */
function convLayer(
  ctx: KernelContext,
  label: string,
  [x, w, bias, residual]: (GpuTensor | undefined)[],
  g: ConvGeometry,
  activation?: ActivationMath
): GpuTensor {
  const y = ctx.allocate(x!.dtype, [g.batch, g.outChannels, ...g.axes.map(a => a.output)]);
  if (y.size === 0) {
    return y;
  }
  const kernels = convKernels({
    geometry: g,
    tactic: chosenTactic(ctx, g),
    tensors: { x: x!, w: w!, y, bias, residual },
    activation
  });
  dispatchInOrder(
    ctx,
    label,
    kernels,
    { x: x!, w: w!, y, bias, residual },
    { name: 'workspace', dtype: 'float32' }
  );
  return y;
}

/**
 * ConvTranspose as a gather: output o takes input i at kernel offset k where
 * `i * stride + k * dilation == o + padBegin`.
 */
function convTransposeKernel(
  ctx: KernelContext,
  inputs: (GpuTensor | undefined)[],
  g: ConvGeometry
) {
  const inSpatial = g.axes.map(a => a.input);
  const kernel = g.axes.map(a => a.kernel);
  const inSize = sizeOf(inSpatial);
  const kernelSize = sizeOf(kernel);
  const channelsPerGroup = g.inChannels / g.group;
  const filtersPerGroup = g.outChannels / g.group;
  const enter = (d: number) => {
    const a = g.axes[d];
    return [
      `  let t${d} = i32(c${d + 2})${wgslPlus(a.padBegin)} - k${d} * ${a.dilation}i;`,
      `  if (t${d} < 0i || t${d} % ${a.stride}i != 0i || t${d} / ${a.stride}i >= ${a.input}i) {`,
      '    continue;',
      '  }',
      `  let i${d} = t${d} / ${a.stride}i;`
    ].join('\n');
  };
  const prologue = [
    `  let group = c1 / ${filtersPerGroup}u;`,
    `  let xBase = (c0 * ${g.inChannels}u + group * ${channelsPerGroup}u) * ${inSize}u;`,
    `  let wBase = (group * ${channelsPerGroup * filtersPerGroup}u + c1 % ${filtersPerGroup}u) * ${kernelSize}u;`
  ].join('\n');
  const accumulate = [
    `  let xOffset = xBase + ${flatOffset('i', stridesOf(inSpatial))};`,
    `  let wOffset = wBase + ${flatOffset('k', stridesOf(kernel))};`,
    `  for (var c = 0u; c < ${channelsPerGroup}u; c++) {`,
    `    sum += x[xOffset + c * ${inSize}u] * w[wOffset + c * ${filtersPerGroup * kernelSize}u];`,
    '  }'
  ].join('\n');
  return convolutionKernel(ctx, 'ConvTranspose', inputs, g, enter, prologue, accumulate);
}

// --- op definitions --------------------------------------------------------------------

const conv: OpDefinition<ConvAttributes> = {
  opType: 'Conv',
  parseAttributes: parseConvAttributes,
  inferTypes: (inputs, attrs) => inferConv('conv', inputs, attrs),
  cpu: ([x, w, b], attrs, ctx) =>
    atNode(ctx, () => {
      checkFloat(x!.dtype);
      return [convReference(x!, w!, b, geometry('conv', attrs, x!, w!, b))];
    }),
  webgpu: {
    halfStorage: true,
    tactics: tacticNames,
    run: (ctx, inputs, _host, attrs) => {
      const [x, w, b] = inputs;
      return [convLayer(ctx, 'Conv', inputs, geometry('conv', attrs, x!, w!, b))];
    }
  }
};

const fusedConv: OpDefinition<FusedConvAttributes> = {
  opType: 'FusedConv',
  domain: 'webtrt',
  parseAttributes: parseFusedConvAttributes,
  inferTypes: inferFusedConv,
  cpu: (inputs, attrs, ctx) =>
    atNode(ctx, () => {
      checkFloat(inputs[0]!.dtype);
      return [fusedConvReference(inputs, attrs)];
    }),
  webgpu: {
    halfStorage: true,
    tactics: tacticNames,
    run: (ctx, inputs, _host, attrs) => {
      const [x, w, b, z] = inputs;
      const g = geometry('conv', attrs, x!, w!, b);
      checkResidual(z?.shape, [g.batch, g.outChannels, ...g.axes.map(a => a.output)]);
      const activation = attrs.activation && activationMath(attrs.activation);
      return [convLayer(ctx, 'FusedConv', inputs, g, activation)];
    }
  }
};

const convTranspose: OpDefinition<ConvTransposeAttributes> = {
  opType: 'ConvTranspose',
  parseAttributes: parseConvTransposeAttributes,
  inferTypes: (inputs, attrs) => inferConv('transpose', inputs, attrs),
  cpu: ([x, w, b], attrs, ctx) =>
    atNode(ctx, () => {
      checkFloat(x!.dtype);
      return [convTransposeReference(x!, w!, b, geometry('transpose', attrs, x!, w!, b))];
    }),
  webgpu: {
    run: (ctx, inputs, _host, attrs) => {
      const [x, w, b] = inputs;
      return [convTransposeKernel(ctx, inputs, geometry('transpose', attrs, x!, w!, b))];
    }
  }
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const convOps: OpDefinition<any>[] = [conv, fusedConv, convTranspose];
