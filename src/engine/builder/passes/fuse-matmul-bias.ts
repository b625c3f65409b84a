import { isFloat } from '../../ir/dtype';
import { Dim, Graph, Node } from '../../ir/graph';
import { PassResult, rewriteGraph } from '../pass';
import {
  broadcastAttributes,
  graphOutputNames,
  onlyReadBy,
  producersOf,
  readersOf
} from './values';

/**
 * Fuses MatMul followed by an Add of a bias into one Gemm (A B + C), the layer whose
 * kernel adds the bias as it stores the product. It fuses when both MatMul operands are
 * rank 2 and floating point, the product is read by the Add alone, and the bias
 * broadcasts into the product without growing it (each of its dims, aligned to the right,
 * is 1 or the product's). The Gemm takes the Add's place, after the bias is computed.
 */
export function fuseMatMulBias(graph: Graph): PassResult {
  const producers = producersOf(graph);
  const readers = readersOf(graph);
  const outputs = graphOutputNames(graph);
  /** Each fused Add and the Gemm that takes its place. */
  const gemms = new Map<Node, Node>();
  const fusedMatMuls = new Set<Node>();
  const changes: string[] = [];
  for (const add of graph.nodes) {
    if (add.opType !== 'Add' || add.domain !== '' || add.inputs.length !== 2) {
      continue;
    }
    const matmul = add.inputs
      .map(name => producers.get(name))
      .find(
        node =>
          node?.opType === 'MatMul' &&
          node.domain === '' &&
          onlyReadBy(node.outputs[0], add, readers, outputs)
      );
    const bias = add.inputs.find(name => name !== matmul?.outputs[0]);
    if (!matmul || !bias || !fusible(graph, matmul, bias)) {
      continue;
    }
    fusedMatMuls.add(matmul);
    gemms.set(add, {
      name: matmul.name,
      opType: 'Gemm',
      domain: '',
      inputs: [...matmul.inputs, bias],
      outputs: add.outputs,
      attributes: broadcastAttributes(graph),
      fusedFrom: [matmul, add].flatMap(node => node.fusedFrom ?? [node.name])
    });
    changes.push(`fused MatMul '${matmul.name}' and Add '${add.name}' into Gemm '${matmul.name}'`);
  }
  const nodes = graph.nodes
    .filter(node => !fusedMatMuls.has(node))
    .map(node => gemms.get(node) ?? node);
  return { graph: rewriteGraph(graph, { nodes }), changes };
}

function fusible(graph: Graph, matmul: Node, bias: string): boolean {
  const [a, b] = matmul.inputs.map(name => graph.valueTypes.get(name));
  const product = graph.valueTypes.get(matmul.outputs[0]);
  const c = graph.valueTypes.get(bias);
  return (
    a?.shape?.length === 2 &&
    b?.shape?.length === 2 &&
    product?.shape !== undefined &&
    c?.shape !== undefined &&
    isFloat(a.dtype) &&
    c.dtype === a.dtype &&
    broadcastsInto(c.shape, product.shape)
  );
}

/** Whether `shape` broadcasts to `target` unchanged: right-aligned dims 1 or known equal. */
function broadcastsInto(shape: readonly Dim[], target: readonly Dim[]): boolean {
  const shift = target.length - shape.length;
  return shift >= 0 && shape.every((d, i) => d === 1 || (d !== null && d === target[i + shift]));
}
