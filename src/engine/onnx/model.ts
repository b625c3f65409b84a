import { onnx } from 'onnx-proto';
import { dataTypeFromOnnx, onnxTypeName } from '../ir/dtype';
import { AttributeValue, Dim, Graph, Node, ValueInfo, ValueType } from '../ir/graph';
import { Tensor } from '../ir/tensor';
import { inferShapes } from '../ops/infer';
import { UnsupportedOpError } from '../runtime/prepare';
import { attributeFromProto } from './attributes';
import { decodeProto, located } from './errors';
import { int64ToBigInt, int64ToNumber } from './int64';
import { tensorFromProto } from './tensor';

export interface ImportOptions {
  /** Where the bytes came from (a file name); it prefixes every error message. */
  source?: string;
}

/**
 * Reads an ONNX model into the engine's Graph: initializers and the values of Constant
 * nodes become `graph.initializers` (the Constant nodes are dropped), unnamed nodes are
 * named `<OpType>_<index>`, and value types are inferred where the engine knows the ops.
 */
export function importOnnx(bytes: Uint8Array, options: ImportOptions = {}): Graph {
  const source = options.source ?? '';
  const model = decodeProto(() => onnx.ModelProto.decode(bytes), source, 'ONNX model');
  const proto = checkModel(model, source);
  const initializers = new Map<string, Tensor>();
  for (const tensor of proto.initializer ?? []) {
    addInitializer(initializers, tensor.name ?? '', tensorFromProto(tensor, source), source);
  }
  const graph: Graph = {
    name: proto.name ?? '',
    opsets: readOpsets(model.opsetImport ?? [], source),
    // Older exporters list every initializer as a graph input too; those are constants.
    inputs: (proto.input ?? [])
      .filter(input => !initializers.has(input.name ?? ''))
      .map(input => valueInfoFromProto(input, 'input', source)),
    outputs: (proto.output ?? []).map(output => valueInfoFromProto(output, 'output', source)),
    nodes: readNodes(proto.node ?? [], initializers, source),
    initializers,
    valueTypes: valueTypesFromProto(proto.valueInfo ?? []),
    producerName: model.producerName || undefined
  };
  checkDataFlow(graph, source);
  inferTypesWherePossible(graph, source);
  return graph;
}

/**
 * Returns the model's graph after the checks that tell a model from other bytes:
 * protobufjs decodes many foreign byte strings without complaint.
 */
function checkModel(model: onnx.IModelProto, source: string): onnx.IGraphProto {
  const invalid = (reason: string) =>
    new Error(located(source, `not a valid ONNX model (${reason})`));
  if (int64ToNumber(model.irVersion ?? 0) <= 0) {
    throw invalid('it has no IR version');
  }
  if (!model.opsetImport?.length) {
    throw invalid('it imports no opset');
  }
  const graph = model.graph;
  if (!graph) {
    throw invalid('it has no graph');
  }
  if (!graph.output?.length) {
    throw invalid('its graph has no outputs');
  }
  const sparse = graph.sparseInitializer?.[0];
  if (sparse) {
    const name = sparse.values?.name ? ` '${sparse.values.name}'` : '';
    throw new Error(
      located(source, `sparse initializer${name} is not supported; store it as a dense tensor`)
    );
  }
  return graph;
}

function addInitializer(
  initializers: Map<string, Tensor>,
  name: string,
  tensor: Tensor,
  source: string
): void {
  if (!name) {
    throw new Error(located(source, 'an initializer has no name'));
  }
  if (initializers.has(name)) {
    throw new Error(located(source, `initializer '${name}' is defined twice`));
  }
  initializers.set(name, tensor);
}

/** The graph's nodes, except Constants: their values join `initializers`. */
function readNodes(
  protos: readonly onnx.INodeProto[],
  initializers: Map<string, Tensor>,
  source: string
): Node[] {
  const names = uniqueNodeNames(protos);
  const nodes: Node[] = [];
  protos.forEach((proto, index) => {
    const name = names[index];
    if (proto.opType === 'Constant' && normalizeDomain(proto.domain) === '') {
      const where = located(source, `node '${name}' (Constant)`);
      const outputs = proto.output ?? [];
      if (outputs.length !== 1 || !outputs[0]) {
        throw new Error(`${where} must have exactly one output`);
      }
      addInitializer(initializers, outputs[0], constantValue(proto, where), source);
    } else {
      nodes.push(nodeFromProto(proto, name, source));
    }
  });
  return nodes;
}

/** ONNX names its default domain both '' and 'ai.onnx'; the engine uses ''. */
function normalizeDomain(domain: string | null | undefined): string {
  return domain === 'ai.onnx' ? '' : (domain ?? '');
}

function readOpsets(imports: onnx.IOperatorSetIdProto[], source: string): Record<string, number> {
  const opsets: Record<string, number> = {};
  for (const entry of imports) {
    const domain = normalizeDomain(entry.domain);
    const version = int64ToNumber(entry.version ?? 0);
    const domainText = domain ? `domain '${domain}'` : 'the default domain';
    if (!Number.isSafeInteger(version) || version < 1) {
      throw new Error(located(source, `opset version ${version} of ${domainText} is not valid`));
    }
    const earlier = opsets[domain];
    if (earlier !== undefined && earlier !== version) {
      throw new Error(
        located(source, `${domainText} is imported twice, as opset ${earlier} and ${version}`)
      );
    }
    opsets[domain] = version;
  }
  return opsets;
}

/**
 * Node names, unique within the graph: a node's own name when it has one (a repeated name
 * gets a `_<k>` suffix), else `<OpType>_<index>` with its position among all nodes.
 */
function uniqueNodeNames(protos: readonly onnx.INodeProto[]): string[] {
  const given = new Set(protos.map(p => p.name).filter(Boolean));
  const used = new Set<string>();
  return protos.map((proto, index) => {
    const base = proto.name || `${proto.opType}_${index}`;
    let name = base;
    // A generated name must not take a name the model gives to a later node.
    for (let k = 1; used.has(name) || (!proto.name && given.has(name)); k++) {
      name = `${base}_${k}`;
    }
    used.add(name);
    return name;
  });
}

function nodeFromProto(proto: onnx.INodeProto, name: string, source: string): Node {
  const opType = proto.opType ?? '';
  if (!opType) {
    throw new Error(located(source, `node '${name}' has no op type`));
  }
  const where = located(source, `node '${name}' (${opType})`);
  const attributes: Record<string, AttributeValue> = {};
  for (const attribute of proto.attribute ?? []) {
    const value = attributeFromProto(attribute, where);
    if (value !== undefined) {
      attributes[attribute.name ?? ''] = value;
    }
  }
  return {
    name,
    opType,
    domain: normalizeDomain(proto.domain),
    inputs: [...(proto.input ?? [])],
    outputs: [...(proto.output ?? [])],
    attributes
  };
}

/** The tensor a Constant node produces, from whichever of its value attributes it has. */
function constantValue(proto: onnx.INodeProto, where: string): Tensor {
  const attributes = proto.attribute ?? [];
  if (attributes.length !== 1) {
    const names = attributes.map(a => `'${a.name}'`).join(', ') || 'none';
    throw new Error(`${where} must have exactly one value attribute, it has ${names}`);
  }
  const attribute = attributes[0];
  const floats = attribute.floats ?? [];
  const ints = attribute.ints ?? [];
  switch (attribute.name) {
    case 'value':
      if (!attribute.t) {
        throw new Error(`${where} has no tensor in its 'value' attribute`);
      }
      return tensorFromProto(attribute.t, where);
    case 'value_float':
      return Tensor.fromNumbers('float32', [], [attribute.f ?? 0]);
    case 'value_floats':
      return Tensor.fromNumbers('float32', [floats.length], floats);
    case 'value_int':
      return new Tensor('int64', [], BigInt64Array.of(int64ToBigInt(attribute.i ?? 0)));
    case 'value_ints':
      return new Tensor('int64', [ints.length], BigInt64Array.from(ints, int64ToBigInt));
    case 'value_string':
    case 'value_strings':
      throw new Error(`${where} holds strings, which are not supported`);
    case 'sparse_value':
      throw new Error(`${where} holds a sparse tensor, which is not supported`);
    default:
      throw new Error(`${where} has an unknown attribute '${attribute.name}'`);
  }
}

const NON_TENSOR_KINDS = [
  ['sequenceType', 'a sequence'],
  ['mapType', 'a map'],
  ['optionalType', 'an optional'],
  ['sparseTensorType', 'a sparse tensor']
] as const;

function valueInfoFromProto(
  proto: onnx.IValueInfoProto,
  role: 'input' | 'output',
  source: string
): ValueInfo {
  const name = proto.name ?? '';
  const type = tensorTypeFromProto(proto.type);
  if (typeof type === 'string') {
    throw new Error(located(source, `${role} '${name}' ${type}`));
  }
  return { name, ...type };
}

/**
 * Types from value_info. They are hints: a value the engine cannot carry (a sequence
 * passed between sequence ops) is left out rather than failing the import; running the
 * ops that make it fails with its own error.
 */
function valueTypesFromProto(infos: readonly onnx.IValueInfoProto[]): Map<string, ValueType> {
  const types = new Map<string, ValueType>();
  for (const info of infos) {
    const type = tensorTypeFromProto(info.type);
    if (info.name && typeof type !== 'string') {
      types.set(info.name, type);
    }
  }
  return types;
}

/** The tensor type a TypeProto declares, or why the engine cannot carry it. */
function tensorTypeFromProto(type: onnx.ITypeProto | null | undefined): ValueType | string {
  const tensorType = type?.tensorType;
  if (!tensorType) {
    const kind = NON_TENSOR_KINDS.find(([field]) => type?.[field]);
    return kind ? `is ${kind[1]}, which is not supported` : 'has no type';
  }
  const code = tensorType.elemType ?? 0;
  const dtype = dataTypeFromOnnx(code);
  if (!dtype) {
    return `has element type ${onnxTypeName(code)}, which is not supported`;
  }
  const dims = tensorType.shape?.dim;
  return { dtype, shape: dims ? dims.map(dimFromProto) : undefined };
}

function dimFromProto(dim: onnx.TensorShapeProto.IDimension): Dim {
  // Decoded messages are class instances; the oneof getter tells which field the file set.
  switch ((dim as onnx.TensorShapeProto.Dimension).value) {
    case 'dimParam':
      return dim.dimParam || null;
    case 'dimValue': {
      const size = int64ToNumber(dim.dimValue ?? 0);
      // Some exporters write -1 for a size they do not know.
      return size >= 0 ? size : null;
    }
    default:
      return null;
  }
}

/**
 * Checks that every value is defined once, before it is read: ONNX requires nodes in
 * topological order, and bytes that only look like a model fail here rather than later.
 */
function checkDataFlow(graph: Graph, source: string): void {
  const defined = new Set([...graph.initializers.keys(), ...graph.inputs.map(i => i.name)]);
  for (const node of graph.nodes) {
    const where = located(source, `node '${node.name}' (${node.opType})`);
    for (const input of node.inputs) {
      if (input && !defined.has(input)) {
        throw new Error(
          `${where} reads '${input}', which no graph input, initializer or earlier node provides`
        );
      }
    }
    for (const output of node.outputs.filter(Boolean)) {
      if (defined.has(output)) {
        throw new Error(`${where} writes '${output}', which is already defined`);
      }
      defined.add(output);
    }
  }
  for (const output of graph.outputs) {
    if (!defined.has(output.name)) {
      throw new Error(located(source, `graph output '${output.name}' is not produced by any node`));
    }
  }
}

/**
 * Infers every value's type. An op the engine does not implement stops inference but must
 * not stop the import (the model can still be inspected; running it reports the op), so
 * then the types declared in the file are all the graph has.
 */
function inferTypesWherePossible(graph: Graph, source: string): void {
  try {
    inferShapes(graph);
  } catch (error) {
    if (error instanceof UnsupportedOpError) {
      return;
    }
    if (!source) {
      throw error;
    }
    throw new Error(located(source, (error as Error).message), { cause: error });
  }
}
