import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { build } from '../../src/engine/builder/build';
import { Tensor } from '../../src/engine/ir/tensor';
import { importOnnx } from '../../src/engine/onnx/index';
import { errorStats } from '../helpers/compare';
import { UNTUNED, testDevice } from '../helpers/gpu';
import { runOnnxRuntime } from '../helpers/ort';
import { randomTensor } from '../helpers/random';
import { GENERATED_MODELS, PPOCR_MODELS } from './oracle';

/** Whole-model agreement asked of FP16 engines, relative to the output's largest magnitude. */
const FP16_MODEL_TOLERANCE = 1e-2;

interface Fp16Case {
  model: string;
  input: string;
  shape: number[];
  seed: number;
  /** The output holds class scores along its last axis: the top class must agree. */
  classes?: boolean;
}

/** The index of the largest element of each row of the last axis. */
function top1(scores: Tensor): number[] {
  const values = scores.toNumbers();
  const width = scores.shape[scores.shape.length - 1];
  return Array.from({ length: values.length / width }, (_, row) => {
    const slice = values.slice(row * width, (row + 1) * width);
    return slice.indexOf(Math.max(...slice));
  });
}

/**
 * Builds the model's FP16 engine and checks it against ONNX Runtime (FP32 on the CPU):
 * every output within FP16_MODEL_TOLERANCE and, for classifiers, the same top class; the
 * layer info gives every layer its precision, and most of the work runs in FP16.
 */
async function checkFp16Engine(c: Fp16Case): Promise<void> {
  const bytes = new Uint8Array(readFileSync(c.model));
  const graph = importOnnx(bytes, { source: c.model });
  const feeds = { [c.input]: randomTensor(c.shape, { seed: c.seed }) };
  const expected = await runOnnxRuntime(bytes, feeds);
  const device = await testDevice();
  const engine = await build(
    graph,
    { ...UNTUNED, precision: 'fp16', shapes: { [c.input]: c.shape } },
    device
  );
  try {
    const actual = await engine.createContext().execute(feeds);
    const half = engine.layers.filter(layer => layer.precision === 'fp16');
    const reformats = engine.layers.filter(layer => / reformat to float(16|32)$/.test(layer.name));
    console.log(
      `${c.model}: ${engine.layers.length} layers, ${half.length} in fp16, ` +
        `${reformats.length} reformats; storage ${device.features.has('shader-f16') ? 'f16' : 'f32 (no shader-f16)'}`
    );
    assert.ok(engine.layers.every(layer => ['fp16', 'fp32'].includes(layer.precision)));
    assert.ok(half.length > 0, 'no layer runs in fp16');
    for (const { name } of graph.outputs) {
      assert.equal(actual[name].dtype, expected[name].dtype, `${name}: dtype`);
      const { maxAbs, maxRel } = errorStats(actual[name], expected[name]);
      console.log(
        `  ${name}: max abs error ${maxAbs.toExponential(2)}, relative ${maxRel.toExponential(2)}`
      );
      assert.ok(
        maxRel <= FP16_MODEL_TOLERANCE,
        `${name}: relative error ${maxRel} exceeds ${FP16_MODEL_TOLERANCE}`
      );
      if (c.classes) {
        assert.deepEqual(top1(actual[name]), top1(expected[name]), `${name}: top-1`);
      }
    }
  } finally {
    engine.destroy();
  }
}

test('PP-OCR direction classifier: the FP16 engine agrees with ONNX Runtime, same top-1', async () => {
  await checkFp16Engine({
    model: `${PPOCR_MODELS}/ch_ppocr_mobile_v2.0_cls_infer.onnx`,
    input: 'x',
    shape: [2, 3, 48, 192],
    seed: 301,
    classes: true
  });
});

test('small CNN: the FP16 engine agrees with ONNX Runtime, same top-1', async () => {
  await checkFp16Engine({
    model: `${GENERATED_MODELS}/small_cnn.onnx`,
    input: 'input',
    shape: [2, 3, 32, 32],
    seed: 302,
    classes: true
  });
});

test('transformer encoder: the FP16 engine agrees with ONNX Runtime', async () => {
  await checkFp16Engine({
    model: `${GENERATED_MODELS}/small_transformer.onnx`,
    input: 'x',
    shape: [2, 7, 64],
    seed: 303
  });
});
