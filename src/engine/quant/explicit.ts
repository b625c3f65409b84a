import { Graph } from '../ir/graph';

/**
 * Whether `graph` is explicitly quantized (TensorRT's explicit quantization): its
 * QuantizeLinear / DequantizeLinear nodes carry their own INT8 scales, so an INT8 build needs
 * no calibration cache.
 */
export function hasExplicitQuantization(graph: Graph): boolean {
  return graph.nodes.some(
    node =>
      node.domain === '' && (node.opType === 'QuantizeLinear' || node.opType === 'DequantizeLinear')
  );
}
