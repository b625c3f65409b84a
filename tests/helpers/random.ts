import { DataType } from '../../src/engine/ir/dtype';
import { seededRandom } from '../../src/engine/io/random';
import { sizeOf, Tensor } from '../../src/engine/ir/tensor';

export { seededRandom };

/**
 * Random values in [low, high), never exactly zero, so a kernel that reads the wrong
 * element or writes nothing cannot pass by accident.
 */
export function randomTensor(
  shape: number[],
  options: { dtype?: DataType; low?: number; high?: number; seed?: number } = {}
): Tensor {
  const { dtype = 'float32', low = -2, high = 2, seed = 1 } = options;
  const next = seededRandom(seed + sizeOf(shape) * 7919);
  const values = Array.from({ length: sizeOf(shape) }, () => {
    let v = low + (high - low) * next();
    if (dtype !== 'float32' && dtype !== 'float16' && dtype !== 'float64') {
      v = Math.floor(v);
    }
    return v === 0 ? (high > 0 ? Math.min(1, high - 0.5) : low / 2) : v;
  });
  return Tensor.fromNumbers(dtype, shape, values);
}
