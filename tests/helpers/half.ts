import assert from 'node:assert/strict';
import { build } from '../../src/engine/builder/build';
import { Tensor } from '../../src/engine/ir/tensor';
import { runReference } from '../../src/engine/runtime/reference';
import { assertClose, feedsOf, NodeCase, singleNodeGraph } from './compare';
import { UNTUNED, testDevice } from './gpu';

/**
 * One float16 rounding of a result computed in f32 rather than exactly: an ulp of float16
 * is 2^-10 of the value, measured here against the output's largest magnitude.
 */
export const HALF_KERNEL_TOLERANCE = 2e-3;

/**
 * Builds an FP16 engine of one node on float32 inputs and asserts that the node ran as an
 * FP16 layer and agrees with the CPU reference of the engine's own graph (the same node on
 * float16 values between reformats): the kernel on float16 tensors, in f16 storage where
 * the device has 'shader-f16' and rounded to float16 in f32 storage elsewhere. Returns the
 * engine's outputs. An INT8 layer (`layerPrecision` 'int8') reads and writes float16 tensors
 * in such an engine.
 */
export async function checkHalfKernel(
  c: NodeCase,
  tolerance = HALF_KERNEL_TOLERANCE,
  layerPrecision: 'fp16' | 'int8' = 'fp16'
): Promise<Record<string, Tensor>> {
  const graph = singleNodeGraph(c);
  const feeds = feedsOf(c);
  const engine = await build(graph, { ...UNTUNED, precision: 'fp16' }, await testDevice());
  try {
    const layer = engine.layers.find(l => l.name === graph.nodes[0].name);
    assert.equal(layer?.precision, layerPrecision, `${c.opType} did not run in ${layerPrecision}`);
    const expected = runReference(engine.graph, feeds);
    const actual = await engine.createContext().execute(feeds);
    for (const { name } of graph.outputs) {
      assertClose(actual[name], expected[name], tolerance, `${c.opType} ${name}`);
    }
    return actual;
  } finally {
    engine.destroy();
  }
}
