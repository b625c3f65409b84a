/**
 * Resize (opset 10 on) and Upsample (opsets 7-9), one implementation: nearest, linear
 * and cubic interpolation along any axes, the coordinate transformation modes of the
 * spec, output sizes from scales or sizes (with opset 18's axes, keep_aspect_ratio_policy
 * and antialias), exclude_outside, and tf_crop_and_resize's crop and extrapolation.
 */
import { DataType, isInteger } from '../ir/dtype';
import { Dim } from '../ir/graph';
import { sizeOf, stridesOf, Tensor } from '../ir/tensor';
import { GpuTensor, KernelContext } from '../kernels/context';
import {
  bindings,
  coordinates,
  f32Literal,
  linearGrid,
  linearMain,
  readFloat,
  writeFloat
} from '../kernels/wgsl';
import { Attributes } from './attributes';
import { InferInput, OpContext, OpDefinition } from './types';
import { atNode, wgslPlus } from './window';

type InterpolationMode = 'nearest' | 'linear' | 'cubic';

const TRANSFORMS = [
  'half_pixel',
  'half_pixel_symmetric',
  'pytorch_half_pixel',
  'align_corners',
  'asymmetric',
  'tf_half_pixel_for_nn',
  'tf_crop_and_resize'
] as const;
type CoordinateTransform = (typeof TRANSFORMS)[number];

/**
 * How nearest mode rounds a source coordinate. 'simple' is what Resize-10 and Upsample
 * do, having no attribute for it: floor when upsampling, ceil when downsampling (as
 * ONNX Runtime does; the spec of those opsets leaves it unsaid).
 */
const NEAREST_MODES = ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'] as const;
type NearestMode = (typeof NEAREST_MODES)[number] | 'simple';

const ASPECT_POLICIES = ['stretch', 'not_larger', 'not_smaller'] as const;
type AspectPolicy = (typeof ASPECT_POLICIES)[number];

interface ResizeAttributes {
  mode: InterpolationMode;
  transform: CoordinateTransform;
  nearestMode: NearestMode;
  cubicCoeffA: number;
  excludeOutside: boolean;
  /** Linear and cubic filters stretch by 1 / scale when downsampling (opset 18). */
  antialias: boolean;
  extrapolationValue: number;
  /** The axes roi, scales and sizes refer to (opset 18); all axes when absent. */
  axes?: number[];
  keepAspectRatioPolicy: AspectPolicy;
  /** Upsample-7's scales, an attribute; later versions take them as an input. */
  scalesAttribute?: number[];
  /** Where roi, scales and sizes sit among the node's inputs, by op and opset. */
  inputIndex: { roi?: number; scales?: number; sizes?: number };
}

/** The values of roi, scales and sizes; an empty tensor counts as absent. */
interface Sizing {
  roi?: number[];
  scales?: number[];
  sizes?: number[];
}

/** One axis of a resize with concrete sizes. */
interface ResizeAxis {
  input: number;
  output: number;
  /** The scale the coordinate transforms divide by: given, or output / input. */
  scale: number;
  roiStart: number;
  roiEnd: number;
}

/** Taps along one axis for one output coordinate: clamped input indices and weights. */
interface AxisTaps {
  indices: number[];
  weights: number[];
}

// --- attributes ---------------------------------------------------------------------------

function oneOf<T extends string>(
  a: Attributes,
  name: string,
  allowed: readonly T[],
  fallback: T
): T {
  const value = a.string(name, fallback);
  if (!(allowed as readonly string[]).includes(value)) {
    throw a.invalid(name, `must be one of ${allowed.join(', ')}, got '${value}'`);
  }
  return value as T;
}

function parseResize({ node, opset }: OpContext): ResizeAttributes {
  const a = new Attributes(node);
  if (opset < 11) {
    return legacyAttributes(a, { scales: 1 });
  }
  // tf_half_pixel_for_nn left the spec in opset 13, half_pixel_symmetric came in 19.
  const transforms = TRANSFORMS.filter(
    t =>
      (t !== 'tf_half_pixel_for_nn' || opset < 13) && (t !== 'half_pixel_symmetric' || opset >= 19)
  );
  const axes = opset >= 18 ? a.ints('axes') : undefined;
  return {
    mode: oneOf(a, 'mode', ['nearest', 'linear', 'cubic'], 'nearest'),
    transform: oneOf(a, 'coordinate_transformation_mode', transforms, 'half_pixel'),
    nearestMode: oneOf(a, 'nearest_mode', NEAREST_MODES, 'round_prefer_floor'),
    cubicCoeffA: a.float('cubic_coeff_a', -0.75),
    excludeOutside: a.int('exclude_outside', 0) !== 0,
    antialias: opset >= 18 && a.int('antialias', 0) !== 0,
    extrapolationValue: a.float('extrapolation_value', 0),
    axes,
    keepAspectRatioPolicy:
      opset >= 18 ? oneOf(a, 'keep_aspect_ratio_policy', ASPECT_POLICIES, 'stretch') : 'stretch',
    inputIndex: { roi: 1, scales: 2, sizes: 3 }
  };
}

function parseUpsample({ node, opset }: OpContext): ResizeAttributes {
  const a = new Attributes(node);
  if (opset >= 9) {
    return legacyAttributes(a, { scales: 1 });
  }
  const scales = a.floats('scales');
  if (!scales) {
    throw a.invalid('scales', 'is required');
  }
  return { ...legacyAttributes(a, {}), scalesAttribute: scales };
}

/** Resize-10 and Upsample: asymmetric coordinates, 'simple' rounding, no other options. */
function legacyAttributes(
  a: Attributes,
  inputIndex: ResizeAttributes['inputIndex']
): ResizeAttributes {
  return {
    mode: oneOf(a, 'mode', ['nearest', 'linear'], 'nearest'),
    transform: 'asymmetric',
    nearestMode: 'simple',
    cubicCoeffA: -0.75,
    excludeOutside: false,
    antialias: false,
    extrapolationValue: 0,
    keepAspectRatioPolicy: 'stretch',
    inputIndex
  };
}

function hostInputs(attrs: ResizeAttributes): number[] {
  const { roi, scales, sizes } = attrs.inputIndex;
  return [roi, scales, sizes].filter((i): i is number => i !== undefined);
}

// --- sizes ----------------------------------------------------------------------------------

function readSizing(attrs: ResizeAttributes, values: (Tensor | undefined)[]): Sizing {
  const read = (index: number | undefined) => {
    const tensor = index === undefined ? undefined : values[index];
    return tensor && tensor.size > 0 ? Array.from(tensor.toNumbers()) : undefined;
  };
  const { roi, scales, sizes } = attrs.inputIndex;
  return {
    roi: read(roi),
    scales: attrs.scalesAttribute ?? read(scales),
    sizes: read(sizes)?.map(Math.trunc)
  };
}

/** The axes the sizing inputs refer to, made non-negative. */
function resizedAxes(attrs: ResizeAttributes, rank: number): number[] {
  if (!attrs.axes) {
    return Array.from({ length: rank }, (_, i) => i);
  }
  return attrs.axes.map(axis => {
    if (axis < -rank || axis >= rank) {
      throw new Error(`axis ${axis} is out of range for rank ${rank}`);
    }
    return axis < 0 ? axis + rank : axis;
  });
}

/**
 * Output size and scale of every axis. With scales, `floor(input * scale)` (in float32,
 * as ONNX's shape inference and ONNX Runtime compute it); with sizes, the sizes, or the
 * aspect-ratio-keeping sizes of keep_aspect_ratio_policy. Symbolic input dims give
 * unknown (null) outputs unless the axis keeps its size.
 */
function outputSizes(
  attrs: ResizeAttributes,
  shape: readonly Dim[],
  { scales, sizes }: Sizing
): { output: Dim; scale: number | null }[] {
  const axes = resizedAxes(attrs, shape.length);
  if (scales && sizes) {
    throw new Error('scales and sizes are both given; only one may be');
  }
  const given = scales ?? sizes;
  if (!given) {
    throw new Error('neither scales nor sizes is given');
  }
  if (given.length !== axes.length) {
    const what = scales ? 'scales' : 'sizes';
    throw new Error(`${what} has ${given.length} values for ${axes.length} axes`);
  }
  const result = shape.map(output => ({ output, scale: 1 as number | null }));
  if (scales) {
    axes.forEach((axis, i) => {
      const scale = scales[i];
      if (!(scale > 0)) {
        throw new Error(`scales must be positive, got [${scales.join(', ')}]`);
      }
      const input = shape[axis];
      const output =
        scale === 1
          ? input
          : typeof input === 'number'
            ? Math.floor(Math.fround(input * scale))
            : null;
      result[axis] = { output, scale };
    });
    return result;
  }
  if (sizes!.some(s => s < 0)) {
    throw new Error(`sizes must not be negative, got [${sizes!.join(', ')}]`);
  }
  const ratios = axes.map((axis, i) => {
    const input = shape[axis];
    return typeof input === 'number' ? sizes![i] / input : null;
  });
  if (attrs.keepAspectRatioPolicy === 'stretch') {
    axes.forEach((axis, i) => (result[axis] = { output: sizes![i], scale: ratios[i] }));
  } else if (ratios.every(r => r !== null)) {
    const pick = attrs.keepAspectRatioPolicy === 'not_larger' ? Math.min : Math.max;
    const scale = pick(...(ratios as number[]));
    // round_int in the spec: halfway cases up.
    axes.forEach(axis => {
      result[axis] = { output: Math.floor(scale * (shape[axis] as number) + 0.5), scale };
    });
  } else {
    axes.forEach(axis => (result[axis] = { output: null, scale: null }));
  }
  return result;
}

function resizePlan(
  attrs: ResizeAttributes,
  shape: readonly number[],
  sizing: Sizing
): ResizeAxis[] {
  const sizes = outputSizes(attrs, shape, sizing);
  const axes = resizedAxes(attrs, shape.length);
  const roi = attrs.transform === 'tf_crop_and_resize' ? sizing.roi : undefined;
  if (roi && roi.length !== 2 * axes.length) {
    throw new Error(`roi has ${roi.length} values, ${axes.length} axes need ${2 * axes.length}`);
  }
  return shape.map((input, axis) => {
    const i = axes.indexOf(axis);
    return {
      input,
      output: sizes[axis].output as number,
      scale: sizes[axis].scale as number,
      roiStart: roi && i >= 0 ? roi[i] : 0,
      roiEnd: roi && i >= 0 ? roi[i + axes.length] : 1
    };
  });
}

/** An axis every output coordinate of which reads exactly its own input coordinate. */
function isIdentity(attrs: ResizeAttributes, a: ResizeAxis): boolean {
  return (
    a.scale === 1 &&
    a.output === a.input &&
    attrs.transform !== 'tf_half_pixel_for_nn' &&
    (attrs.transform !== 'tf_crop_and_resize' || (a.roiStart === 0 && a.roiEnd === 1))
  );
}

// --- coordinates and weights --------------------------------------------------------------

/**
 * Where output coordinate `x` of an axis samples the input, per
 * coordinate_transformation_mode. `lengthResized` is `scale * input`, fractional when the
 * scale does not divide evenly: that is the ONNX reference's reading of length_resized,
 * and the backend tests' (ONNX Runtime uses the integer output length instead). For a
 * single output, pytorch_half_pixel samples 0 as the spec says (the reference samples
 * -0.5, which only cubic mode tells apart).
 */
function sourceCoordinate(transform: CoordinateTransform, a: ResizeAxis, x: number): number {
  const lengthResized = a.scale * a.input;
  switch (transform) {
    case 'half_pixel':
      return (x + 0.5) / a.scale - 0.5;
    case 'half_pixel_symmetric': {
      const adjustment = a.output / lengthResized;
      const center = a.input / 2;
      return center * (1 - adjustment) + (x + 0.5) / a.scale - 0.5;
    }
    case 'pytorch_half_pixel':
      return lengthResized > 1 ? (x + 0.5) / a.scale - 0.5 : 0;
    case 'align_corners':
      return lengthResized === 1 ? 0 : (x * (a.input - 1)) / (lengthResized - 1);
    case 'asymmetric':
      return x / a.scale;
    case 'tf_half_pixel_for_nn':
      return (x + 0.5) / a.scale;
    case 'tf_crop_and_resize': {
      const { roiStart: start, roiEnd: end } = a;
      return lengthResized > 1
        ? start * (a.input - 1) + (x * (end - start) * (a.input - 1)) / (lengthResized - 1)
        : 0.5 * (start + end) * (a.input - 1);
    }
  }
}

function roundNearest(mode: NearestMode, x: number, downsampling: boolean): number {
  switch (mode) {
    case 'round_prefer_floor':
      return Math.ceil(x - 0.5);
    case 'round_prefer_ceil':
      return Math.floor(x + 0.5);
    case 'floor':
      return Math.floor(x);
    case 'ceil':
      return Math.ceil(x);
    case 'simple':
      return downsampling ? Math.ceil(x) : Math.floor(x);
  }
}

/**
 * The interpolation filter of linear or cubic mode: its weight at a distance from the
 * sample point, and how far from it the weight is non-zero.
 */
interface Filter {
  support: number;
  weight(distance: number): number;
}

function interpolationFilter(attrs: ResizeAttributes): Filter {
  if (attrs.mode === 'linear') {
    return { support: 1, weight: d => Math.max(0, 1 - Math.abs(d)) };
  }
  // Keys' cubic convolution kernel with a = cubic_coeff_a.
  const a = attrs.cubicCoeffA;
  return {
    support: 2,
    weight: distance => {
      const d = Math.abs(distance);
      if (d <= 1) {
        return ((a + 2) * d - (a + 3)) * d * d + 1;
      }
      return d < 2 ? ((a * d - 5 * a) * d + 8 * a) * d - 4 * a : 0;
    }
  };
}

/**
 * The taps of a linear or cubic filter along one axis: `count` input positions from
 * `floor(source) + first`, weighted by the filter at their distance from the source
 * coordinate times `stretch`. Without antialias, or when upsampling, stretch is 1: two
 * taps for linear, four for cubic. Antialias widens the filter by 1 / scale when
 * downsampling, so that every input element contributes.
 */
function filterSpan(support: number, stretch: number): { first: number; count: number } {
  const first = Math.floor(-support / stretch) + 1;
  return { first, count: 2 * (1 - first) };
}

function filterStretch(attrs: ResizeAttributes, a: ResizeAxis): number {
  return attrs.antialias ? Math.min(a.scale, 1) : 1;
}

/**
 * The input elements output coordinate `x` reads along an axis, or null when it lies
 * outside tf_crop_and_resize's crop (the output is then extrapolation_value). Taps
 * beyond the edges repeat the edge element, or with exclude_outside drop out (the
 * weights are normalized to sum to 1 either way).
 */
function axisTaps(attrs: ResizeAttributes, a: ResizeAxis, x: number): AxisTaps | null {
  const source = sourceCoordinate(attrs.transform, a, x);
  if (attrs.transform === 'tf_crop_and_resize' && (source < 0 || source > a.input - 1)) {
    return null;
  }
  const clamp = (i: number) => Math.min(Math.max(i, 0), a.input - 1);
  if (attrs.mode === 'nearest') {
    return { indices: [clamp(roundNearest(attrs.nearestMode, source, a.scale < 1))], weights: [1] };
  }
  const filter = interpolationFilter(attrs);
  const stretch = filterStretch(attrs, a);
  const { first, count } = filterSpan(filter.support, stretch);
  const positions = Array.from({ length: count }, (_, k) => Math.floor(source) + first + k);
  const weights = positions.map(p =>
    attrs.excludeOutside && (p < 0 || p >= a.input) ? 0 : filter.weight((p - source) * stretch)
  );
  const total = weights.reduce((sum, w) => sum + w, 0);
  return { indices: positions.map(clamp), weights: weights.map(w => w / total) };
}

// --- CPU reference ----------------------------------------------------------------------

/** Integer outputs round half to even and saturate, as the reference casts them. */
const INTEGER_RANGES: Partial<Record<DataType, [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295]
};

function roundHalfToEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function toOutput(dtype: DataType, shape: readonly number[], values: Float64Array): Tensor {
  if (isInteger(dtype)) {
    const [low, high] = INTEGER_RANGES[dtype] ?? [-Infinity, Infinity];
    values = values.map(v => Math.min(Math.max(roundHalfToEven(v), low), high));
  }
  return Tensor.fromNumbers(dtype, shape, values);
}

/** Resizes one axis at a time: N-linear and N-cubic interpolation are separable. */
function resizeReference(x: Tensor, attrs: ResizeAttributes, plan: ResizeAxis[]): Tensor {
  let values = x.toNumbers();
  const shape = [...x.shape];
  plan.forEach((a, axis) => {
    if (isIdentity(attrs, a)) {
      return;
    }
    const taps = Array.from({ length: a.output }, (_, o) => axisTaps(attrs, a, o));
    const outer = sizeOf(shape.slice(0, axis));
    const inner = sizeOf(shape.slice(axis + 1));
    const next = new Float64Array(outer * a.output * inner);
    for (let b = 0; b < outer; b++) {
      taps.forEach((tap, o) => {
        const at = (b * a.output + o) * inner;
        for (let k = 0; k < inner; k++) {
          let sum = tap ? 0 : attrs.extrapolationValue;
          tap?.indices.forEach((i, t) => {
            sum += tap.weights[t] * values[(b * a.input + i) * inner + k];
          });
          next[at + k] = sum;
        }
      });
    }
    shape[axis] = a.output;
    values = next;
  });
  return toOutput(x.dtype, shape, values);
}

// --- WebGPU kernel ------------------------------------------------------------------------

/** The interpolation filter as a WGSL function of the distance from the sample point. */
function wgslFilter(attrs: ResizeAttributes): string {
  if (attrs.mode === 'linear') {
    return 'fn filter_weight(d: f32) -> f32 {\n  return max(0.0, 1.0 - abs(d));\n}';
  }
  return `
fn filter_weight(distance: f32) -> f32 {
  let a = ${f32Literal(attrs.cubicCoeffA)};
  let d = abs(distance);
  if (d <= 1.0) {
    return ((a + 2.0) * d - (a + 3.0)) * d * d + 1.0;
  }
  return select(0.0, ((a * d - 5.0 * a) * d + 8.0 * a) * d - 4.0 * a, d < 2.0);
}`;
}

/**
 * Where each output coordinate samples the input, per resized axis, computed on the host
 * in double precision with the reference's own functions: the input index in nearest
 * mode, the source coordinate otherwise; -1 outside tf_crop_and_resize's crop. The
 * kernel reads them from a table rather than computing them in float32, which would
 * move samples that sit exactly on a rounding tie (upsampling 2 to 7 with half_pixel
 * samples 0.5 at output 3) or on the edge of the crop.
 */
function sampleTable(
  attrs: ResizeAttributes,
  plan: ResizeAxis[]
): {
  offsets: number[];
  values: number[];
} {
  const offsets: number[] = [];
  const values: number[] = [];
  plan.forEach((a, axis) => {
    offsets[axis] = values.length;
    if (isIdentity(attrs, a)) {
      return;
    }
    for (let x = 0; x < a.output; x++) {
      const source = sourceCoordinate(attrs.transform, a, x);
      if (attrs.transform === 'tf_crop_and_resize' && (source < 0 || source > a.input - 1)) {
        values.push(-1);
      } else if (attrs.mode === 'nearest') {
        const nearest = roundNearest(attrs.nearestMode, source, a.scale < 1);
        values.push(Math.min(Math.max(nearest, 0), a.input - 1));
      } else {
        values.push(source);
      }
    }
  });
  return { offsets, values };
}

/**
 * One invocation per output element: each resized axis looks up where it samples (see
 * sampleTable), then linear and cubic axes loop over their filter taps.
 */
function resizeKernel(
  ctx: KernelContext,
  x: GpuTensor,
  attrs: ResizeAttributes,
  plan: ResizeAxis[]
): GpuTensor {
  const outShape = plan.map(a => a.output);
  const out = ctx.allocate(x.dtype, outShape);
  const strides = stridesOf(x.shape);
  const nearest = attrs.mode === 'nearest';
  const samples = sampleTable(attrs, plan);
  const inputs: [string, GpuTensor][] = [['x', x]];
  if (samples.values.length > 0) {
    const table = ctx.allocate(nearest ? 'int32' : 'float32', [samples.values.length]);
    const typed = nearest ? Int32Array.from(samples.values) : Float32Array.from(samples.values);
    ctx.device.queue.writeBuffer(table.buffer, 0, typed);
    inputs.push(['samples', table]);
  }
  const setup: string[] = [];
  const loops: string[] = [];
  const weights: string[] = [];
  plan.forEach((a, d) => {
    const last = a.input - 1;
    if (isIdentity(attrs, a)) {
      setup.push(`  let i${d} = i32(c${d});`);
      return;
    }
    const sample = nearest ? `i${d}` : `x${d}`;
    setup.push(`  let ${sample} = samples[${samples.offsets[d]}u + c${d}];`);
    if (attrs.transform === 'tf_crop_and_resize') {
      setup.push(
        `  if (${sample} < ${nearest ? '0i' : '0.0'}) {`,
        `    out[index] = ${writeFloat(out, f32Literal(attrs.extrapolationValue))};`,
        '    return;',
        '  }'
      );
    }
    if (nearest) {
      return;
    }
    const stretch = filterStretch(attrs, a);
    const { first, count } = filterSpan(interpolationFilter(attrs).support, stretch);
    // The tap weight at input position `p`; with exclude_outside, 0 beyond the edges.
    const weight = (p: string) => {
      const w = `filter_weight((f32(${p}) - x${d}) * ${f32Literal(stretch)})`;
      return attrs.excludeOutside ? `select(0.0, ${w}, ${p} >= 0i && ${p} <= ${last}i)` : w;
    };
    setup.push(
      `  let first${d} = i32(floor(x${d}))${wgslPlus(first)};`,
      `  var total${d} = 0.0;`,
      `  for (var k = 0i; k < ${count}i; k++) {`,
      `    total${d} += ${weight(`first${d} + k`)};`,
      '  }'
    );
    loops.push(
      `  for (var k${d} = 0i; k${d} < ${count}i; k${d}++) {`,
      `  let p${d} = first${d} + k${d};`,
      `  let i${d} = clamp(p${d}, 0i, ${last}i);`,
      `  let w${d} = ${weight(`p${d}`)} / total${d};`
    );
    weights.push(`w${d}`);
  });
  const offset = strides.map((s, d) => `u32(i${d}) * ${s}u`).join(' + ') || '0u';
  const weight = weights.length ? `${weights.join(' * ')} * ` : '';
  const body = [
    coordinates('index', outShape, 'c'),
    ...setup,
    '  var sum = 0.0;',
    ...loops,
    `  sum += ${weight}${readFloat(x, `x[${offset}]`)};`,
    ...weights.map(() => '  }'),
    `  out[index] = ${writeFloat(out, 'sum')};`
  ].join('\n');
  const code = [
    bindings(inputs, [['out', out]]),
    nearest ? '' : wgslFilter(attrs),
    linearMain(out.size, body)
  ].join('\n');
  ctx.dispatch({
    label: 'Resize',
    code,
    bindings: [...inputs.map(([, t]) => t), out],
    workgroups: linearGrid(out.size)
  });
  return out;
}

// --- op definitions -------------------------------------------------------------------------

/** What inference knows of the sizing inputs: their values, or that one is not constant. */
function inferSizing(
  attrs: ResizeAttributes,
  inputs: (InferInput | undefined)[]
): Sizing | undefined {
  const unknown = hostInputs(attrs).some(i => {
    const input = inputs[i];
    return input && !input.value && !(input.shape?.length === 1 && input.shape[0] === 0);
  });
  return unknown
    ? undefined
    : readSizing(
        attrs,
        inputs.map(i => i?.value)
      );
}

function inferResize(inputs: (InferInput | undefined)[], attrs: ResizeAttributes): InferInput[] {
  const x = inputs[0]!;
  if (!x.shape) {
    return [{ dtype: x.dtype, shape: undefined }];
  }
  const sizing = inferSizing(attrs, inputs);
  if (!sizing) {
    // Unknown scales or sizes: only the axes they do not refer to keep their size.
    const axes = resizedAxes(attrs, x.shape.length);
    return [{ dtype: x.dtype, shape: x.shape.map((d, i) => (axes.includes(i) ? null : d)) }];
  }
  return [{ dtype: x.dtype, shape: outputSizes(attrs, x.shape, sizing).map(s => s.output) }];
}

function resizeOp(
  opType: string,
  sinceVersion: number,
  parse: (ctx: OpContext) => ResizeAttributes
): OpDefinition<ResizeAttributes> {
  return {
    opType,
    sinceVersion,
    parseAttributes: parse,
    hostInputs,
    inferTypes: inferResize,
    cpu: (inputs, attrs, ctx) =>
      atNode(ctx, () => {
        const x = inputs[0]!;
        return [resizeReference(x, attrs, resizePlan(attrs, x.shape, readSizing(attrs, inputs)))];
      }),
    webgpu: {
      halfStorage: true,
      run: (ctx, [x], host, attrs) => [
        resizeKernel(ctx, x!, attrs, resizePlan(attrs, x!.shape, readSizing(attrs, host)))
      ]
    }
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const resizeOps: OpDefinition<any>[] = [
  resizeOp('Resize', 10, parseResize),
  resizeOp('Upsample', 7, parseUpsample)
];
