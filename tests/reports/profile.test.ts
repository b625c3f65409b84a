import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { build } from '../../src/engine/builder/build';
import { importOnnx } from '../../src/engine/onnx/index';
import { profileReport, profileTrace } from '../../src/engine/reports/profile';
import { reportText } from '../../src/engine/reports/text';
import { UNTUNED, testDevice } from '../helpers/gpu';
import { randomTensor } from '../helpers/random';
import { GENERATED_MODELS } from '../models/oracle';

describe('profileReport', () => {
  test("joins each profiled layer with the engine's precision, tactic and fused nodes", async () => {
    const graph = importOnnx(new Uint8Array(readFileSync(`${GENERATED_MODELS}/small_cnn.onnx`)));
    const engine = await build(
      graph,
      { ...UNTUNED, precision: 'fp32', shapes: { input: [1, 3, 32, 32] } },
      await testDevice()
    );
    try {
      const feeds = { input: randomTensor([1, 3, 32, 32], { seed: 3 }) };
      const profile = await engine.createContext().profile(feeds, 3);
      const report = profileReport(engine, profile, 'small_cnn.wtrt');
      assert.equal(report.kind, 'profile');
      assert.equal(report.clock, profile.clock);
      assert.equal(report.iterations, 3);
      assert.deepEqual(
        report.layers.map(({ name, opType, precision, tactic, fusedNodes, timesMs }) => ({
          name,
          opType,
          precision,
          tactic,
          fusedNodes,
          timesMs
        })),
        engine.layers.map((layer, i) => ({
          name: layer.name,
          opType: layer.opType,
          precision: layer.precision,
          tactic: layer.tactic,
          fusedNodes: layer.fusedNodes,
          timesMs: profile.layers[i].timesMs
        }))
      );
      assert.deepEqual(JSON.parse(JSON.stringify(report)), report);

      const trace = profileTrace(report);
      const spans = trace.traceEvents.filter(event => event.ph === 'X');
      assert.deepEqual(
        spans.map(span => span.name),
        engine.layers.map(layer => layer.name)
      );
      assert.equal(trace.metadata.iterations, 3);
      const last = report.layers.map(layer => layer.timesMs[2]);
      spans.forEach((span, i) => {
        assert.ok(Math.abs(span.dur - last[i] * 1000) < 1e-6, `${span.name}: the last iteration`);
      });
      assert.ok(trace.traceEvents.some(e => e.ph === 'M' && e.args.name === 'small_cnn.wtrt'));

      const text = reportText({ ...report, trace: 'small_cnn.profile.json' });
      assert.match(
        text,
        new RegExp(`^profile +small_cnn\\.wtrt: ${engine.layers.length} layers, 3 iterations$`, 'm')
      );
      assert.match(text, /^=== Profile \(3 iterations \) ===$/m);
      assert.match(text, /^ +\/Conv_0 +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+$/m);
      assert.match(text, /^Layer times: (GPU timestamps|wall-clock)/m);
      assert.match(text, /^trace +small_cnn\.profile\.json$/m);

      const stranger = { ...profile, layers: [{ name: 'nope', opType: 'Relu', timesMs: [1] }] };
      assert.throws(() => profileReport(engine, stranger, 'x'), /no layer 'nope'/);
    } finally {
      engine.destroy();
    }
  });
});
