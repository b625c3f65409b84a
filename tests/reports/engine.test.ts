import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { build } from '../../src/engine/builder/build';
import { Graph } from '../../src/engine/ir/graph';
import { importOnnx } from '../../src/engine/onnx/index';
import { Engine } from '../../src/engine/runtime/engine';
import { engineReport } from '../../src/engine/reports/engine';
import { reportText } from '../../src/engine/reports/text';
import { UNTUNED, testDevice } from '../helpers/gpu';
import { GENERATED_MODELS } from '../models/oracle';

const SMALL_CNN = `${GENERATED_MODELS}/small_cnn.onnx`;

let graph: Graph;
let engine: Engine;

before(async () => {
  graph = importOnnx(new Uint8Array(readFileSync(SMALL_CNN)));
  engine = await build(
    graph,
    { ...UNTUNED, precision: 'fp32', shapes: { input: [2, 3, 32, 32] } },
    await testDevice()
  );
});

after(() => engine.destroy());

describe('engineReport', () => {
  test('a built engine: its build, shapes, layers, memory and ONNX nodes tagged by layer', () => {
    const report = engineReport(engine, SMALL_CNN, { graph });
    assert.equal(report.kind, 'engine');
    assert.equal(report.source, SMALL_CNN);
    assert.equal(report.plan, undefined);
    assert.equal(report.precision, 'fp32');
    assert.equal(report.onnxNodes, graph.nodes.length);
    assert.equal(report.buildTimeMs, engine.buildReport.buildTimeMs);
    assert.deepEqual(report.inputs, [{ name: 'input', dtype: 'float32', shape: [2, 3, 32, 32] }]);
    assert.deepEqual(report.outputs[0].shape?.[0], 2);
    assert.deepEqual(report.layers, engine.layers);
    assert.deepEqual(report.memory, engine.memory);
    assert.deepEqual(
      report.passes.map(p => p.pass),
      engine.buildReport.passes.map(p => p.pass)
    );
    assert.equal(report.weights.tensors, engine.graph.initializers.size);
    assert.ok(report.weights.bytes > 0);
    assert.deepEqual(report.partitions.segments, [
      { id: 'engine 0', kind: 'engine', nodes: graph.nodes.length }
    ]);
    const conv = report.partitions.nodes.find(n => n.id === '/Relu_0');
    assert.equal(conv?.layer, '/Conv_0');
    assert.deepEqual(JSON.parse(JSON.stringify(report)), report);

    // A snapshot: what its reader does to it does not reach the engine.
    report.layers[0].fusedNodes.push('changed');
    assert.ok(!engine.layers[0].fusedNodes.includes('changed'));
  });

  test('a deserialized plan: the same layers, its own graph as partitions, the plan file', async () => {
    const plan = engine.serialize();
    const loaded = await Engine.deserialize(plan, await testDevice());
    try {
      const report = engineReport(loaded, 'small_cnn.wtrt', {
        plan: { path: 'small_cnn.wtrt', bytes: plan.byteLength }
      });
      const built = engineReport(engine, SMALL_CNN, { graph });
      assert.equal(report.onnxNodes, undefined);
      assert.deepEqual(report.plan, { path: 'small_cnn.wtrt', bytes: plan.byteLength });
      assert.deepEqual(report.layers, built.layers);
      assert.deepEqual(report.memory, built.memory);
      assert.deepEqual(report.passes, built.passes);
      assert.equal(report.buildTimeMs, built.buildTimeMs);
      const ops = report.partitions.nodes.filter(n => n.role === 'op');
      assert.deepEqual(
        ops.map(n => [n.id, n.layer, n.segment]),
        loaded.layers.map(layer => [layer.name, layer.name, 'engine 0'])
      );

      const text = reportText(report);
      assert.match(text, /^source +small_cnn\.wtrt$/m);
      assert.match(
        text,
        new RegExp(`^layers +${loaded.layers.length} layers, \\d+ dispatches per run$`, 'm')
      );
      assert.match(text, /^plan +small_cnn\.wtrt: [\d.]+ KiB$/m);
    } finally {
      loaded.destroy();
    }
  });

  test('text: the build summary, each layer with its fused nodes, memory and partitions', () => {
    const report = engineReport(engine, SMALL_CNN, { graph });
    const text = reportText(report);
    assert.match(text, /^device +\S/m);
    assert.match(
      text,
      new RegExp(
        `^build +[\\d.]+ m?s, precision fp32 \\(${engine.layers.length} fp32 layers\\)$`,
        'm'
      )
    );
    assert.match(
      text,
      new RegExp(
        `^layers +${engine.layers.length} layers from 33 ONNX nodes, \\d+ dispatches per run$`,
        'm'
      )
    );
    assert.match(
      text,
      /^ {2}\/Conv_2 +FusedConv +fp32 +.*fused \/Conv_2 \+ \/BatchNormalization_2 \+ \/Add_0 \+ \/Relu_2$/m
    );
    assert.match(text, /^ {2}foldBatchNormalization +\d+ changes?$/m);
    assert.match(text, /^memory +arenas .+, sum of tensors .+, peak live /m);
    assert.match(text, /^partitions +1 engine \(33 nodes\)$/m);
    assert.match(text, /^ {2}input +float32 +\[2, 3, 32, 32\]$/m);
    for (const layer of engine.layers) {
      assert.ok(text.includes(`  ${layer.name}  `), `layer ${layer.name} listed`);
    }
  });
});
