import assert from 'node:assert/strict';
import { AttributeValue, Graph } from '../../src/engine/ir/graph';
import { Tensor } from '../../src/engine/ir/tensor';
import { inferShapes } from '../../src/engine/ops/infer';
import { NativeExecutor } from '../../src/engine/runtime/native';
import { runReference } from '../../src/engine/runtime/reference';
import { testDevice } from './gpu';

export interface ErrorStats {
  maxAbs: number;
  maxRel: number;
}

/**
 * Max absolute error and max error relative to the reference's largest magnitude
 * (elementwise relative error is meaningless where the reference is near zero).
 */
export function errorStats(actual: Tensor, expected: Tensor): ErrorStats {
  assert.deepEqual(actual.shape, expected.shape, 'shapes differ');
  const a = actual.toNumbers();
  const e = expected.toNumbers();
  let maxAbs = 0;
  let scale = 0;
  for (let i = 0; i < e.length; i++) {
    if (Number.isNaN(e[i]) !== Number.isNaN(a[i])) {
      return { maxAbs: Infinity, maxRel: Infinity };
    }
    if (!Number.isNaN(e[i]) && e[i] !== a[i]) {
      maxAbs = Math.max(maxAbs, Math.abs(a[i] - e[i]));
    }
    if (Number.isFinite(e[i])) {
      scale = Math.max(scale, Math.abs(e[i]));
    }
  }
  return { maxAbs, maxRel: maxAbs / Math.max(scale, 1e-30) };
}

export function assertClose(
  actual: Tensor,
  expected: Tensor,
  tolerance = 1e-5,
  what = 'output'
): void {
  assert.equal(actual.dtype, expected.dtype, `${what}: dtype`);
  const { maxAbs, maxRel } = errorStats(actual, expected);
  assert.ok(
    maxRel <= tolerance,
    `${what}: max abs error ${maxAbs}, relative ${maxRel} exceeds ${tolerance}`
  );
}

export interface NodeCase {
  opType: string;
  inputs: (Tensor | undefined)[];
  attributes?: Record<string, AttributeValue>;
  /** Inputs given as constants (initializers), e.g. shapes and axes. */
  constants?: number[];
  outputs?: number;
  opset?: number;
  /** The op's domain: '' (ai.onnx) unless given, 'webtrt' for the fused ops. */
  domain?: string;
}

/** A one-node graph whose inputs are `x0`, `x1`, ... and outputs `y0`, `y1`, .... */
export function singleNodeGraph(c: NodeCase): Graph {
  const constants = new Set(c.constants ?? []);
  const initializers = new Map<string, Tensor>();
  const inputs = c.inputs.flatMap((t, i) => {
    if (!t) {
      return [];
    }
    if (constants.has(i)) {
      initializers.set(`x${i}`, t);
      return [];
    }
    return [{ name: `x${i}`, dtype: t.dtype, shape: [...t.shape] }];
  });
  const outputNames = Array.from({ length: c.outputs ?? 1 }, (_, i) => `y${i}`);
  const graph: Graph = {
    name: c.opType,
    opsets: { '': c.opset ?? 17 },
    inputs,
    outputs: outputNames.map(name => ({ name, dtype: 'float32' })),
    nodes: [
      {
        name: `${c.opType}_0`,
        opType: c.opType,
        domain: c.domain ?? '',
        inputs: c.inputs.map((t, i) => (t ? `x${i}` : '')),
        outputs: outputNames,
        attributes: c.attributes ?? {}
      }
    ],
    initializers,
    valueTypes: new Map()
  };
  inferShapes(graph);
  return graph;
}

export function feedsOf(c: NodeCase): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  c.inputs.forEach((t, i) => {
    if (t && !(c.constants ?? []).includes(i)) {
      feeds[`x${i}`] = t;
    }
  });
  return feeds;
}

/**
 * Runs one node on the CPU reference and on the WebGPU kernel, asserts the kernel ran
 * on the GPU and that every output agrees within `tolerance` (relative to the largest
 * reference magnitude). Returns the reference outputs for further checks.
 */
export async function checkKernel(c: NodeCase, tolerance = 1e-5): Promise<Tensor[]> {
  const graph = singleNodeGraph(c);
  const feeds = feedsOf(c);
  const expected = runReference(graph, feeds);
  const executor = new NativeExecutor(await testDevice());
  const { outputs, placements } = await executor.run(graph, feeds);
  assert.equal(
    placements[0].device,
    'webgpu',
    `${c.opType} ran on the CPU: ${placements[0].reason}`
  );
  for (const { name } of graph.outputs) {
    assertClose(outputs[name], expected[name], tolerance, `${c.opType} ${name}`);
  }
  return graph.outputs.map(o => expected[o.name]);
}

/** The CPU reference outputs of one node, in the node's output order. */
export function reference(c: NodeCase): Tensor[] {
  const graph = singleNodeGraph(c);
  const outputs = runReference(graph, feedsOf(c));
  return graph.outputs.map(o => outputs[o.name]);
}

/** A tensor's elements as plain numbers, for assertions written by hand. */
export function values(t: Tensor): number[] {
  return Array.from(t.toNumbers());
}
