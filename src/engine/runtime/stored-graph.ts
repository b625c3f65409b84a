/**
 * A graph in a plan file: its structure as JSON metadata and its tensors (initializers and
 * tensor attributes) as the plan's blobs, so that weights stay binary and aligned.
 */
import { allocateTypedArray, DataType } from '../ir/dtype';
import { AttributeValue, Graph, Node, ValueInfo, ValueType } from '../ir/graph';
import { sizeOf, Tensor } from '../ir/tensor';

interface StoredTensor {
  dtype: DataType;
  shape: number[];
  /** Index of the plan blob holding the elements' bytes. */
  blob: number;
}

type StoredAttribute =
  | Exclude<AttributeValue, Tensor | Tensor[]>
  | { tensor: StoredTensor }
  | { tensors: StoredTensor[] };

export interface StoredGraph {
  name: string;
  opsets: Record<string, number>;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  nodes: (Omit<Node, 'attributes'> & { attributes: Record<string, StoredAttribute> })[];
  initializers: (StoredTensor & { name: string })[];
  valueTypes: [string, ValueType][];
}

function storeTensor(tensor: Tensor, blobs: Uint8Array[]): StoredTensor {
  const { data } = tensor;
  blobs.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return { dtype: tensor.dtype, shape: [...tensor.shape], blob: blobs.length - 1 };
}

function loadTensor(stored: StoredTensor, blobs: readonly Uint8Array[]): Tensor {
  const data = allocateTypedArray(stored.dtype, sizeOf(stored.shape));
  const bytes = blobs[stored.blob];
  if (!bytes || bytes.byteLength !== data.byteLength) {
    throw new Error(
      `plan: blob ${stored.blob} does not hold a ${stored.dtype} tensor of shape [${stored.shape.join(', ')}]`
    );
  }
  new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(bytes);
  return new Tensor(stored.dtype, stored.shape, data);
}

function storeAttribute(value: AttributeValue, blobs: Uint8Array[]): StoredAttribute {
  if (value instanceof Tensor) {
    return { tensor: storeTensor(value, blobs) };
  }
  if (Array.isArray(value) && value.some(v => v instanceof Tensor)) {
    return { tensors: (value as Tensor[]).map(t => storeTensor(t, blobs)) };
  }
  return value as Exclude<AttributeValue, Tensor | Tensor[]>;
}

function loadAttribute(value: StoredAttribute, blobs: readonly Uint8Array[]): AttributeValue {
  if (typeof value === 'object' && 'tensor' in value) {
    return loadTensor(value.tensor, blobs);
  }
  if (typeof value === 'object' && 'tensors' in value) {
    return value.tensors.map(t => loadTensor(t, blobs));
  }
  return value;
}

function mapValues<T, U>(record: Record<string, T>, f: (value: T) => U): Record<string, U> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, f(value)]));
}

export function storeGraph(graph: Graph, blobs: Uint8Array[]): StoredGraph {
  return {
    name: graph.name,
    opsets: graph.opsets,
    inputs: graph.inputs,
    outputs: graph.outputs,
    nodes: graph.nodes.map(node => ({
      ...node,
      attributes: mapValues(node.attributes, value => storeAttribute(value, blobs))
    })),
    initializers: [...graph.initializers].map(([name, tensor]) => ({
      name,
      ...storeTensor(tensor, blobs)
    })),
    valueTypes: [...graph.valueTypes]
  };
}

export function loadGraph(stored: StoredGraph, blobs: readonly Uint8Array[]): Graph {
  return {
    name: stored.name,
    opsets: stored.opsets,
    inputs: stored.inputs,
    outputs: stored.outputs,
    nodes: stored.nodes.map(node => ({
      ...node,
      attributes: mapValues(node.attributes, value => loadAttribute(value, blobs))
    })),
    initializers: new Map(stored.initializers.map(t => [t.name, loadTensor(t, blobs)])),
    valueTypes: new Map(stored.valueTypes)
  };
}
