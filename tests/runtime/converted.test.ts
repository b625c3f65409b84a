import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { Graph } from '../../src/engine/ir/graph';
import { Tensor } from '../../src/engine/ir/tensor';
import { importOnnx } from '../../src/engine/onnx/index';
import { registerOp } from '../../src/engine/ops/registry';
import type { OpDefinition } from '../../src/engine/ops/types';
import { convert, ConvertedModel, planKind } from '../../src/engine/runtime/converted';
import { runReference } from '../../src/engine/runtime/reference';
import { assertClose } from '../helpers/compare';
import { testDevice, UNTUNED } from '../helpers/gpu';
import { runOnnxRuntime } from '../helpers/ort';
import { randomTensor } from '../helpers/random';
import { GENERATED_MODELS, MODEL_TOLERANCE } from '../models/oracle';

function modelBytes(name: string): Uint8Array {
  return new Uint8Array(readFileSync(`${GENERATED_MODELS}/${name}`));
}

function load(name: string): Graph {
  return importOnnx(modelBytes(name), { source: name });
}

const FP32 = { ...UNTUNED, precision: 'fp32' as const };

/**
 * Registers com.example::`opType`, an elementwise op computing `f` with its CPU reference (and
 * `webgpu` when given), as a user registers a custom op; returns what removes it.
 */
function registerElementwise(
  opType: string,
  f: (value: number) => number,
  webgpu?: OpDefinition['webgpu']
): () => void {
  return registerOp({
    opType,
    domain: 'com.example',
    parseAttributes: () => ({}),
    inferTypes: ([x]) => [{ dtype: x!.dtype, shape: x!.shape }],
    cpu: ([x]) => [Tensor.fromNumbers(x!.dtype, x!.shape, x!.toNumbers().map(f))],
    ...(webgpu && { webgpu })
  });
}

describe('converted models', () => {
  test('cast_in_middle with Cast denied: two engines and the fallback Casts give what ONNX Runtime gives', async () => {
    const model = convert(
      load('cast_in_middle.onnx'),
      { ...FP32, denyOps: ['Cast'] },
      await testDevice()
    );
    try {
      assert.deepEqual(
        model.segments.map(s => `${s.id}: ${s.nodes.length}`),
        ['engine 0: 4', 'fallback 1: 2', 'engine 2: 5']
      );
      const input = randomTensor([2, 3, 16, 16], { low: 0, high: 1, seed: 5 });
      const expected = await runOnnxRuntime(modelBytes('cast_in_middle.onnx'), { input });
      const { logits } = await model.run({ input });
      assertClose(logits, expected.logits, MODEL_TOLERANCE, 'logits');
      for (const segment of model.engineSegments) {
        assert.equal(model.cache(segment.id).stats().builds, 1, segment.id);
      }
    } finally {
      model.destroy();
    }
  });

  test('a custom op registered with its CPU reference falls back between two engines', async () => {
    const unregister = registerElementwise('Swish', v => v / (1 + Math.exp(-v)));
    try {
      const model = convert(load('custom_op.onnx'), FP32, await testDevice());
      try {
        assert.deepEqual(
          model.segments.map(s => [s.id, s.nodes.length, s.reason]),
          [
            ['engine 0', 4, undefined],
            ['fallback 1', 1, 'com.example::Swish has no WebGPU kernel'],
            ['engine 2', 5, undefined]
          ]
        );
        // The twin spells Swish as Sigmoid and Mul, which ONNX Runtime can run.
        const input = randomTensor([3, 3, 16, 16], { low: 0, high: 1, seed: 6 });
        const expected = await runOnnxRuntime(modelBytes('custom_op_twin.onnx'), { input });
        assertClose((await model.run({ input })).logits, expected.logits, MODEL_TOLERANCE);
      } finally {
        model.destroy();
      }
    } finally {
      unregister();
    }
    // Unregistered, no one can run it: converting says so, naming the node.
    await assert.rejects(
      async () => convert(load('custom_op.onnx'), FP32, await testDevice()),
      (error: Error) => {
        assert.match(
          error.message,
          /^'custom_op' uses an op that webtrt does not define, so neither an engine nor the CPU fallback can run it: '\/Swish_0' \(com.example::Swish\)$/
        );
        return true;
      }
    );
  });

  test('the engine cache: hits, misses and evictions as batch and sequence length vary', async () => {
    const graph = load('small_transformer.onnx');
    const model = convert(
      graph,
      { ...FP32, denyOps: ['Erf'], maximumCachedEngines: 2 },
      await testDevice()
    );
    try {
      assert.ok(model.engineSegments.length >= 2, 'Erf splits the encoder into engines');
      const first = model.cache(model.engineSegments[0].id);
      const shapesOf = () => first.stats().entries.map(entry => entry.shapes.x);
      const runs: [number[], string][] = [
        [[2, 8, 64], 'miss: built'],
        [[1, 8, 64], 'hit: the batch-2 engine, padded'],
        [[2, 5, 64], 'miss: another sequence length'],
        [[2, 8, 64], 'hit: exact'],
        [[3, 8, 64], 'miss: a larger batch; evicts [2, 5, 64], least recently used'],
        [[2, 5, 64], 'miss: evicts [2, 8, 64]']
      ];
      for (const [index, [shape, what]] of runs.entries()) {
        const x = randomTensor(shape, { seed: 10 + index });
        const outputs = await model.run({ x });
        assertClose(outputs.y, runReference(graph, { x }).y, MODEL_TOLERANCE, `${shape}: ${what}`);
      }
      assert.deepEqual(shapesOf(), [
        [3, 8, 64],
        [2, 5, 64]
      ]);
      const { hits, misses, evictions, builds, capacity, buildTimeMs } = first.stats();
      assert.deepEqual(
        { hits, misses, evictions, builds, capacity },
        {
          hits: 2,
          misses: 4,
          evictions: 2,
          builds: 4,
          capacity: 2
        }
      );
      assert.ok(buildTimeMs > 0);
      for (const segment of model.engineSegments) {
        const stats = model.cache(segment.id).stats();
        assert.equal(stats.hits + stats.misses, runs.length, segment.id);
        assert.ok(stats.entries.length <= 2, segment.id);
      }
    } finally {
      model.destroy();
    }
  });

  test('an engine segment whose engine fails to build runs on the CPU, and its cache says why', async () => {
    const unregister = registerElementwise('Twice', v => 2 * v, {
      run: (ctx, [x]) => {
        throw new Error(`this kernel does not take ${x!.size} elements`);
      }
    });
    const node = (name: string, opType: string, input: string, output: string, domain = '') => ({
      name,
      opType,
      domain,
      inputs: [input],
      outputs: [output],
      attributes: {}
    });
    const graph: Graph = {
      name: 'twice',
      opsets: { '': 17, 'com.example': 1 },
      inputs: [{ name: 'x', dtype: 'float32', shape: ['n', 4] }],
      outputs: [{ name: 'y', dtype: 'float32' }],
      nodes: [
        node('relu', 'Relu', 'x', 'a'),
        node('twice', 'Twice', 'a', 'b', 'com.example'),
        node('neg', 'Neg', 'b', 'y')
      ],
      initializers: new Map(),
      valueTypes: new Map()
    };
    try {
      const model = convert(graph, FP32, await testDevice());
      try {
        assert.deepEqual(
          model.segments.map(s => s.id),
          ['engine 0']
        );
        const x = randomTensor([2, 4], { seed: 9 });
        for (let run = 0; run < 2; run++) {
          assertClose((await model.run({ x })).y, runReference(graph, { x }).y, 0);
        }
        const { builds, misses, failures } = model.cache('engine 0').stats();
        assert.deepEqual({ builds, misses }, { builds: 0, misses: 1 });
        assert.deepEqual(
          failures.map(f => f.shapes),
          [{ x: [2, 4] }]
        );
        assert.match(failures[0].reason, /this kernel does not take 8 elements/);
      } finally {
        model.destroy();
      }
    } finally {
      unregister();
    }
  });

  test('a converted plan holds its engines: loaded, it runs without building', async () => {
    const device = await testDevice();
    const graph = load('cast_in_middle.onnx');
    const model = convert(graph, { ...FP32, denyOps: ['Cast'] }, device);
    let loaded: ConvertedModel | undefined;
    try {
      await model.build({ input: [2, 3, 16, 16] });
      const plan = model.serialize();
      assert.equal(planKind(plan), 'converted');
      loaded = await ConvertedModel.deserialize(plan, device);
      assert.deepEqual(loaded.params, model.params);
      const input = randomTensor([2, 3, 16, 16], { seed: 8 });
      const { logits } = await loaded.run({ input });
      assertClose(logits, runReference(graph, { input }).logits, MODEL_TOLERANCE);
      for (const segment of loaded.engineSegments) {
        const { hits, misses, builds } = loaded.cache(segment.id).stats();
        assert.deepEqual({ hits, misses, builds }, { hits: 1, misses: 0, builds: 1 });
      }
    } finally {
      model.destroy();
      loaded?.destroy();
    }
  });

  test('an optimization profile bounds the inputs and gives the shapes to build for', async () => {
    const graph = load('cast_in_middle.onnx');
    const profile = { input: { min: [1, 3, 16, 16], opt: [4, 3, 16, 16], max: [8, 3, 16, 16] } };
    const model = convert(graph, { ...FP32, denyOps: ['Cast'], profile }, await testDevice());
    try {
      await model.build();
      assert.deepEqual(model.cache('engine 0').stats().entries[0].shapes, {
        input: [4, 3, 16, 16]
      });
      await assert.rejects(
        model.run({ input: randomTensor([9, 3, 16, 16]) }),
        /input 'input' has shape \[9, 3, 16, 16\], outside the optimization profile: min \[1, 3, 16, 16\], max \[8, 3, 16, 16\]/
      );
    } finally {
      model.destroy();
    }
    assert.throws(
      () =>
        convert(
          graph,
          { ...FP32, profile: { input: { ...profile.input, opt: [9, 3, 16, 16] } } },
          {} as GPUDevice
        ),
      /the optimization profile of 'input' needs min <= opt <= max in every dim/
    );
  });
});
