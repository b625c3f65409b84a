import { DataType, isFloat } from '../ir/dtype';
import { sizeOf, Tensor } from '../ir/tensor';

/**
 * A small deterministic generator (mulberry32) of numbers in [0, 1): the same seed gives
 * the same random inputs, so a run or a failing test reproduces.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Random values fit for most models, and where they came from in words: floats like
 * normalized pixels, small non-negative integers (safe as indices or token ids), booleans at
 * even odds.
 */
export function randomInput(
  dtype: DataType,
  shape: readonly number[],
  random: () => number
): { tensor: Tensor; source: string } {
  const values = new Float64Array(sizeOf(shape));
  let source: string;
  if (isFloat(dtype)) {
    values.forEach((_, i) => (values[i] = random()));
    source = 'random uniform [0, 1)';
  } else if (dtype === 'bool') {
    values.forEach((_, i) => (values[i] = random() < 0.5 ? 1 : 0));
    source = 'random true/false';
  } else {
    values.forEach((_, i) => (values[i] = Math.floor(random() * 10)));
    source = 'random integers [0, 10)';
  }
  return { tensor: Tensor.fromNumbers(dtype, shape, values), source };
}
