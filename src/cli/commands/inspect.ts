import { positionalArgs } from '../args';
import { Command } from '../command';
import { findOp, Graph, shapeToString, ValueInfo } from '../engine';
import { columns, field, formatBytes, formatCount, formatMs } from '../format';
import { loadModel } from '../model';

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'show a model: inputs, outputs, opsets, ops (unsupported ones marked), parameters',
  help: `Usage: webtrt inspect <model.onnx>

Prints the model's inputs and outputs (symbolic dims by name, ? when unknown), opset
imports, producer, node count, a histogram of its ops marking those webtrt cannot run
or runs only on the CPU, and its parameters (elements and bytes of the initializers).

Options:
  -h, --help   show this help`,
  options: {},
  async run(args) {
    const [path] = positionalArgs(args, ['<model.onnx>']);
    const { graph, bytes, importMs } = loadModel(path);
    process.stdout.write(describeModel(graph, path, bytes, importMs).join('\n') + '\n');
  }
};

function describeModel(graph: Graph, path: string, bytes: number, importMs: number): string[] {
  const opsets = Object.entries(graph.opsets)
    .map(([domain, version]) => `${domain || 'ai.onnx'} ${version}`)
    .join(', ');
  const histogram = opHistogram(graph);
  const unsupported = histogram.filter(entry => entry.support === 'not supported').length;
  const countWidth = Math.max(...histogram.map(entry => formatCount(entry.count).length));
  return [
    field('model', `${path} (${formatBytes(bytes)}), imported in ${formatMs(importMs)}`),
    field('producer', graph.producerName || 'unknown'),
    field('graph', graph.name || '(unnamed)'),
    field('opsets', opsets || 'none'),
    field('nodes', `${formatCount(graph.nodes.length)} (Constant nodes folded into initializers)`),
    field('parameters', parameterSummary(graph)),
    `inputs (${graph.inputs.length})`,
    ...columns(graph.inputs.map(valueRow)),
    `outputs (${graph.outputs.length})`,
    ...columns(graph.outputs.map(valueRow)),
    `ops (${histogram.length} type${histogram.length === 1 ? '' : 's'}${unsupported ? `, ${unsupported} not supported` : ''})`,
    ...columns(
      histogram.map(entry => [
        entry.op,
        formatCount(entry.count).padStart(countWidth),
        entry.support
      ])
    )
  ];
}

function valueRow(value: ValueInfo): string[] {
  return [value.name, value.dtype, shapeToString(value.shape)];
}

interface OpCount {
  op: string;
  count: number;
  support: '' | 'CPU only' | 'not supported';
}

/** Op types by how often they occur, most frequent first. */
function opHistogram(graph: Graph): OpCount[] {
  const counts = new Map<string, OpCount>();
  for (const node of graph.nodes) {
    const op = node.domain ? `${node.domain}::${node.opType}` : node.opType;
    let entry = counts.get(op);
    if (!entry) {
      const definition = findOp(node.opType, node.domain);
      const support = !definition ? 'not supported' : definition.webgpu ? '' : 'CPU only';
      entry = { op, count: 0, support };
      counts.set(op, entry);
    }
    entry.count++;
  }
  return [...counts.values()].sort((a, b) => b.count - a.count || a.op.localeCompare(b.op));
}

function parameterSummary(graph: Graph): string {
  let elements = 0;
  let bytes = 0;
  for (const tensor of graph.initializers.values()) {
    elements += tensor.size;
    bytes += tensor.data.byteLength;
  }
  const initializers = graph.initializers.size;
  return `${formatCount(elements)} in ${formatCount(initializers)} initializers, ${formatBytes(bytes)}`;
}
