/**
 * INT8 weights: symmetric, one scale per output channel from the channel's largest
 * magnitude (TensorRT's choice for Conv and MatMul weights), so a channel of small weights
 * keeps its resolution beside a channel of large ones.
 */
import { Tensor } from '../ir/tensor';
import { roundHalfEven } from '../ops/elementwise';
import { INT8_MAX } from './calibrators';

export interface QuantizedWeights {
  /** int8 values, in the weight's shape. */
  values: Tensor;
  /** One float32 scale per channel along `axis`: value ≈ int8 × scale. */
  scales: Float32Array;
  axis: number;
}

/**
 * Quantizes `weight` per channel along `axis` (0: a Conv's output channels; the last axis: a
 * MatMul's columns). A channel of zeros gets scale 1, so that dequantizing never divides by 0.
 * Rounds half to even, as QuantizeLinear does.
 */
export function quantizeWeightsPerChannel(weight: Tensor, axis: number): QuantizedWeights {
  const rank = weight.shape.length;
  const along = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(along) || along < 0 || along >= rank) {
    throw new Error(`axis ${axis} is outside a weight of rank ${rank}`);
  }
  const channels = weight.shape[along];
  const inner = weight.shape.slice(along + 1).reduce((product, dim) => product * dim, 1);
  const values = weight.toNumbers();
  const channelOf = (index: number) => Math.floor(index / inner) % channels;
  const amax = new Float64Array(channels);
  values.forEach((value, i) => {
    amax[channelOf(i)] = Math.max(amax[channelOf(i)], Math.abs(value));
  });
  const scales = Float32Array.from(amax, max => (max > 0 ? max / INT8_MAX : 1));
  const quantized = Array.from(values, (value, i) =>
    Math.max(-INT8_MAX, Math.min(INT8_MAX, roundHalfEven(value / scales[channelOf(i)])))
  );
  return { values: Tensor.fromNumbers('int8', weight.shape, quantized), scales, axis: along };
}
