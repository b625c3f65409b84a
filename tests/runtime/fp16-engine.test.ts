/**
 * FP16 engines at run time: host <-> GPU transfers in f16 storage, engines whose inputs and
 * outputs are float16, per-layer precision in the layer info, and plans of FP16 engines.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { build } from '../../src/engine/builder/build';
import { numberToFloat16Bits } from '../../src/engine/ir/dtype';
import { Graph } from '../../src/engine/ir/graph';
import { Tensor } from '../../src/engine/ir/tensor';
import { Engine } from '../../src/engine/runtime/engine';
import { runReference } from '../../src/engine/runtime/reference';
import { download, fromStorage, toStorage, upload } from '../../src/engine/runtime/transfer';
import { assertClose } from '../helpers/compare';
import { UNTUNED, testDevice } from '../helpers/gpu';
import { randomTensor } from '../helpers/random';
import { buildGraph, node } from '../builder/passes/graphs';

describe('f16 storage transfers', () => {
  const values = [1.5, -2.25, 0.1, 65504, 3e-7];

  test('toStorage gives float16 bits, from float16 and float32 tensors alike', () => {
    const bits = values.map(numberToFloat16Bits);
    const half = Tensor.fromNumbers('float16', [5], values);
    assert.deepEqual([...toStorage(half, 'h', 'f16')], bits);
    assert.deepEqual([...toStorage(Tensor.fromNumbers('float32', [5], values), 'f', 'f16')], bits);
    // Without f16 storage, float16 is stored as f32 values.
    assert.ok(toStorage(half, 'h') instanceof Float32Array);
  });

  test('fromStorage reads float16 bits, ignoring the padding after an odd count', () => {
    const half = Tensor.fromNumbers('float16', [5], values);
    const padded = new Uint16Array(6);
    padded.set(half.data as Uint16Array);
    padded[5] = 0xffff;
    const back = fromStorage('float16', [5], padded.buffer, 'f16');
    assert.deepEqual(back.toNumbers(), half.toNumbers());
  });

  test('an odd count of float16 elements uploads and downloads in f16 storage', async () => {
    const device = await testDevice();
    const half = Tensor.fromNumbers('float16', [5], values);
    const gpu = upload(device, half, 'odd', 'f16');
    try {
      assert.equal(gpu.buffer.size, 12);
      const back = await download(device, gpu);
      assert.equal(back.dtype, 'float16');
      assert.deepEqual(back.data, half.data);
    } finally {
      gpu.buffer.destroy();
    }
  });
});

/** x -> Relu -> Sigmoid -> y and Relu -> Neg -> n, with Neg held to fp32. */
function mixedGraph(): Graph {
  return buildGraph({
    inputs: { x: [3, 5] },
    outputs: ['y', 'n'],
    nodes: [node('Relu', ['x'], 'r'), node('Sigmoid', ['r'], 'y'), node('Neg', ['r'], 'n')]
  });
}

describe('FP16 engines', () => {
  test('layer info gives each layer its precision; a plan rebuilds the same engine', async () => {
    const device = await testDevice();
    const graph = mixedGraph();
    const feeds = { x: randomTensor([3, 5], { seed: 1 }) };
    const engine = await build(
      graph,
      { ...UNTUNED, precision: 'fp16', layerPrecisions: { 'Neg:n': 'fp32' } },
      device
    );
    let loaded: Engine | undefined;
    try {
      const precisions = Object.fromEntries(engine.layers.map(l => [l.name, l.precision]));
      assert.deepEqual(precisions, {
        'x reformat to float16': 'fp16',
        'Relu:r': 'fp16',
        'Sigmoid:y': 'fp16',
        'y reformat to float32': 'fp32',
        'r reformat to float32': 'fp32',
        'Neg:n': 'fp32'
      });
      const first = await engine.createContext().execute(feeds);
      const expected = runReference(engine.graph, feeds);
      for (const name of ['y', 'n']) {
        assert.equal(first[name].dtype, 'float32');
        assertClose(first[name], expected[name], 2e-3, name);
      }
      loaded = await Engine.deserialize(engine.serialize(), device);
      assert.deepEqual(loaded.layers, engine.layers);
      const again = await loaded.createContext().execute(feeds);
      for (const name of ['y', 'n']) {
        assert.deepEqual(again[name].data, first[name].data, `${name}: not the same bytes`);
      }
    } finally {
      engine.destroy();
      loaded?.destroy();
    }
  });

  test('a float16 model keeps float16 inputs and outputs', async () => {
    const device = await testDevice();
    const graph = buildGraph({
      inputs: { x: [2, 7] },
      inputTypes: { x: 'float16' },
      outputs: ['y'],
      nodes: [node('Sigmoid', ['x'], 's'), node('Transpose', ['s'], 'y', { perm: [1, 0] })]
    });
    graph.outputs[0].dtype = 'float16';
    const feeds = { x: randomTensor([2, 7], { seed: 2, dtype: 'float16' }) };
    const engine = await build(graph, { ...UNTUNED, precision: 'fp16' }, device);
    try {
      assert.ok(!engine.layers.some(l => l.opType === 'Cast'));
      const { y } = await engine.createContext().execute(feeds);
      assert.equal(y.dtype, 'float16');
      assertClose(y, runReference(graph, feeds).y, 2e-3, 'y');
    } finally {
      engine.destroy();
    }
  });
});
