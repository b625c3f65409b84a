import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor } from '../../src/engine/ir/tensor';
import { decodeTensor, importOnnx } from '../../src/engine/onnx';
import { runReference } from '../../src/engine/runtime/reference';
import { assertClose } from './compare';

/** The ONNX backend node tests from Debian's libonnx-testdata. */
export const NODE_TESTS_DIR = '/usr/share/libonnx-testdata/data/node';

/** Why a conformance test cannot run here, or false when it can (for `test`'s `skip`). */
export function conformanceSkip(name: string): string | false {
  return existsSync(join(NODE_TESTS_DIR, name))
    ? false
    : `${NODE_TESTS_DIR}/${name} not found (install libonnx-testdata)`;
}

/**
 * Runs conformance case `name` (its model and test_data_set_0) on the CPU reference and
 * asserts every output matches the expected one within `tolerance`, relative to the
 * largest expected magnitude.
 */
export function checkConformance(name: string, tolerance = 1e-5): void {
  const dir = join(NODE_TESTS_DIR, name);
  const graph = importOnnx(readFileSync(join(dir, 'model.onnx')), { source: name });
  const data = join(dir, 'test_data_set_0');
  const read = (prefix: string) =>
    readdirSync(data)
      .filter(f => f.startsWith(prefix))
      .sort()
      .map(f => decodeTensor(readFileSync(join(data, f)), join(name, f)).tensor);
  const feeds: Record<string, Tensor> = {};
  read('input_').forEach((tensor, i) => (feeds[graph.inputs[i].name] = tensor));
  const outputs = runReference(graph, feeds);
  read('output_').forEach((expected, i) => {
    const { name: output } = graph.outputs[i];
    assertClose(outputs[output], expected, tolerance, `${name} ${output}`);
  });
}
