/** Output comparison with the tolerances of ONNX's own backend tests. */
import { formatValue, isFloat, shapeToString, stridesOf, Tensor } from '../engine';

export interface Tolerance {
  rtol: number;
  atol: number;
}

/** onnx/backend/test/runner: numpy.testing.assert_allclose(expected, actual, rtol, atol). */
export const ONNX_TOLERANCE: Tolerance = { rtol: 1e-3, atol: 1e-7 };

/**
 * Why `actual` differs from `expected`, or undefined when it matches: same dtype and
 * shape, floats within |actual - expected| <= atol + rtol * |expected| (NaN equals NaN,
 * infinities equal themselves), integers and booleans exactly.
 */
export function compareTensors(
  name: string,
  actual: Tensor,
  expected: Tensor,
  tolerance: Tolerance
): string | undefined {
  if (actual.dtype !== expected.dtype) {
    return `output '${name}' is ${actual.dtype}, expected ${expected.dtype}`;
  }
  if (shapeToString(actual.shape) !== shapeToString(expected.shape)) {
    return `output '${name}' has shape ${shapeToString(actual.shape)}, expected ${shapeToString(expected.shape)}`;
  }
  const mismatch = isFloat(expected.dtype)
    ? floatMismatch(actual, expected, tolerance)
    : exactMismatch(actual, expected);
  if (!mismatch) {
    return undefined;
  }
  const where = `[${elementIndex(mismatch.worst, expected.shape).join(', ')}]`;
  const at = `at ${where} (got ${mismatch.got}, expected ${mismatch.wanted})`;
  const errors = isFloat(expected.dtype)
    ? `; max abs error ${formatValue(mismatch.maxAbs)} ${at}, max rel error ${formatValue(mismatch.maxRel)}`
    : `; first ${at}`;
  const rule = isFloat(expected.dtype)
    ? ` (rtol ${tolerance.rtol}, atol ${tolerance.atol})`
    : ' (exact)';
  return `output '${name}': ${mismatch.count} of ${expected.size} elements differ${rule}${errors}`;
}

interface Mismatch {
  count: number;
  /** The flat index reported: the largest error, or the first difference. */
  worst: number;
  got: string;
  wanted: string;
  maxAbs: number;
  maxRel: number;
}

function floatMismatch(
  actual: Tensor,
  expected: Tensor,
  tolerance: Tolerance
): Mismatch | undefined {
  const a = actual.toNumbers();
  const e = expected.toNumbers();
  let count = 0;
  let worst = -1;
  let maxAbs = -1;
  let maxRel = 0;
  for (let i = 0; i < e.length; i++) {
    if (a[i] === e[i] || (Number.isNaN(a[i]) && Number.isNaN(e[i]))) {
      continue;
    }
    const abs = Math.abs(a[i] - e[i]);
    // NaN on one side only, or an infinity against a finite value, is an infinite error.
    const error = Number.isNaN(abs) ? Infinity : abs;
    if (error <= tolerance.atol + tolerance.rtol * Math.abs(e[i])) {
      continue;
    }
    count++;
    maxRel = Math.max(maxRel, e[i] === 0 ? Infinity : error / Math.abs(e[i]));
    if (error > maxAbs) {
      maxAbs = error;
      worst = i;
    }
  }
  if (!count) {
    return undefined;
  }
  return {
    count,
    worst,
    got: formatValue(a[worst]),
    wanted: formatValue(e[worst]),
    maxAbs,
    maxRel
  };
}

/** Integers and booleans compare exactly, int64 as BigInt so no digit is lost. */
function exactMismatch(actual: Tensor, expected: Tensor): Mismatch | undefined {
  const a = actual.data;
  const e = expected.data;
  let count = 0;
  let first = -1;
  for (let i = 0; i < e.length; i++) {
    if (a[i] !== e[i]) {
      count++;
      first = first < 0 ? i : first;
    }
  }
  if (!count) {
    return undefined;
  }
  return {
    count,
    worst: first,
    got: String(a[first]),
    wanted: String(e[first]),
    maxAbs: 0,
    maxRel: 0
  };
}

function elementIndex(flat: number, shape: readonly number[]): number[] {
  return stridesOf(shape).map(stride => {
    const index = Math.floor(flat / stride);
    flat -= index * stride;
    return index;
  });
}
