import assert from 'node:assert/strict';
import { DataType } from '../../../src/engine/ir/dtype';
import { AttributeValue, Dim, Graph, Node, ValueInfo } from '../../../src/engine/ir/graph';
import { Tensor } from '../../../src/engine/ir/tensor';
import { PassResult, withInferredTypes } from '../../../src/engine/builder/pass';
import { runReference } from '../../../src/engine/runtime/reference';
import { errorStats } from '../../helpers/compare';
import { randomTensor } from '../../helpers/random';

/** Small graphs written out in the tests, and the checks every pass test makes. */

export function node(
  opType: string,
  inputs: string[],
  outputs: string | string[],
  attributes: Record<string, AttributeValue> = {}
): Node {
  const names = typeof outputs === 'string' ? [outputs] : outputs;
  return { name: `${opType}:${names[0]}`, opType, domain: '', inputs, outputs: names, attributes };
}

export interface GraphSpec {
  inputs: Record<string, Dim[]>;
  outputs: string[];
  nodes: Node[];
  initializers?: Record<string, Tensor>;
  /** Inputs of another type than float32. */
  inputTypes?: Record<string, DataType>;
  opset?: number;
}

/** A float32 graph with the types shape inference gives it. */
export function buildGraph(spec: GraphSpec): Graph {
  const inputs: ValueInfo[] = Object.entries(spec.inputs).map(([name, shape]) => ({
    name,
    dtype: spec.inputTypes?.[name] ?? 'float32',
    shape
  }));
  return withInferredTypes({
    name: 'test',
    opsets: { '': spec.opset ?? 17 },
    inputs,
    outputs: spec.outputs.map(name => ({ name, dtype: 'float32' })),
    nodes: spec.nodes,
    initializers: new Map(Object.entries(spec.initializers ?? {})),
    valueTypes: new Map()
  });
}

export const int64 = (values: number[], shape = [values.length]) =>
  Tensor.fromNumbers('int64', shape, values);

export function opTypes(graph: Graph): string[] {
  return graph.nodes.map(n => n.opType);
}

/** Random float32 feeds for the graph's inputs; symbolic dims are given `dims`' sizes. */
export function randomFeeds(
  graph: Graph,
  seed: number,
  dims: Record<string, number> = {}
): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  graph.inputs.forEach((input, i) => {
    const shape = input.shape!.map(d => {
      const size = typeof d === 'number' ? d : dims[d ?? ''];
      assert.ok(size !== undefined, `no size for dim ${d} of input '${input.name}'`);
      return size;
    });
    feeds[input.name] = randomTensor(shape, { seed: seed + i });
  });
  return feeds;
}

/**
 * Asserts that `after` computes what `before` does on the CPU reference, output by output
 * (largest error relative to the output's largest magnitude).
 */
export function assertSameOutputs(
  before: Graph,
  after: Graph,
  feeds: Record<string, Tensor>,
  tolerance = 1e-5
): void {
  const expected = runReference(before, feeds);
  const actual = runReference(after, feeds);
  assert.deepEqual(
    after.outputs.map(o => o.name),
    before.outputs.map(o => o.name),
    'graph outputs changed'
  );
  for (const { name } of before.outputs) {
    assert.equal(actual[name].dtype, expected[name].dtype, `${name}: dtype`);
    const { maxRel } = errorStats(actual[name], expected[name]);
    assert.ok(maxRel <= tolerance, `${name}: relative error ${maxRel} exceeds ${tolerance}`);
  }
}

/** A structural copy of everything a pass could mutate, to check it mutated nothing. */
export function snapshot(graph: Graph): unknown {
  return structuredClone({
    ...graph,
    initializers: [...graph.initializers],
    valueTypes: [...graph.valueTypes]
  });
}

/** Runs `pass` and checks it left its input graph as it was. */
export function applyPass(pass: (graph: Graph) => PassResult, graph: Graph): PassResult {
  const before = snapshot(graph);
  const result = pass(graph);
  assert.deepEqual(snapshot(graph), before, `${pass.name} mutated its input graph`);
  assert.notEqual(result.graph, graph);
  return result;
}
