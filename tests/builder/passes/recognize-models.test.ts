import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Pass, runPasses, withInferredTypes } from '../../../src/engine/builder/pass';
import {
  eliminateDeadNodes,
  eliminateIdentities,
  foldBatchNormalization,
  foldConstants
} from '../../../src/engine/builder/passes/index';
import { recognizeActivations } from '../../../src/engine/builder/passes/recognize-activations';
import { recognizeGelu } from '../../../src/engine/builder/passes/recognize-gelu';
import { recognizeLayerNorm } from '../../../src/engine/builder/passes/recognize-layer-norm';
import { recognizeSoftmax } from '../../../src/engine/builder/passes/recognize-softmax';
import { Graph } from '../../../src/engine/ir/graph';
import { importOnnx } from '../../../src/engine/onnx/index';
import { GENERATED_MODELS, MODEL_TOLERANCE, PPOCR_MODELS } from '../../models/oracle';
import { assertSameOutputs, randomFeeds } from './graphs';

const RECOGNIZERS: Pass[] = [
  recognizeActivations,
  recognizeLayerNorm,
  recognizeSoftmax,
  recognizeGelu
];

/** The model with its one input fixed to `shape`, as a build with that shape sees it. */
function load(file: string, shape: number[]): Graph {
  const graph = importOnnx(new Uint8Array(readFileSync(file)), { source: file });
  const inputs = graph.inputs.map(input => ({ ...input, shape }));
  return withInferredTypes({ ...graph, inputs });
}

/** The graph after the recognizers (and the passes before them), and what they recognized. */
function recognize(graph: Graph): { graph: Graph; recognized: Record<string, number> } {
  const passes = [
    foldConstants,
    eliminateIdentities,
    foldBatchNormalization,
    ...RECOGNIZERS,
    eliminateDeadNodes
  ];
  const { graph: result, report } = runPasses(graph, passes);
  const recognized: Record<string, number> = {};
  for (const change of report.flatMap(r => r.changes)) {
    const opType = /^recognized (\w+)/.exec(change)?.[1];
    if (opType) {
      recognized[opType] = (recognized[opType] ?? 0) + 1;
    }
  }
  return { graph: result, recognized };
}

test("PP-OCR's classifier: its 18 spelled-out HardSwish become HardSwish ops", () => {
  const graph = load(`${PPOCR_MODELS}/ch_ppocr_mobile_v2.0_cls_infer.onnx`, [1, 3, 48, 96]);
  const { graph: result, recognized } = recognize(graph);
  assert.deepEqual(recognized, { HardSwish: 18 });
  assert.equal(result.nodes.filter(n => n.opType === 'HardSwish').length, 18);
  assertSameOutputs(graph, result, randomFeeds(graph, 21), MODEL_TOLERANCE);
});

test('the decomposed transformer (opset 13): 4 LayerNormalization and 2 Gelu recognized', () => {
  const graph = load(`${GENERATED_MODELS}/small_transformer_decomposed.onnx`, [2, 7, 64]);
  const { graph: result, recognized } = recognize(graph);
  assert.deepEqual(recognized, { LayerNormalization: 4, Gelu: 2 });
  assert.ok(!result.nodes.some(n => ['ReduceMean', 'Erf', 'Pow', 'Sqrt'].includes(n.opType)));
  assertSameOutputs(graph, result, randomFeeds(graph, 22), MODEL_TOLERANCE);
});
