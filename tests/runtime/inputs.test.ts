/**
 * An execution context writes its inputs through one buffer that it maps again after each
 * upload: every execution must see its own feeds, whichever way the one before ran or failed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { build } from '../../src/engine/builder/build';
import { Tensor } from '../../src/engine/ir/tensor';
import { Engine, ExecutionContext } from '../../src/engine/runtime/engine';
import { runReference } from '../../src/engine/runtime/reference';
import { buildGraph, int64, node } from '../builder/passes/graphs';
import { UNTUNED, testDevice } from '../helpers/gpu';
import { randomTensor } from '../helpers/random';

/** A float input and an int64 one, each feeding an output of its own. */
const graph = buildGraph({
  inputs: { x: [3, 5], indices: [7] },
  inputTypes: { indices: 'int64' },
  outputs: ['y', 'rows'],
  nodes: [node('Relu', ['x'], 'y'), node('Gather', ['table', 'indices'], 'rows')],
  initializers: { table: randomTensor([10, 2], { seed: 1 }) }
});

function feedsOf(seed: number): Record<string, Tensor> {
  const indices = Array.from({ length: 7 }, (_, i) => (seed * 3 + i * 7) % 10);
  return { x: randomTensor([3, 5], { seed }), indices: int64(indices) };
}

async function assertComputes(context: ExecutionContext, seed: number): Promise<void> {
  const feeds = feedsOf(seed);
  const expected = runReference(graph, feeds);
  const outputs = await context.execute(feeds);
  for (const name of ['y', 'rows']) {
    assert.deepEqual(outputs[name].data, expected[name].data, `feeds of seed ${seed}: ${name}`);
  }
}

describe('ExecutionContext inputs', () => {
  let engine: Engine;
  before(async () => {
    engine = await build(graph, { ...UNTUNED, precision: 'fp32' }, await testDevice());
  });
  after(() => engine.destroy());

  test('each execution computes on its own feeds', async () => {
    const context = engine.createContext();
    for (let seed = 1; seed <= 6; seed++) {
      await assertComputes(context, seed);
    }
    context.destroy();
  });

  test('after timed runs and a refused feed, executions still see their feeds', async () => {
    const context = engine.createContext();
    await assertComputes(context, 11);
    await context.executeTimed(feedsOf(12));
    await assertComputes(context, 13);
    await context.timeCompute(feedsOf(14), 3, 5);
    await context.profile(feedsOf(15), 2);
    await assertComputes(context, 16);

    const tooLarge = { ...feedsOf(17), indices: int64([2 ** 40, 0, 0, 0, 0, 0, 0]) };
    await assert.rejects(context.execute(tooLarge), /'indices' holds int64 values outside/);
    await assert.rejects(context.executeTimed(tooLarge), /'indices' holds int64 values outside/);
    await assertComputes(context, 18);
    context.destroy();
  });

  test('two contexts of one engine upload apart', async () => {
    const first = engine.createContext();
    const second = engine.createContext();
    const [a, b] = [feedsOf(21), feedsOf(22)];
    const [outA, outB] = await Promise.all([first.execute(a), second.execute(b)]);
    assert.deepEqual(outA.y.data, runReference(graph, a).y.data);
    assert.deepEqual(outB.y.data, runReference(graph, b).y.data);
    first.destroy();
    second.destroy();
  });
});
