/**
 * The sliding window that Conv, ConvTranspose and the pooling ops share: kernel shape,
 * strides, dilations, pads and auto_pad as attributes, the per-axis arithmetic that turns
 * them into output sizes and concrete pads, and the loops (CPU and WGSL) that walk a
 * window. Also `atNode`, with which op definitions name the node in their errors.
 */
import { Dim } from '../ir/graph';
import { Attributes } from './attributes';
import { OpContext, OpError } from './types';

/** Runs `compute`, turning a plain Error into an OpError that names the node. */
export function atNode<T>(ctx: OpContext, compute: () => T): T {
  try {
    return compute();
  } catch (error) {
    throw error instanceof OpError ? error : new OpError(ctx.node, (error as Error).message);
  }
}

export type AutoPad = 'NOTSET' | 'SAME_UPPER' | 'SAME_LOWER' | 'VALID';

const AUTO_PADS: readonly AutoPad[] = ['NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID'];

/** Window attributes as a node gives them; absent lists mean the spec's defaults. */
export interface WindowAttributes {
  /** Conv and ConvTranspose infer it from W's shape when absent. */
  kernelShape?: number[];
  strides?: number[];
  dilations?: number[];
  /** [x1_begin, x2_begin, ..., x1_end, x2_end, ...]; ignored unless autoPad is NOTSET. */
  pads?: number[];
  autoPad: AutoPad;
}

/**
 * One spatial axis of a window resolved against a concrete input size. `padBegin` is
 * where the first window starts before the input (ConvTranspose's may be negative).
 */
export interface WindowAxis {
  input: number;
  output: number;
  kernel: number;
  stride: number;
  dilation: number;
  padBegin: number;
  padEnd: number;
}

/**
 * Reads kernel_shape, strides, dilations, pads and auto_pad. `dilations: false` is for
 * ops whose opset has no such attribute (AveragePool before 19): it stays at 1.
 */
export function parseWindowAttributes(
  a: Attributes,
  options: { dilations?: boolean } = {}
): WindowAttributes {
  const autoPad = a.string('auto_pad', 'NOTSET');
  if (!(AUTO_PADS as readonly string[]).includes(autoPad)) {
    throw a.invalid('auto_pad', `must be one of ${AUTO_PADS.join(', ')}, got '${autoPad}'`);
  }
  const positive = (name: string): number[] | undefined => {
    const values = a.ints(name);
    if (values?.some(v => !(v >= 1))) {
      throw a.invalid(name, `must hold positive integers, got [${values.join(', ')}]`);
    }
    return values;
  };
  const pads = a.ints('pads');
  if (pads && pads.length % 2 !== 0) {
    throw a.invalid('pads', `must hold a begin and an end per axis, got ${pads.length} values`);
  }
  return {
    kernelShape: positive('kernel_shape'),
    strides: positive('strides'),
    dilations: options.dilations === false ? undefined : positive('dilations'),
    pads,
    autoPad: autoPad as AutoPad
  };
}

/** Throws when a window list does not have one entry per spatial axis. */
export function checkWindowRank(w: WindowAttributes, rank: number): void {
  const lists: [string, number[] | undefined, number][] = [
    ['kernel_shape', w.kernelShape, rank],
    ['strides', w.strides, rank],
    ['dilations', w.dilations, rank],
    ['pads', w.pads, 2 * rank]
  ];
  for (const [name, values, expected] of lists) {
    if (values && values.length !== expected) {
      throw new Error(
        `attribute '${name}' has ${values.length} values, the input's ${rank} spatial axes need ${expected}`
      );
    }
  }
}

/**
 * Output size and pads of spatial axis `axis` for Conv and the pools, as the ONNX spec
 * gives them: explicit pads with floor (or ceil_mode's ceil, where a window that would
 * start in the end padding is dropped), VALID, or SAME_UPPER / SAME_LOWER with
 * `ceil(input / stride)` outputs and the odd pad at the end / the beginning.
 */
function resolveWindowAxis(
  w: WindowAttributes,
  axis: number,
  rank: number,
  input: number,
  kernel: number,
  ceilMode = false
): WindowAxis {
  const stride = w.strides?.[axis] ?? 1;
  const dilation = w.dilations?.[axis] ?? 1;
  const span = (kernel - 1) * dilation + 1;
  let padBegin = 0;
  let padEnd = 0;
  let output: number;
  if (w.autoPad === 'VALID') {
    output = Math.floor((input - span) / stride) + 1;
  } else if (w.autoPad === 'SAME_UPPER' || w.autoPad === 'SAME_LOWER') {
    output = Math.ceil(input / stride);
    const total = Math.max(0, (output - 1) * stride + span - input);
    const half = Math.floor(total / 2);
    padBegin = w.autoPad === 'SAME_UPPER' ? half : total - half;
    padEnd = total - padBegin;
  } else {
    padBegin = w.pads?.[axis] ?? 0;
    padEnd = w.pads?.[axis + rank] ?? 0;
    if (padBegin < 0 || padEnd < 0) {
      throw new Error(`pads must not be negative, got [${w.pads!.join(', ')}]`);
    }
    const steps = (input + padBegin + padEnd - span) / stride;
    output = (ceilMode ? Math.ceil(steps) : Math.floor(steps)) + 1;
    if (ceilMode && (output - 1) * stride >= input + padBegin) {
      output--;
    }
  }
  if (output < 1) {
    throw new Error(
      `the window (${span} wide with dilation) does not fit the input of ${input} ` +
        `(pads ${padBegin} and ${padEnd}) on spatial axis ${axis}`
    );
  }
  return { input, output, kernel, stride, dilation, padBegin, padEnd };
}

/** Every spatial axis resolved (see resolveWindowAxis). */
export function resolveWindow(
  w: WindowAttributes,
  inputSpatial: readonly number[],
  kernel: readonly number[],
  ceilMode = false
): WindowAxis[] {
  checkWindowRank(w, inputSpatial.length);
  return inputSpatial.map((input, axis) =>
    resolveWindowAxis(w, axis, inputSpatial.length, input, kernel[axis], ceilMode)
  );
}

/** Output spatial dims for shape inference: null where the input dim is not a number. */
export function windowOutputDims(
  w: WindowAttributes,
  inputSpatial: readonly Dim[],
  kernel: readonly number[],
  ceilMode = false
): Dim[] {
  checkWindowRank(w, inputSpatial.length);
  return inputSpatial.map((input, axis) =>
    typeof input === 'number'
      ? resolveWindowAxis(w, axis, inputSpatial.length, input, kernel[axis], ceilMode).output
      : null
  );
}

/**
 * The flat offset (row-major, `inputStrides`) of the input element that output point `o`
 * reads at kernel point `k`, or -1 when that element lies in the padding.
 */
export function windowInputOffset(
  axes: readonly WindowAxis[],
  o: readonly number[],
  k: readonly number[],
  inputStrides: readonly number[]
): number {
  let offset = 0;
  for (let d = 0; d < axes.length; d++) {
    const a = axes[d];
    const i = o[d] * a.stride - a.padBegin + k[d] * a.dilation;
    if (i < 0 || i >= a.input) {
      return -1;
    }
    offset += i * inputStrides[d];
  }
  return offset;
}

/** Every coordinate of a grid of `shape`, in row-major order (for the CPU references). */
export function gridPoints(shape: readonly number[]): number[][] {
  let points: number[][] = [[]];
  for (const size of shape) {
    const next: number[][] = [];
    for (const point of points) {
      for (let i = 0; i < size; i++) {
        next.push([...point, i]);
      }
    }
    points = next;
  }
  return points;
}

/**
 * WGSL loops over the kernel offsets `k0`, `k1`, ... (i32), one level per axis, around
 * `body`. `enter(axis)` opens each level: it typically computes the input coordinate
 * `i${axis}` and `continue`s where that offset does not count.
 */
export function wgslKernelLoops(
  kernel: readonly number[],
  enter: (axis: number) => string,
  body: string
): string {
  let code = body;
  for (let axis = kernel.length - 1; axis >= 0; axis--) {
    code = [
      `for (var k${axis} = 0i; k${axis} < ${kernel[axis]}i; k${axis}++) {`,
      enter(axis),
      code,
      '}'
    ].join('\n');
  }
  return code;
}

/**
 * Opens a forward window level: the input coordinate `i${axis}` that output coordinate
 * `outCoord` (a u32 expression) reads at kernel offset `k${axis}`, skipping those
 * outside [low, high) (by default the input itself).
 */
export function wgslWindowInput(
  w: WindowAxis,
  axis: number,
  outCoord: string,
  [low, high]: [number, number] = [0, w.input]
): string {
  return [
    `  let i${axis} = i32(${outCoord}) * ${w.stride}i${wgslPlus(-w.padBegin)} + k${axis} * ${w.dilation}i;`,
    `  if (i${axis} < ${low}i || i${axis} >= ${high}i) {`,
    '    continue;',
    '  }'
  ].join('\n');
}

/** ` + n` or ` - n` as WGSL i32 terms, or nothing for 0 (so negative values read well). */
export function wgslPlus(value: number): string {
  if (value === 0) {
    return '';
  }
  return value > 0 ? ` + ${value}i` : ` - ${-value}i`;
}
