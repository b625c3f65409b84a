import { DataType } from '../../src/engine/ir/dtype';
import { AttributeValue, Dim, Graph, ValueType } from '../../src/engine/ir/graph';
import { Tensor } from '../../src/engine/ir/tensor';
import { inferShapes } from '../../src/engine/ops/infer';

/** An input known only by its type (dims may be symbols or null) or a constant tensor. */
export type InferCaseInput = { dtype: DataType; shape?: Dim[] } | Tensor | undefined;

/**
 * The types shape inference gives the outputs of one node whose inputs are only partly
 * known, e.g. a batch dim named 'N'.
 */
export function inferNode(
  opType: string,
  inputs: InferCaseInput[],
  attributes: Record<string, AttributeValue> = {},
  {
    opset = 17,
    outputs = 1,
    domain = ''
  }: { opset?: number; outputs?: number; domain?: string } = {}
): ValueType[] {
  const outputNames = Array.from({ length: outputs }, (_, i) => `y${i}`);
  const graph: Graph = {
    name: opType,
    opsets: { '': opset },
    inputs: [],
    outputs: outputNames.map(name => ({ name, dtype: 'float32' })),
    nodes: [
      {
        name: `${opType}_0`,
        opType,
        domain,
        inputs: inputs.map((input, i) => (input ? `x${i}` : '')),
        outputs: outputNames,
        attributes
      }
    ],
    initializers: new Map(),
    valueTypes: new Map()
  };
  inputs.forEach((input, i) => {
    if (input instanceof Tensor) {
      graph.initializers.set(`x${i}`, input);
    } else if (input) {
      graph.inputs.push({ name: `x${i}`, ...input });
    }
  });
  inferShapes(graph);
  return outputNames.map(name => graph.valueTypes.get(name)!);
}
