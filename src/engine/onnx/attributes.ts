import { onnx } from 'onnx-proto';
import { AttributeValue } from '../ir/graph';
import { located } from './errors';
import { int64ToNumber } from './int64';
import { tensorFromProto } from './tensor';

const Type = onnx.AttributeProto.AttributeType;
const utf8 = new TextDecoder();

/**
 * Converts one node attribute. `where` names the node. Returns undefined for the kinds the
 * IR does not carry (GRAPHS, TYPE_PROTO, TYPE_PROTOS): no ai.onnx op the engine could run
 * reads them, and the registry rejects the ops that do (Optional, ...) when the model runs.
 * Subgraphs (If / Loop / Scan bodies) are not imported: they become a `{ graph }` marker.
 */
export function attributeFromProto(
  attribute: onnx.IAttributeProto,
  where: string
): AttributeValue | undefined {
  const name = attribute.name ?? '';
  const at = located(where, `attribute '${name}'`);
  switch (attribute.type) {
    case Type.FLOAT:
      return attribute.f ?? 0;
    case Type.INT:
      return int64ToNumber(attribute.i ?? 0);
    case Type.STRING:
      return utf8.decode(attribute.s ?? new Uint8Array());
    case Type.TENSOR:
      return tensorFromProto(attribute.t ?? {}, at);
    case Type.GRAPH:
      return { graph: attribute.g?.name ?? '' };
    case Type.FLOATS:
      return [...(attribute.floats ?? [])];
    case Type.INTS:
      return (attribute.ints ?? []).map(int64ToNumber);
    case Type.STRINGS:
      return (attribute.strings ?? []).map(s => utf8.decode(s));
    case Type.TENSORS:
      return (attribute.tensors ?? []).map(t => tensorFromProto(t, at));
    case Type.SPARSE_TENSOR:
    case Type.SPARSE_TENSORS:
      throw new Error(`${at} holds a sparse tensor, which is not supported`);
    case Type.GRAPHS:
    case Type.TYPE_PROTO:
    case Type.TYPE_PROTOS:
      return undefined;
    default:
      throw new Error(`${at} has no valid type (${attribute.type ?? 'none'})`);
  }
}
