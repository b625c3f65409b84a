// BERT-base encoder benchmark: 12 layers, hidden 768, 12 heads, ff 3072, sequence 128, random
// weights, spelled as torch.onnx exports Hugging Face's BertModel (eager attention, additive
// padding mask, Linear as MatMul + Add, Gelu through Erf, LayerNormalization), embeddings
// left out: inputs are the hidden states and the attention mask. For each batch and precision
// it builds an engine and reports end-to-end latency (inputs written, outputs read back),
// GPU compute time, and GPU time per op type from the per-layer profile.
//
// Here, through tsx:   npx tsx scripts/bench/bert.ts [--layers 2] [--batches 1,8] [--runs 50]
// Bundled for a machine without the sources or tsx:
//   npx esbuild scripts/bench/bert.ts --bundle --platform=node --format=esm \
//     --external:webgpu --outfile=lib/bench/bert.mjs
//   node lib/bench/bert.mjs
import { parseArgs } from 'node:util';
import { requestNodeDevice } from '../../src/cli/gpu';
import { build } from '../../src/engine/builder/build';
import { Precision } from '../../src/engine/builder/config';
import { Graph, Node } from '../../src/engine/ir/graph';
import { Tensor } from '../../src/engine/ir/tensor';
import { seededRandom } from '../../src/engine/io/random';
import { describeAdapter } from '../../src/engine/runtime/fingerprint';

const { values: options } = parseArgs({
  options: {
    layers: { type: 'string', default: '12' },
    sequence: { type: 'string', default: '128' },
    batches: { type: 'string', default: '1,8' },
    precisions: { type: 'string', default: 'fp32,fp16' },
    runs: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '5' }
  }
});
const LAYERS = Number(options.layers);
const SEQUENCE = Number(options.sequence);
const [HIDDEN, HEADS, FF] = [768, 12, 3072];
const HEAD_DIM = HIDDEN / HEADS;

/** The encoder graph for `batch`, nodes spelled as the exporter writes them. */
function bertGraph(batch: number): Graph {
  const next = seededRandom(7);
  const nodes: Node[] = [];
  const initializers = new Map<string, Tensor>();
  let count = 0;
  const constant = (shape: number[], values: (i: number) => number, dtype = 'float32' as const) => {
    const name = `c${count++}`;
    const size = shape.reduce((a, b) => a * b, 1);
    initializers.set(
      name,
      Tensor.fromNumbers(
        dtype,
        shape,
        Array.from({ length: size }, (_, i) => values(i))
      )
    );
    return name;
  };
  const ints = (values: number[]) => {
    const name = `c${count++}`;
    initializers.set(name, Tensor.fromNumbers('int64', [values.length], values));
    return name;
  };
  const op = (opType: string, inputs: string[], attributes: Node['attributes'] = {}) => {
    const output = `v${count++}`;
    nodes.push({
      name: `${opType}_${count}`,
      opType,
      domain: '',
      inputs,
      outputs: [output],
      attributes
    });
    return output;
  };
  const normal = (scale: number) => () => (next() * 2 - 1) * scale;
  const linear = (x: string, fanIn: number, fanOut: number) =>
    op('Add', [
      constant([fanOut], normal(0.05)),
      op('MatMul', [x, constant([fanIn, fanOut], normal(1 / Math.sqrt(fanIn)))])
    ]);
  const layerNorm = (x: string) =>
    op(
      'LayerNormalization',
      [x, constant([HIDDEN], () => 1 + next() * 0.1), constant([HIDDEN], normal(0.1))],
      {
        axis: -1,
        epsilon: 1e-12
      }
    );
  const split = ints([batch, SEQUENCE, HEADS, HEAD_DIM]);
  const merge = ints([batch, SEQUENCE, HIDDEN]);
  const heads = (x: string) => op('Transpose', [op('Reshape', [x, split])], { perm: [0, 2, 1, 3] });

  const padding = op('Unsqueeze', ['attention_mask', ints([1, 2])]);
  const inverted = op('Sub', [constant([], () => 1), op('Cast', [padding], { to: 1 })]);
  const mask = op('Mul', [inverted, constant([], () => -3.4028234663852886e38)]);
  let x = 'x';
  for (let layer = 0; layer < LAYERS; layer++) {
    const [q, k, v] = [0, 1, 2].map(() => heads(linear(x, HIDDEN, HIDDEN)));
    const scores = op('MatMul', [q, op('Transpose', [k], { perm: [0, 1, 3, 2] })]);
    const masked = op('Add', [op('Div', [scores, constant([], () => Math.sqrt(HEAD_DIM))]), mask]);
    const context = op('MatMul', [op('Softmax', [masked], { axis: -1 }), v]);
    const merged = op('Reshape', [op('Transpose', [context], { perm: [0, 2, 1, 3] }), merge]);
    x = layerNorm(op('Add', [linear(merged, HIDDEN, HIDDEN), x]));
    const hidden = linear(x, HIDDEN, FF);
    const erf = op('Erf', [op('Div', [hidden, constant([], () => Math.SQRT2)])]);
    const gelu = op('Mul', [
      op('Mul', [hidden, op('Add', [erf, constant([], () => 1)])]),
      constant([], () => 0.5)
    ]);
    x = layerNorm(op('Add', [linear(gelu, FF, HIDDEN), x]));
  }
  nodes[nodes.length - 1].outputs = ['y'];
  return {
    name: 'bert-base',
    opsets: { '': 17 },
    inputs: [
      { name: 'x', dtype: 'float32', shape: [batch, SEQUENCE, HIDDEN] },
      { name: 'attention_mask', dtype: 'int64', shape: [batch, SEQUENCE] }
    ],
    outputs: [{ name: 'y', dtype: 'float32' }],
    nodes,
    initializers,
    valueTypes: new Map()
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))];
}

const median = (values: number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    0.5
  );

async function main(): Promise<void> {
  const device = await requestNodeDevice();
  console.log(`# ${describeAdapter(device.adapterInfo)}`);
  console.log(`BERT-base encoder, ${LAYERS} layers, sequence ${SEQUENCE}`);
  for (const batch of options.batches.split(',').map(Number)) {
    const graph = bertGraph(batch);
    const next = seededRandom(11);
    const feeds = {
      x: Tensor.fromNumbers(
        'float32',
        [batch, SEQUENCE, HIDDEN],
        Array.from({ length: batch * SEQUENCE * HIDDEN }, () => next() * 2 - 1)
      ),
      // Every other sequence padded after 100 tokens.
      attention_mask: Tensor.fromNumbers(
        'int64',
        [batch, SEQUENCE],
        Array.from({ length: batch * SEQUENCE }, (_, i) =>
          Math.floor(i / SEQUENCE) % 2 === 1 && i % SEQUENCE >= 100 ? 0 : 1
        )
      )
    };
    for (const precision of options.precisions.split(',') as Precision[]) {
      const started = performance.now();
      const engine = await build(
        graph,
        { precision, shapes: { x: feeds.x.shape as number[], attention_mask: [batch, SEQUENCE] } },
        device
      );
      const buildMs = performance.now() - started;
      const context = engine.createContext();
      for (let i = 0; i < Number(options.warmup); i++) {
        await context.execute(feeds);
      }
      const latencies: number[] = [];
      for (let i = 0; i < Number(options.runs); i++) {
        const start = performance.now();
        await context.execute(feeds);
        latencies.push(performance.now() - start);
      }
      const compute = (await context.timeCompute(feeds, 20)).timesMs;
      const profile = await context.profile(feeds, 10);
      const byOp = new Map<string, number>();
      for (const layer of profile.layers) {
        byOp.set(layer.opType, (byOp.get(layer.opType) ?? 0) + median(layer.timesMs));
      }
      const sorted = [...latencies].sort((a, b) => a - b);
      console.log(
        `batch ${batch} ${precision}: ${graph.nodes.length} nodes -> ${engine.layers.length} layers, build ${buildMs.toFixed(0)} ms; ` +
          `latency median ${percentile(sorted, 0.5).toFixed(2)} ms, p90 ${percentile(sorted, 0.9).toFixed(2)} ms, min ${sorted[0].toFixed(2)} ms; ` +
          `GPU compute median ${median(compute).toFixed(2)} ms`
      );
      const attention = engine.layers.find(l => l.opType === 'Attention');
      console.log(
        `  attention tactic ${attention?.tactic ?? '-'}; timings ${JSON.stringify(attention?.tacticTimings ?? [])}`
      );
      const total = [...byOp.values()].reduce((a, b) => a + b, 0);
      for (const [opType, ms] of [...byOp].sort((a, b) => b[1] - a[1])) {
        console.log(
          `  ${opType.padEnd(20)} ${ms.toFixed(3)} ms (${((100 * ms) / total).toFixed(1)}%, ${profile.clock})`
        );
      }
      engine.destroy();
    }
  }
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
