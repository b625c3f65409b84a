/**
 * ONNX backend node tests on disk: <data-dir>/<test>/model.onnx with
 * test_data_set_N/input_K.pb and output_K.pb (TensorProtos).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import { decodeTensor, Graph, importOnnx, Tensor, ValueInfo } from '../engine';
import { describeFileError } from '../errors';
import { readBytes } from '../files';

export interface TestCase {
  name: string;
  dir: string;
  /**
   * What the test exercises: the op type of its node (Constant nodes feeding it aside),
   * or 'function-expanded' for the `_expanded` tests, which run an op's function body.
   */
  op: string;
}

export interface DataSet {
  name: string;
  feeds: Record<string, Tensor>;
  expected: Record<string, Tensor>;
}

export interface LoadedCase {
  graph: Graph;
  dataSets: DataSet[];
}

export const FUNCTION_EXPANDED = 'function-expanded';

/** The test directories under `dataDir` (sorted), those whose name holds `filter` if given. */
export function findTestCases(dataDir: string, filter?: string): TestCase[] {
  let entries: string[];
  try {
    entries = readdirSync(dataDir);
  } catch (error) {
    throw new Error(`cannot read the test data directory ${dataDir}: ${describeFileError(error)}`);
  }
  return entries
    .filter(name => !filter || name.includes(filter))
    .filter(name => existsSync(join(dataDir, name, 'model.onnx')))
    .sort()
    .map(name => {
      const dir = join(dataDir, name);
      return { name, dir, op: testOp(name, join(dir, 'model.onnx')) };
    });
}

/**
 * The op a test exercises (see TestCase.op). The node types are read straight from the
 * protobuf, not through the importer, so that a test whose import fails keeps its op
 * and its row in the report.
 */
function testOp(name: string, modelPath: string): string {
  if (name.endsWith('_expanded')) {
    return FUNCTION_EXPANDED;
  }
  let opTypes: string[];
  try {
    opTypes =
      onnx.ModelProto.decode(readBytes(modelPath)).graph?.node?.map(n => n.opType ?? '') ?? [];
  } catch {
    return '(unreadable model)';
  }
  const named = [...new Set(opTypes.filter(op => op !== 'Constant'))];
  return named.length ? named.join('+') : [...new Set(opTypes)].join('+') || '(no nodes)';
}

/** Imports the model and decodes every data set, binding .pb files to the graph's values. */
export function loadTestCase(testCase: TestCase): LoadedCase {
  const modelPath = join(testCase.dir, 'model.onnx');
  const graph = importOnnx(readBytes(modelPath), { source: modelPath });
  const dataSets = readdirSync(testCase.dir)
    .filter(entry => entry.startsWith('test_data_set_'))
    .sort()
    .map(entry => {
      const dir = join(testCase.dir, entry);
      return {
        name: entry,
        feeds: readTensors(dir, 'input', graph.inputs),
        expected: readTensors(dir, 'output', graph.outputs)
      };
    });
  if (!dataSets.length) {
    throw new Error(`${testCase.dir} has no test_data_set_* directory`);
  }
  return { graph, dataSets };
}

/**
 * <dir>/<prefix>_K.pb for K = 0, 1, ... as tensors keyed by value name: the name stored
 * in the file when it is one of `values`, else the K-th of `values` (older test data
 * leaves names empty).
 */
function readTensors(
  dir: string,
  prefix: string,
  values: readonly ValueInfo[]
): Record<string, Tensor> {
  const tensors: Record<string, Tensor> = {};
  for (let k = 0; ; k++) {
    const path = join(dir, `${prefix}_${k}.pb`);
    if (!existsSync(path) || !statSync(path).isFile()) {
      break;
    }
    const { name, tensor } = decodeTensor(readBytes(path), path);
    const known = values.some(value => value.name === name);
    const bound = known ? name : values[k]?.name;
    if (bound === undefined) {
      throw new Error(`${path}: the model has only ${values.length} ${prefix}s`);
    }
    tensors[bound] = tensor;
  }
  return tensors;
}
