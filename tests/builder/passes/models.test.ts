import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { runPasses, withInferredTypes } from '../../../src/engine/builder/pass';
import { STANDARD_PASSES } from '../../../src/engine/builder/passes/index';
import { Graph } from '../../../src/engine/ir/graph';
import { importOnnx } from '../../../src/engine/onnx/index';
import { GENERATED_MODELS, MODEL_TOLERANCE, PPOCR_MODELS } from '../../models/oracle';
import { assertSameOutputs, randomFeeds } from './graphs';

interface ModelCase {
  file: string;
  /** The one input's shape, for the run and, with `static`, for the build. */
  shape: number[];
  /** Node counts before and after the standard passes. */
  nodes: [number, number];
  /** Builds for the input shape given rather than the model's symbolic one. */
  static?: boolean;
}

// The transformers' and PP-OCR's shape subgraphs read the symbolic batch (and sequence): they
// fold only once the build fixes the input shape, as an optimization profile would.
const CASES: ModelCase[] = [
  {
    file: `${PPOCR_MODELS}/ch_ppocr_mobile_v2.0_cls_infer.onnx`,
    shape: [1, 3, 48, 96],
    nodes: [221, 106]
  },
  {
    file: `${PPOCR_MODELS}/ch_ppocr_mobile_v2.0_cls_infer.onnx`,
    shape: [1, 3, 48, 96],
    nodes: [221, 76],
    static: true
  },
  { file: `${GENERATED_MODELS}/small_cnn.onnx`, shape: [2, 3, 32, 32], nodes: [33, 16] },
  { file: `${GENERATED_MODELS}/small_transformer.onnx`, shape: [2, 7, 64], nodes: [80, 14] },
  {
    file: `${GENERATED_MODELS}/small_transformer.onnx`,
    shape: [2, 7, 64],
    nodes: [80, 14],
    static: true
  }
];

function load(c: ModelCase): Graph {
  const graph = importOnnx(new Uint8Array(readFileSync(c.file)), { source: c.file });
  if (!c.static) {
    return graph;
  }
  const inputs = graph.inputs.map(input => ({ ...input, shape: c.shape }));
  return withInferredTypes({ ...graph, inputs });
}

for (const c of CASES) {
  const name = c.file.split('/').pop();
  test(`${name}${c.static ? ` at ${c.shape.join('x')}` : ''}: ${c.nodes.join(' → ')} nodes, same outputs`, () => {
    const graph = load(c);
    const { graph: optimized } = runPasses(graph, STANDARD_PASSES);
    assert.deepEqual([graph.nodes.length, optimized.nodes.length], c.nodes);
    const [input] = graph.inputs;
    const feeds = randomFeeds({ ...graph, inputs: [{ ...input, shape: c.shape }] }, 301);
    assertSameOutputs(graph, optimized, feeds, MODEL_TOLERANCE);
  });
}
