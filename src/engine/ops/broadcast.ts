import { Dim } from '../ir/graph';
import { sizeOf, stridesOf } from '../ir/tensor';

/**
 * The numpy-style broadcast of several shapes, keeping symbolic dims where they survive
 * (a symbol against 1 stays the symbol; two different symbols become unknown).
 * Returns undefined when a shape is unknown; throws when two sizes cannot broadcast.
 */
export function broadcastShapes(
  shapes: readonly (readonly Dim[] | undefined)[]
): Dim[] | undefined {
  if (shapes.some(s => s === undefined)) {
    return undefined;
  }
  const rank = Math.max(0, ...shapes.map(s => s!.length));
  const out: Dim[] = [];
  for (let axis = 0; axis < rank; axis++) {
    let result: Dim = 1;
    for (const shape of shapes as Dim[][]) {
      const d = shape[axis - (rank - shape.length)];
      if (d === undefined || d === 1) {
        continue;
      }
      if (result === 1) {
        result = d;
      } else if (typeof result === 'number' && typeof d === 'number') {
        if (result !== d) {
          throw new Error(
            `shapes ${shapes.map(s => `[${s!.join(', ')}]`).join(' and ')} cannot broadcast`
          );
        }
      } else if (result !== d) {
        result = typeof d === 'number' ? d : typeof result === 'number' ? result : null;
      }
    }
    out.push(result);
  }
  return out;
}

/** The broadcast of concrete shapes. */
export function broadcastConcrete(shapes: readonly (readonly number[])[]): number[] {
  return broadcastShapes(shapes) as number[];
}

/**
 * For each flat index of `outShape`, the flat index `shape` is read at under
 * broadcasting: an Int32Array the CPU reference ops use to stay simple.
 */
export function broadcastIndices(
  shape: readonly number[],
  outShape: readonly number[]
): Int32Array {
  const size = sizeOf(outShape);
  const out = new Int32Array(size);
  const rank = outShape.length;
  const shift = rank - shape.length;
  const inStrides = stridesOf(shape);
  const stepStrides = outShape.map((_, axis) => {
    const inAxis = axis - shift;
    return inAxis >= 0 && shape[inAxis] !== 1 ? inStrides[inAxis] : 0;
  });
  const counter = new Array<number>(rank).fill(0);
  let offset = 0;
  for (let i = 0; i < size; i++) {
    out[i] = offset;
    for (let axis = rank - 1; axis >= 0; axis--) {
      counter[axis]++;
      offset += stepStrides[axis];
      if (counter[axis] < outShape[axis]) {
        break;
      }
      offset -= stepStrides[axis] * outShape[axis];
      counter[axis] = 0;
    }
  }
  return out;
}
