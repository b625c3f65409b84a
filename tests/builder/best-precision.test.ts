/**
 * Precision 'best' with calibration scales and tuning: each INT8 layer is timed against the
 * same layer in FP16, and stays in FP16 where that is faster. The timings come from a timing
 * cache written here, so that which precision wins does not hang on the test device's clocks.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { build, BuildProgress } from '../../src/engine/builder/build';
import { BuilderConfig } from '../../src/engine/builder/config';
import { TimingCache } from '../../src/engine/builder/tuner';
import { Tensor } from '../../src/engine/ir/tensor';
import { Engine } from '../../src/engine/runtime/engine';
import { runReference } from '../../src/engine/runtime/reference';
import { buildGraph, node } from './passes/graphs';
import { errorStats } from '../helpers/compare';
import { UNTUNED, testDevice } from '../helpers/gpu';
import { randomTensor } from '../helpers/random';

/** Two 3x3 convolutions, the first with a ReLU, both inputs calibrated. */
const graph = buildGraph({
  inputs: { x: [1, 8, 8, 8] },
  outputs: ['y'],
  nodes: [
    node('Conv', ['x', 'w1'], 'c1', { pads: [1, 1, 1, 1] }),
    node('Relu', ['c1'], 'r1'),
    node('Conv', ['r1', 'w2'], 'y', { pads: [1, 1, 1, 1] })
  ],
  initializers: {
    w1: randomTensor([8, 8, 3, 3], { seed: 1 }),
    w2: randomTensor([8, 8, 3, 3], { seed: 2 })
  }
});

const FEEDS = { x: randomTensor([1, 8, 8, 8], { seed: 3 }) };

/** Max-abs scales of the convolutions' inputs on FEEDS: a calibration of one batch. */
function calibrated(): Record<string, number> {
  const r1 = runReference(graph, FEEDS, { keepIntermediates: true }).r1;
  const amax = (t: Tensor) => Math.max(...t.toNumbers().map(Math.abs));
  return { x: amax(FEEDS.x) / 127, r1: amax(r1) / 127 };
}

const CONFIG: BuilderConfig = {
  precision: 'best',
  int8Scales: calibrated(),
  optimizationLevel: 1
};

const CONVS = ['Conv:c1', 'Conv:y'];

/** Every timing `timed` holds, the INT8 layers' set to `int8Ms`. */
function withInt8Timings(timed: TimingCache, int8Ms: number): TimingCache {
  return new TimingCache(
    timed.entries().map(([key, ms]) => [key, key.startsWith('webtrt::Int8') ? int8Ms : ms])
  );
}

function precisionsOf(engine: Engine): string[] {
  return CONVS.map(name => engine.layers.find(layer => layer.name === name)!.precision);
}

function choiceOf(engine: Engine): string[] | undefined {
  return engine.buildReport.passes.find(pass => pass.pass === 'choosePrecisionByTiming')?.changes;
}

async function assertComputes(engine: Engine): Promise<void> {
  const { y } = await engine.createContext().execute(FEEDS);
  const expected = runReference(graph, FEEDS).y;
  // INT8 layers round their inputs to 255 levels: a few percent of the output's range.
  assert.ok(errorStats(y, expected).maxRel < 0.05, JSON.stringify(errorStats(y, expected)));
}

describe("precision 'best' chooses each layer's precision by timing", () => {
  const timed = new TimingCache();
  let device: GPUDevice;
  before(async () => {
    device = await testDevice();
    // Fills the cache with every tactic of both convolutions, in FP16 and in INT8.
    (await build(graph, CONFIG, device, { timingCache: timed })).destroy();
  });

  test('layers whose INT8 tactics time slower stay in FP16, each named with both times', async () => {
    const stages = new Set<string | undefined>();
    const onProgress = ({ stage }: BuildProgress) => stages.add(stage);
    const engine = await build(graph, CONFIG, device, {
      timingCache: withInt8Timings(timed, 1000),
      onProgress
    });
    assert.deepEqual(
      precisionsOf(engine).filter(precision => precision === 'int8'),
      []
    );
    const choice = choiceOf(engine)!;
    assert.equal(choice.length, 2);
    CONVS.forEach((name, i) =>
      assert.match(
        choice[i],
        new RegExp(`^${name}: FP16, [\\d.]+ µs against INT8's 1000000\\.0 µs$`)
      )
    );
    assert.deepEqual(engine.config.layerPrecisions, { 'Conv:c1': 'fp16', 'Conv:y': 'fp16' });
    assert.deepEqual(
      [...stages],
      [
        'timing each layer in FP16',
        'timing each layer in INT8',
        'building with the faster precision of each layer'
      ]
    );
    await assertComputes(engine);
    engine.destroy();
  });

  test('layers whose INT8 tactics time faster run in INT8, and nothing is rebuilt', async () => {
    const stages = new Set<string | undefined>();
    const engine = await build(graph, CONFIG, device, {
      timingCache: withInt8Timings(timed, 1e-6),
      onProgress: ({ stage }) => stages.add(stage)
    });
    assert.deepEqual(precisionsOf(engine), ['int8', 'int8']);
    assert.deepEqual(choiceOf(engine), []);
    assert.equal(engine.config.layerPrecisions, undefined);
    assert.deepEqual([...stages], ['timing each layer in FP16', 'timing each layer in INT8']);
    await assertComputes(engine);
    engine.destroy();
  });

  test('a layer held to INT8 stays in INT8 however it times', async () => {
    const engine = await build(
      graph,
      { ...CONFIG, layerPrecisions: { 'Conv:y': 'int8' } },
      device,
      { timingCache: withInt8Timings(timed, 1000) }
    );
    assert.deepEqual(precisionsOf(engine).slice(1), ['int8']);
    assert.equal(choiceOf(engine)!.length, 1);
    engine.destroy();
  });

  test('untuned builds, and builds without calibration scales, choose by rule alone', async () => {
    const untuned = await build(graph, { ...CONFIG, ...UNTUNED }, device);
    assert.deepEqual(precisionsOf(untuned), ['int8', 'int8']);
    assert.equal(choiceOf(untuned), undefined);
    untuned.destroy();
    const uncalibrated = await build(graph, { precision: 'best', ...UNTUNED }, device);
    assert.equal(choiceOf(uncalibrated), undefined);
    uncalibrated.destroy();
  });
});
