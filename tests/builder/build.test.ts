import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { build, BuildProgress } from '../../src/engine/builder/build';
import { BuilderConfig } from '../../src/engine/builder/config';
import { Graph } from '../../src/engine/ir/graph';
import { Tensor } from '../../src/engine/ir/tensor';
import { importOnnx } from '../../src/engine/onnx/index';
import { Engine, EngineProfile } from '../../src/engine/runtime/engine';
import { adapterFingerprint, checkFingerprint } from '../../src/engine/runtime/fingerprint';
import { decodePlan, encodePlan } from '../../src/engine/runtime/plan';
import { runReference } from '../../src/engine/runtime/reference';
import { profileTable } from '../../src/engine/runtime/stats';
import { assertClose } from '../helpers/compare';
import { UNTUNED, deviceWithoutTimestamps, testDevice } from '../helpers/gpu';
import { randomTensor } from '../helpers/random';
import { GENERATED_MODELS, MODEL_TOLERANCE, PPOCR_MODELS } from '../models/oracle';
import { buildGraph, int64, node } from './passes/graphs';

interface ModelCase {
  file: string;
  shape: number[];
}

const MODELS: ModelCase[] = [
  { file: `${GENERATED_MODELS}/small_cnn.onnx`, shape: [2, 3, 32, 32] },
  { file: `${PPOCR_MODELS}/ch_ppocr_mobile_v2.0_cls_infer.onnx`, shape: [2, 3, 48, 192] },
  { file: `${GENERATED_MODELS}/small_transformer.onnx`, shape: [2, 7, 64] }
];

/** Layers that relabel their input's memory and run no kernel of their own. */
const VIEW_OPS = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Identity']);

function load(file: string): Graph {
  return importOnnx(new Uint8Array(readFileSync(file)), { source: file });
}

/** The one input of the model, at `shape`, with the build config fixing that shape. */
function setUp(c: ModelCase): {
  graph: Graph;
  feeds: Record<string, Tensor>;
  config: BuilderConfig;
} {
  const graph = load(c.file);
  const [input] = graph.inputs;
  return {
    graph,
    feeds: { [input.name]: randomTensor(c.shape, { seed: 17 }) },
    config: { ...UNTUNED, precision: 'fp32', shapes: { [input.name]: c.shape } }
  };
}

function assertIdentical(actual: Record<string, Tensor>, expected: Record<string, Tensor>): void {
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort());
  for (const [name, tensor] of Object.entries(expected)) {
    assert.deepEqual(actual[name].shape, tensor.shape, `${name}: shape`);
    assert.deepEqual(actual[name].data, tensor.data, `${name}: not the same bytes`);
  }
}

describe('engines of real models', () => {
  for (const c of MODELS) {
    const name = c.file.split('/').pop()!;
    test(`${name} at [${c.shape.join(', ')}]: matches the reference, reuses its arena, survives a plan`, async t => {
      const device = await testDevice();
      const { graph, feeds, config } = setUp(c);
      const expected = runReference(graph, feeds);
      const engine = await build(graph, config, device);
      let loaded: Engine | undefined;
      try {
        const context = engine.createContext();
        const first = await context.execute(feeds);
        for (const output of graph.outputs) {
          assertClose(first[output.name], expected[output.name], MODEL_TOLERANCE, output.name);
        }
        // A second run overwrites the arena's reused slices again: the same bytes must come out.
        assertIdentical(await context.execute(feeds), first);

        const { memory, layers } = engine;
        assert.ok(
          memory.arenaBytes < memory.sumBytes,
          `arena ${memory.arenaBytes} bytes, not below the sum ${memory.sumBytes}`
        );
        assert.equal(layers.length, engine.graph.nodes.length);
        for (const layer of layers.filter(l => l.dispatches === 0)) {
          assert.ok(
            VIEW_OPS.has(layer.opType),
            `${layer.name} (${layer.opType}) dispatches nothing`
          );
        }
        t.diagnostic(
          `${graph.nodes.length} ONNX nodes → ${layers.length} layers; ${memory.arenas.length} arenas of ${memory.arenaBytes} bytes, sum ${memory.sumBytes}, peak ${memory.peakLiveBytes}; ${engine.buildReport.buildTimeMs.toFixed(0)} ms`
        );

        loaded = await Engine.deserialize(engine.serialize(), device);
        assertIdentical(await loaded.createContext().execute(feeds), first);
        assert.deepEqual(loaded.layers, layers);
      } finally {
        engine.destroy();
        loaded?.destroy();
      }
    });
  }

  test('the PP-OCR classifier has fewer layers than ONNX nodes: BatchNormalization folds', async () => {
    const { graph, config } = setUp(MODELS[1]);
    const engine = await build(graph, config, await testDevice());
    try {
      const batchNorms = graph.nodes.filter(n => n.opType === 'BatchNormalization').length;
      assert.ok(batchNorms > 0);
      assert.ok(engine.layers.length <= graph.nodes.length - batchNorms);
      assert.ok(!engine.layers.some(l => l.opType === 'BatchNormalization'));
      assert.ok(engine.buildReport.passes.some(p => p.pass === 'foldBatchNormalization'));
    } finally {
      engine.destroy();
    }
  });
});

/** Every layer once, in order, each time finite and not negative. */
function checkProfile(profile: EngineProfile, engine: Engine, iterations: number): void {
  assert.deepEqual(
    profile.layers.map(({ name, opType }) => ({ name, opType })),
    engine.layers.map(({ name, opType }) => ({ name, opType }))
  );
  for (const { name, timesMs } of profile.layers) {
    assert.equal(timesMs.length, iterations, name);
    assert.ok(
      timesMs.every(t => Number.isFinite(t) && t >= 0),
      `${name}: ${timesMs.join(', ')}`
    );
  }
  const totalMs = profile.layers.reduce((sum, layer) => sum + layer.timesMs[0], 0);
  assert.ok(totalMs > 0, 'no layer took any time');
}

describe('profiling', () => {
  test('small_cnn: every layer timed by GPU timestamps, the table and a later execute intact', async () => {
    const device = await testDevice();
    const { graph, feeds, config } = setUp(MODELS[0]);
    const engine = await build(graph, config, device);
    try {
      const context = engine.createContext();
      const before = await context.execute(feeds);
      const profile = await context.profile(feeds, 3);
      assert.equal(profile.clock, device.features.has('timestamp-query') ? 'gpu' : 'wall-clock');
      checkProfile(profile, engine, 3);
      for (const layer of engine.layers.filter(l => l.dispatches === 0)) {
        const { timesMs } = profile.layers.find(p => p.name === layer.name)!;
        assert.deepEqual(timesMs, [0, 0, 0], `${layer.name} runs no kernel`);
      }

      const table = profileTable(profile.layers);
      assert.match(table, /^=== Profile \(3 iterations \) ===$/m);
      assert.match(table, /^ +Total +[0-9.]+ +[0-9.]+ +[0-9.]+ +100\.0$/m);
      const timed = profile.layers.filter(layer => layer.timesMs.some(t => t > 0));
      for (const { name } of timed) {
        assert.match(table, new RegExp(`^ *${name.replace(/[/.]/g, '\\$&')} `, 'm'));
      }
      assert.equal(table.trimEnd().split('\n').length, 2 + timed.length + 1);

      assertIdentical(await context.execute(feeds), before);
      await assert.rejects(context.profile(feeds, 0), /iterations must be a positive integer/);
    } finally {
      engine.destroy();
    }
  });

  test('without timestamp-query every layer is timed on the wall clock', async () => {
    const device = await deviceWithoutTimestamps();
    const graph = buildGraph({
      inputs: { x: [2, 6] },
      outputs: ['z'],
      nodes: [
        node('Relu', ['x'], 'y'),
        node('Reshape', ['y', 'shape'], 'r'),
        node('Sigmoid', ['r'], 'z')
      ],
      initializers: { shape: int64([3, 4], [2]) }
    });
    const engine = await build(graph, { ...UNTUNED, precision: 'fp32' }, device);
    try {
      const profile = await engine.createContext().profile({ x: randomTensor([2, 6]) }, 2);
      assert.equal(profile.clock, 'wall-clock');
      checkProfile(profile, engine, 2);
      const relu = profile.layers.find(layer => layer.opType === 'Relu')!;
      assert.ok(
        relu.timesMs.every(t => t > 0),
        'a submission takes some wall-clock time'
      );
    } finally {
      engine.destroy();
      device.destroy();
    }
  });
});

describe('plans and feeds that are refused', () => {
  async function smallCnn(): Promise<{ engine: Engine; feeds: Record<string, Tensor> }> {
    const { graph, feeds, config } = setUp(MODELS[0]);
    return { engine: await build(graph, config, await testDevice()), feeds };
  }

  test('a plan with one byte flipped fails its checksum', async () => {
    const { engine } = await smallCnn();
    try {
      const bytes = engine.serialize();
      bytes[Math.floor(bytes.length / 2)] ^= 0x01;
      await assert.rejects(Engine.deserialize(bytes, await testDevice()), /checksum mismatch/);
    } finally {
      engine.destroy();
    }
  });

  test('a plan built for another adapter is refused with the fingerprint check', async () => {
    const device = await testDevice();
    const { engine } = await smallCnn();
    try {
      const plan = decodePlan(engine.serialize());
      const fingerprint = { ...adapterFingerprint(device), vendor: 'another-vendor' };
      const edited = encodePlan({ metadata: { ...plan.metadata, fingerprint }, blobs: plan.blobs });
      const expected = checkFingerprint(fingerprint, adapterFingerprint(device));
      assert.ok(expected);
      await assert.rejects(Engine.deserialize(edited, device), { message: expected });
    } finally {
      engine.destroy();
    }
  });

  test('feeds of another shape than the engine was built for are refused', async () => {
    const { engine, feeds } = await smallCnn();
    try {
      const [name] = Object.keys(feeds);
      const context = engine.createContext();
      await assert.rejects(
        context.execute({ [name]: randomTensor([1, 3, 32, 32]) }),
        new RegExp(`input '${name}' must have shape \\[2, 3, 32, 32\\], got \\[1, 3, 32, 32\\]`)
      );
    } finally {
      engine.destroy();
    }
  });
});

describe('build progress and interruption', () => {
  test('reports each recorded layer in order, ending at the total', async () => {
    const { graph, config } = setUp(MODELS[0]);
    const progress: BuildProgress[] = [];
    const engine = await build(graph, config, await testDevice(), {
      onProgress: update => progress.push(update)
    });
    try {
      const total = engine.layers.length;
      assert.deepEqual(progress[0], { layersDone: 0, totalLayers: total, layer: undefined });
      assert.deepEqual(
        progress.slice(1).map(p => p.layer),
        engine.layers.map(layer => layer.name)
      );
      assert.deepEqual(
        progress.map(p => p.layersDone),
        Array.from({ length: total + 1 }, (_, i) => i)
      );
    } finally {
      engine.destroy();
    }
  });

  test('an aborted signal stops the build between layers with its reason', async () => {
    const { graph, config } = setUp(MODELS[0]);
    const controller = new AbortController();
    let recorded = 0;
    await assert.rejects(
      build(graph, config, await testDevice(), {
        signal: controller.signal,
        onProgress: ({ layersDone }) => {
          recorded = layersDone;
          if (layersDone === 3) {
            controller.abort(new Error('interrupted by the user'));
          }
        }
      }),
      /interrupted by the user/
    );
    assert.equal(recorded, 3, 'no layer is recorded after the abort');
  });
});

describe('builds that fail', () => {
  test('a node whose op has no WebGPU kernel fails the build, named', async () => {
    const graph = buildGraph({
      inputs: { limit: [] },
      inputTypes: { limit: 'int64' },
      outputs: ['positions'],
      nodes: [node('Range', ['start', 'limit', 'delta'], 'positions')],
      initializers: { start: int64([0], []), delta: int64([1], []) }
    });
    await assert.rejects(
      build(graph, { ...UNTUNED, precision: 'fp32' }, await testDevice()),
      /node 'Range:positions' \(Range\): the engine cannot run it: its op has no WebGPU kernel/
    );
  });

  test('a node whose host input is computed at run time fails the build, named', async () => {
    const graph = buildGraph({
      inputs: { x: [2, 6], shape: [2] },
      inputTypes: { shape: 'int64' },
      outputs: ['y'],
      nodes: [node('Reshape', ['x', 'shape'], 'y')]
    });
    await assert.rejects(
      build(graph, { ...UNTUNED, precision: 'fp32' }, await testDevice()),
      /node 'Reshape:y' \(Reshape\): the engine cannot run it: input 1 \('shape'\) must be known on the host, and is not a constant/
    );
  });

  test('a symbolic input dim without a shape in the config is named', async () => {
    const graph = load(MODELS[2].file);
    const [input] = graph.inputs;
    await assert.rejects(
      build(graph, { ...UNTUNED, precision: 'fp32' }, await testDevice()),
      new RegExp(`input '${input.name}' dim 0 is symbolic`)
    );
  });

  test('an unknown precision, layer precision or layer name is refused, naming it', async () => {
    const graph = load(MODELS[0].file);
    const device = await testDevice();
    const shapes = { [graph.inputs[0].name]: MODELS[0].shape };
    const refuses = (config: object, message: RegExp) =>
      assert.rejects(build(graph, { shapes, ...config } as BuilderConfig, device), message);
    await refuses(
      { precision: 'tf32' },
      /precision must be one of 'fp32', 'fp16', 'int8', 'best', got 'tf32'/
    );
    const conv = graph.nodes[0].name;
    await refuses(
      { ...UNTUNED, precision: 'fp16', layerPrecisions: { [conv]: 'fp8' } },
      new RegExp(`layerPrecisions\\['${conv}'\\] must be 'fp32', 'fp16' or 'int8', got 'fp8'`)
    );
    await refuses(
      { ...UNTUNED, precision: 'int8', int8Scales: { [graph.inputs[0].name]: -1 } },
      /int8Scales\['[^']+'\] must be a finite scale of 0 or more, got -1/
    );
    await refuses(
      { ...UNTUNED, precision: 'fp16', layerPrecisions: { [conv]: 'fp32', conv_99: 'fp16' } },
      /layerPrecisions names 'conv_99', which the graph has no node of/
    );
  });
});
