import { DataType } from './dtype';
import { Tensor } from './tensor';

/**
 * One dimension of a shape: a size, a symbol (ONNX dim_param, e.g. 'batch' or
 * 'sequence') or null when nothing is known about it.
 */
export type Dim = number | string | null;

/** What is known of a value before it is computed: its element type and (maybe) shape. */
export interface ValueType {
  dtype: DataType;
  /** undefined when even the rank is unknown. */
  shape?: Dim[];
}

export interface ValueInfo extends ValueType {
  name: string;
}

export type AttributeValue =
  number | string | number[] | string[] | Tensor | Tensor[] | { graph: string };

export interface Node {
  /** Unique within the graph; the importer names unnamed nodes `<OpType>_<index>`. */
  name: string;
  opType: string;
  /** '' is the default ONNX domain (ai.onnx). */
  domain: string;
  /** Value names; '' marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attributes: Record<string, AttributeValue>;
  /**
   * The imported nodes this node computes, when builder passes fused several into it
   * (TensorRT's layer "fused from" list); absent for a node as imported.
   */
  fusedFrom?: string[];
}

/**
 * A computation graph as the importer produced it: nodes in topological order, the
 * values they exchange by name, and the constant tensors (initializers and ONNX
 * Constant nodes folded into them).
 */
export interface Graph {
  name: string;
  /** Opset version per domain ('' for ai.onnx). */
  opsets: Record<string, number>;
  /** Inputs the caller feeds (initializers listed as graph inputs are not among them). */
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  nodes: Node[];
  initializers: Map<string, Tensor>;
  /** Types of intermediate values, filled by shape inference. */
  valueTypes: Map<string, ValueType>;
  producerName?: string;
}

export function shapeToString(shape: readonly Dim[] | undefined): string {
  if (!shape) {
    return '?';
  }
  return `[${shape.map(d => (d === null ? '?' : String(d))).join(', ')}]`;
}

/**
 * A shape as `--shapes` spells it, its fixed dims kept and every other one '?' ("?x3x32x32"),
 * or 'DxDx...' for an unknown rank: what a message asks the user to fill in.
 */
export function shapeTemplate(shape: readonly Dim[] | undefined): string {
  return shape ? shape.map(dim => (typeof dim === 'number' ? dim : '?')).join('x') : 'DxDx...';
}

export function opsetOf(graph: Graph, domain = ''): number {
  return graph.opsets[domain] ?? graph.opsets['ai.onnx'] ?? 0;
}
