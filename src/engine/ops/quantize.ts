/**
 * Linear quantization (ai.onnx): QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear,
 * per tensor, per axis (opset 13) and per block (opset 21), to and from 8- and 16-bit
 * integers. The float8 / int4 types of opsets 19 and 21 are declined: the engine does not
 * carry them.
 */
import {
  DataType,
  dataTypeFromOnnx,
  float16BitsToNumber,
  isFloat,
  numberToFloat16Bits,
  onnxTypeName
} from '../ir/dtype';
import { Dim, Node } from '../ir/graph';
import { sizeOf, stridesOf, Tensor } from '../ir/tensor';
import { GpuTensor, KernelContext } from '../kernels/context';
import {
  bindings,
  coordinates,
  linearGrid,
  linearMain,
  readFloat,
  roundToHalf,
  writeFloat
} from '../kernels/wgsl';
import { Attributes } from './attributes';
import { roundHalfEven } from './elementwise';
import { OpContext, OpDefinition, OpError, UnsupportedOpError } from './types';

interface QuantizationAttributes {
  opset: number;
  /** As written: normalized against the input's rank once that is known. */
  axis: number;
  /** 0 unless blocked quantization (opset 21). */
  blockSize: number;
  /** QuantizeLinear's output_dtype (21) or DequantizeLinear's (23), when given. */
  outputDtype?: DataType;
  /** The type QuantizeLinear divides in (precision, 23), when given. */
  precision?: DataType;
}

const INTEGER_RANGES: Partial<Record<DataType, readonly [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535]
};

/** The integer types an opset quantizes to: 16-bit ones from opset 21. */
function quantizedTypes(opset: number): DataType[] {
  return opset >= 21 ? ['int8', 'uint8', 'int16', 'uint16'] : ['int8', 'uint8'];
}

function checkType(node: Node, what: string, dtype: DataType, allowed: readonly DataType[]): void {
  if (!allowed.includes(dtype)) {
    throw new OpError(node, `${what} must be ${allowed.join(' or ')}, got ${dtype}`);
  }
}

/** A type-code attribute as a DataType; types the engine does not carry are declined. */
function typeAttribute(a: Attributes, node: Node, name: string): DataType | undefined {
  const code = a.int(name, 0);
  if (code === 0) {
    return undefined;
  }
  const dtype = dataTypeFromOnnx(code);
  if (!dtype) {
    throw new UnsupportedOpError(
      node,
      `attribute '${name}' names ${onnxTypeName(code)}, which the engine does not support`
    );
  }
  return dtype;
}

function parseAttributes(opType: string) {
  return ({ node, opset }: OpContext): QuantizationAttributes => {
    const a = new Attributes(node);
    const blockSize = opset >= 21 ? a.int('block_size', 0) : 0;
    if (blockSize < 0) {
      throw a.invalid('block_size', `must not be negative, got ${blockSize}`);
    }
    const outputDtypeSince = opType === 'QuantizeLinear' ? 21 : 23;
    return {
      opset,
      axis: a.int('axis', 1),
      blockSize,
      outputDtype: opset >= outputDtypeSince ? typeAttribute(a, node, 'output_dtype') : undefined,
      precision:
        opType === 'QuantizeLinear' && opset >= 23 ? typeAttribute(a, node, 'precision') : undefined
    };
  };
}

// --- which scale (and zero point) each element uses -----------------------------------

/**
 * How the scale spreads over the input: `shape` is the scale's shape at the input's rank
 * (all ones per tensor, the channel count at `axis` per axis, the block counts per
 * block); along `axis` an input coordinate selects scale element coordinate / blockSize.
 */
interface ScaleLayout {
  shape: number[];
  axis: number;
  blockSize: number;
}

const known = (d: Dim): d is number => typeof d === 'number';

/**
 * The layout of a node's scale over its input, checking the shapes the spec requires.
 * Shapes may be partly unknown (shape inference): what can be checked is, and the layout
 * is undefined unless every shape involved is concrete.
 */
function scaleLayout(
  node: Node,
  attrs: QuantizationAttributes,
  x: readonly Dim[] | undefined,
  scale: readonly Dim[] | undefined,
  zeroPoint: readonly Dim[] | undefined
): ScaleLayout | undefined {
  const scaleName = node.opType === 'QuantizeLinear' ? 'y_scale' : 'x_scale';
  if (scale && zeroPoint) {
    const differ =
      scale.length !== zeroPoint.length ||
      scale.some((d, i) => known(d) && known(zeroPoint[i]) && d !== zeroPoint[i]);
    if (differ) {
      throw new OpError(
        node,
        `zero point shape [${zeroPoint.join(', ')}] differs from ${scaleName} shape [${scale.join(', ')}]`
      );
    }
  }
  if (!scale || !x || !scale.every(known)) {
    return undefined;
  }
  const rank = x.length;
  // A scale of one element is per tensor whatever its rank, as ONNX's reference reads it.
  if (scale.every(d => d === 1)) {
    return { shape: new Array<number>(rank).fill(1), axis: 0, blockSize: 1 };
  }
  if (attrs.blockSize === 0 && scale.length > 1) {
    throw new OpError(
      node,
      `${scaleName} must be a scalar or 1-D (per axis), got rank ${scale.length}; ` +
        'blocked quantization needs block_size'
    );
  }
  if (attrs.blockSize === 0 && attrs.opset < 13) {
    throw new OpError(
      node,
      `${scaleName} must be a scalar before opset 13 (no per-axis quantization)`
    );
  }
  if (attrs.axis < -rank || attrs.axis >= rank) {
    throw new OpError(node, `axis ${attrs.axis} is out of range for an input of rank ${rank}`);
  }
  const axis = attrs.axis < 0 ? attrs.axis + rank : attrs.axis;
  if (attrs.blockSize === 0) {
    const channels = scale[0];
    if (known(channels) && known(x[axis]) && channels !== x[axis]) {
      throw new OpError(
        node,
        `${scaleName} has ${channels} elements but the input has ${x[axis]} along axis ${axis}`
      );
    }
    const shape = x.map((_, i) => (i === axis ? channels : 1));
    return shape.every(known) ? { shape, axis, blockSize: 1 } : undefined;
  }
  if (scale.length !== rank) {
    throw new OpError(
      node,
      `${scaleName} of rank ${scale.length} does not block an input of rank ${rank}`
    );
  }
  const expected = x.map((d, i) => (i === axis && known(d) ? Math.ceil(d / attrs.blockSize) : d));
  if (expected.some((d, i) => known(d) && known(scale[i]) && d !== scale[i])) {
    throw new OpError(
      node,
      `${scaleName} shape [${scale.join(', ')}] does not block input shape [${x.join(', ')}] ` +
        `by ${attrs.blockSize} along axis ${axis} (expected [${expected.join(', ')}])`
    );
  }
  return scale.every(known) ? { shape: [...scale], axis, blockSize: attrs.blockSize } : undefined;
}

/** For each input element (row-major over `xShape`), the index of its scale element. */
function scaleIndices(layout: ScaleLayout, xShape: readonly number[]): Int32Array {
  const indices = new Int32Array(sizeOf(xShape));
  const scaleStrides = stridesOf(layout.shape);
  const coordinate = new Array<number>(xShape.length).fill(0);
  for (let i = 0; i < indices.length; i++) {
    let offset = 0;
    for (let d = 0; d < xShape.length; d++) {
      if (layout.shape[d] !== 1) {
        const c = d === layout.axis ? Math.floor(coordinate[d] / layout.blockSize) : coordinate[d];
        offset += c * scaleStrides[d];
      }
    }
    indices[i] = offset;
    for (let d = xShape.length - 1; d >= 0 && ++coordinate[d] === xShape[d]; d--) {
      coordinate[d] = 0;
    }
  }
  return indices;
}

/** The same as scaleIndices in WGSL: a u32 expression of the coordinates `c0`, `c1`, .... */
function scaleOffset(layout: ScaleLayout): string {
  const strides = stridesOf(layout.shape);
  const terms = layout.shape.flatMap((dim, d) => {
    if (dim === 1) {
      return [];
    }
    const c =
      d === layout.axis && layout.blockSize > 1 ? `(c${d} / ${layout.blockSize}u)` : `c${d}`;
    return [strides[d] === 1 ? c : `${c} * ${strides[d]}u`];
  });
  return terms.length ? terms.join(' + ') : '0u';
}

// --- the arithmetic, shared by the CPU reference and the kernels ----------------------

const toFloat16 = (v: number) => float16BitsToNumber(numberToFloat16Bits(v));

/**
 * x / scale rounded to the type the division is done in (ONNX's reference divides in the
 * scale's type unless precision says otherwise), then rounded half to even, plus the zero
 * point, saturated. Float64 division rounded once to float32 or float16 equals the division
 * in that type: both are correctly rounded and 53 bits hold more than 2p + 2 of either.
 */
function quantizeValue(
  x: number,
  scale: number,
  zeroPoint: number,
  quotientType: DataType,
  [low, high]: readonly [number, number]
): number {
  const quotient = quotientType === 'float16' ? toFloat16(x / scale) : Math.fround(x / scale);
  return Math.min(Math.max(roundHalfEven(quotient) + zeroPoint, low), high);
}

function quotientTypeOf(attrs: QuantizationAttributes, scale: DataType): DataType {
  return attrs.precision ?? scale;
}

// --- QuantizeLinear -----------------------------------------------------------------

function quantizeOutputType(
  node: Node,
  attrs: QuantizationAttributes,
  zeroPoint: DataType | undefined
): DataType {
  const allowed = quantizedTypes(attrs.opset);
  if (attrs.outputDtype) {
    checkType(node, 'output_dtype', attrs.outputDtype, allowed);
    if (zeroPoint && zeroPoint !== attrs.outputDtype) {
      throw new OpError(
        node,
        `output_dtype ${attrs.outputDtype} differs from the zero point's type ${zeroPoint}`
      );
    }
  }
  if (zeroPoint) {
    checkType(node, 'y_zero_point', zeroPoint, allowed);
  }
  return zeroPoint ?? attrs.outputDtype ?? 'uint8';
}

function checkQuantizeInputs(
  node: Node,
  attrs: QuantizationAttributes,
  x: DataType,
  scale: DataType
): void {
  const floats: DataType[] = attrs.opset >= 19 ? ['float32', 'float16'] : ['float32'];
  checkType(node, 'x', x, [...floats, 'int32']);
  checkType(node, 'y_scale', scale, floats);
  if (attrs.precision) {
    checkType(node, 'precision', attrs.precision, ['float32', 'float16']);
  }
}

const quantizeLinear: OpDefinition<QuantizationAttributes> = {
  opType: 'QuantizeLinear',
  sinceVersion: 10,
  parseAttributes: parseAttributes('QuantizeLinear'),
  inferTypes: ([x, scale, zeroPoint], attrs, { node }) => {
    checkQuantizeInputs(node, attrs, x!.dtype, scale!.dtype);
    scaleLayout(node, attrs, x!.shape, scale!.shape, zeroPoint?.shape);
    return [{ dtype: quantizeOutputType(node, attrs, zeroPoint?.dtype), shape: x!.shape }];
  },
  cpu: ([x, scale, zeroPoint], attrs, { node }) => {
    checkQuantizeInputs(node, attrs, x!.dtype, scale!.dtype);
    const dtype = quantizeOutputType(node, attrs, zeroPoint?.dtype);
    const layout = scaleLayout(node, attrs, x!.shape, scale!.shape, zeroPoint?.shape)!;
    const indices = scaleIndices(layout, x!.shape);
    const xs = x!.toNumbers();
    const scales = scale!.toNumbers();
    const zeroPoints = zeroPoint?.toNumbers();
    const quotientType = quotientTypeOf(attrs, scale!.dtype);
    const range = INTEGER_RANGES[dtype]!;
    const out = xs.map((v, i) => {
      const k = indices[i];
      return quantizeValue(v, scales[k], zeroPoints?.[k] ?? 0, quotientType, range);
    });
    return [Tensor.fromNumbers(dtype, x!.shape, out)];
  },
  webgpu: {
    // Integer outputs fit i32 storage, float16 is computed as f32 and rounded where the
    // division is in float16: every accepted type runs.
    unsupported: () => null,
    run: (ctx, [x, scale, zeroPoint], _host, attrs) => {
      const dtype = quantizeOutputType(ctx.node, attrs, zeroPoint?.dtype);
      const [low, high] = INTEGER_RANGES[dtype]!;
      const quotient =
        quotientTypeOf(attrs, scale!.dtype) === 'float16' ? roundToHalf('x / s') : 'x / s';
      return [
        scaleKernel(
          ctx,
          attrs,
          x!,
          scale!,
          zeroPoint,
          dtype,
          `i32(clamp(round(${quotient}) + z, ${low}.0, ${high}.0))`
        )
      ];
    }
  }
};

// --- DequantizeLinear ---------------------------------------------------------------

function dequantizeOutputType(
  node: Node,
  attrs: QuantizationAttributes,
  x: DataType,
  scale: DataType,
  zeroPoint: DataType | undefined
): DataType {
  const floats: DataType[] = attrs.opset >= 19 ? ['float32', 'float16'] : ['float32'];
  checkType(node, 'x', x, [...quantizedTypes(attrs.opset), 'int32']);
  checkType(node, 'x_scale', scale, floats);
  if (zeroPoint && zeroPoint !== x) {
    throw new OpError(node, `x_zero_point is ${zeroPoint} but x is ${x}: they must match`);
  }
  if (attrs.outputDtype) {
    checkType(node, 'output_dtype', attrs.outputDtype, floats);
  }
  return attrs.outputDtype ?? scale;
}

const dequantizeLinear: OpDefinition<QuantizationAttributes> = {
  opType: 'DequantizeLinear',
  sinceVersion: 10,
  parseAttributes: parseAttributes('DequantizeLinear'),
  inferTypes: ([x, scale, zeroPoint], attrs, { node }) => {
    const dtype = dequantizeOutputType(node, attrs, x!.dtype, scale!.dtype, zeroPoint?.dtype);
    scaleLayout(node, attrs, x!.shape, scale!.shape, zeroPoint?.shape);
    return [{ dtype, shape: x!.shape }];
  },
  cpu: ([x, scale, zeroPoint], attrs, { node }) => {
    const dtype = dequantizeOutputType(node, attrs, x!.dtype, scale!.dtype, zeroPoint?.dtype);
    const layout = scaleLayout(node, attrs, x!.shape, scale!.shape, zeroPoint?.shape)!;
    const indices = scaleIndices(layout, x!.shape);
    const scales = scale!.toNumbers();
    const zeroPoints = zeroPoint?.toNumbers();
    // In float32 as ONNX's reference computes, then stored as the output type.
    const out = x!.toNumbers().map((v, i) => {
      const k = indices[i];
      const shifted = Math.fround(Math.fround(v) - Math.fround(zeroPoints?.[k] ?? 0));
      return Math.fround(shifted * scales[k]);
    });
    return [Tensor.fromNumbers(dtype, x!.shape, out)];
  },
  webgpu: {
    // Integer inputs are read from i32 storage and converted: every accepted type runs.
    unsupported: () => null,
    run: (ctx, [x, scale, zeroPoint], _host, attrs) => {
      const dtype = dequantizeOutputType(ctx.node, attrs, x!.dtype, scale!.dtype, zeroPoint?.dtype);
      return [scaleKernel(ctx, attrs, x!, scale!, zeroPoint, dtype, '(x - z) * s')];
    }
  }
};

/**
 * One kernel for both directions: `expression` computes an output element from the f32
 * values `x` (the input element), `s` and `z` (its scale and zero point).
 *
 * Scale and zero point are GPU tensors rather than host inputs: per tensor, per axis and
 * per block they are read at an offset computed from the element's coordinates, so the
 * kernel does not grow with the channel count, and a scale computed at run time (the output
 * of DynamicQuantizeLinear) is read where it lies instead of forcing the node to the CPU.
 */
function scaleKernel(
  ctx: KernelContext,
  attrs: QuantizationAttributes,
  x: GpuTensor,
  scale: GpuTensor,
  zeroPoint: GpuTensor | undefined,
  outDtype: DataType,
  expression: string
): GpuTensor {
  const layout = scaleLayout(ctx.node, attrs, x.shape, scale.shape, zeroPoint?.shape)!;
  const out = ctx.allocate(outDtype, x.shape);
  const offset = scaleOffset(layout);
  const inputs: [string, GpuTensor][] = [
    ['input', x],
    ['scale', scale]
  ];
  if (zeroPoint) {
    inputs.push(['zero_point', zeroPoint]);
  }
  const body = [
    offset === '0u' ? '' : coordinates('index', x.shape, 'c'),
    `  let k = ${offset};`,
    `  let x = f32(${readFloat(x, 'input[index]')});`,
    `  let s = ${readFloat(scale, 'scale[k]')};`,
    `  let z = ${zeroPoint ? 'f32(zero_point[k])' : '0.0'};`,
    `  out[index] = ${isFloat(outDtype) ? writeFloat(out, expression) : expression};`
  ].join('\n');
  const code = [bindings(inputs, [['out', out]]), linearMain(out.size, body)].join('\n');
  ctx.dispatch({
    label: ctx.node.opType,
    code,
    bindings: [...inputs.map(([, t]) => t), out],
    workgroups: linearGrid(out.size)
  });
  return out;
}

// --- DynamicQuantizeLinear ----------------------------------------------------------

/**
 * Runs on the CPU only: its scale and zero point come from the min and max of the whole
 * input, a reduction this elementwise kernel family does not do.
 */
const dynamicQuantizeLinear: OpDefinition<Record<string, never>> = {
  opType: 'DynamicQuantizeLinear',
  sinceVersion: 11,
  parseAttributes: () => ({}),
  inferTypes: ([x], _attrs, { node }) => {
    checkType(node, 'x', x!.dtype, ['float32']);
    return [
      { dtype: 'uint8', shape: x!.shape },
      { dtype: 'float32', shape: [] },
      { dtype: 'uint8', shape: [] }
    ];
  },
  cpu: ([x], _attrs, { node }) => {
    checkType(node, 'x', x!.dtype, ['float32']);
    const values = x!.toNumbers();
    // The range always holds 0, so that 0 quantizes exactly.
    let min = 0;
    let max = 0;
    for (const v of values) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    const [qmin, qmax] = INTEGER_RANGES.uint8!;
    const scale = Math.fround(Math.fround(max === min ? 1 : max - min) / (qmax - qmin));
    const zeroPoint = roundHalfEven(
      Math.min(Math.max(qmin - Math.fround(min / scale), qmin), qmax)
    );
    const y = values.map(v => quantizeValue(v, scale, zeroPoint, 'float32', [qmin, qmax]));
    return [
      Tensor.fromNumbers('uint8', x!.shape, y),
      Tensor.scalar('float32', scale),
      Tensor.scalar('uint8', zeroPoint)
    ];
  }
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const quantizeOps: OpDefinition<any>[] = [
  quantizeLinear,
  dequantizeLinear,
  dynamicQuantizeLinear
];
