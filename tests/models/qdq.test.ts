import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { build } from '../../src/engine/builder/build';
import { importOnnx } from '../../src/engine/onnx/index';
import { runReference } from '../../src/engine/runtime/reference';
import { errorStats } from '../helpers/compare';
import { testDevice, UNTUNED } from '../helpers/gpu';
import { runOnnxRuntime } from '../helpers/ort';
import { randomTensor } from '../helpers/random';
import { GENERATED_MODELS } from './oracle';

const MODEL = `${GENERATED_MODELS}/small_cnn_qdq.onnx`;

/**
 * Where the INT8 layers and ONNX Runtime's quantized kernels may part: a value that lands
 * within float rounding of a half step rounds to a neighbouring int8 level in one and not the
 * other, and the step travels on through the layers after it.
 */
const QDQ_TOLERANCE = 3e-2;

test('small_cnn in QDQ format: an FP32 build runs its Convs and Gemm on INT8 kernels and agrees with ONNX Runtime', async () => {
  const bytes = new Uint8Array(readFileSync(MODEL));
  const graph = importOnnx(bytes, { source: MODEL });
  const feeds = { input: randomTensor([2, 3, 32, 32], { low: -1, high: 1, seed: 301 }) };
  const engine = await build(
    graph,
    { ...UNTUNED, precision: 'fp32', shapes: { input: [2, 3, 32, 32] } },
    await testDevice()
  );
  try {
    // Every Conv but the depthwise one (not faster in INT8: it stays FP32), and the Gemm.
    const convs = graph.nodes.filter(node => node.opType === 'Conv');
    const depthwise = convs.filter(node => Number(node.attributes.group ?? 1) > 1);
    assert.equal(depthwise.length, 1);
    const int8 = engine.layers.filter(layer => layer.precision === 'int8');
    assert.deepEqual(
      int8.map(layer => layer.opType).sort(),
      [...Array<string>(convs.length - 1).fill('Int8Conv'), 'Int8MatMul'].sort()
    );
    const depthwiseLayer = engine.layers.find(layer =>
      layer.fusedNodes.includes(depthwise[0].name)
    );
    assert.equal(depthwiseLayer?.precision, 'fp32');
    // Each INT8 layer absorbed the QuantizeLinear / DequantizeLinear pair before it.
    for (const layer of int8) {
      assert.deepEqual(
        layer.fusedNodes.slice(0, 2).map(name => graph.nodes.find(n => n.name === name)?.opType),
        ['QuantizeLinear', 'DequantizeLinear'],
        layer.name
      );
    }
    const actual = await engine.createContext().execute(feeds);
    const expected = await runOnnxRuntime(bytes, feeds);
    const fakeQuantized = runReference(graph, feeds);
    for (const [oracle, values] of [
      ['ONNX Runtime', expected],
      ['the CPU reference', fakeQuantized]
    ] as const) {
      const { maxRel } = errorStats(actual.logits, values.logits);
      assert.ok(maxRel <= QDQ_TOLERANCE, `logits vs ${oracle}: relative error ${maxRel}`);
    }
  } finally {
    engine.destroy();
  }
});
