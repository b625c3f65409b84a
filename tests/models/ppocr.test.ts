import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Tensor } from '../../src/engine/ir/tensor';
import { importOnnx } from '../../src/engine/onnx/index';
import { convert } from '../../src/engine/runtime/converted';
import { errorStats } from '../helpers/compare';
import { testDevice, UNTUNED } from '../helpers/gpu';
import { runOnnxRuntime } from '../helpers/ort';
import { seededRandom } from '../helpers/random';
import {
  checkAgainstOnnxRuntime,
  checkEngineAgainstOnnxRuntime,
  MODEL_TOLERANCE,
  PPOCR_MODELS
} from './oracle';

// PaddleOCR's exports (paddle2onnx): opset 9 for the text-direction classifier, opset 11 for
// the detector. Input sizes are small for SwiftShader; the detector needs multiples of 32.

test('PP-OCR direction classifier (opset 9) agrees with ONNX Runtime', async () => {
  await checkAgainstOnnxRuntime({
    model: `${PPOCR_MODELS}/ch_ppocr_mobile_v2.0_cls_infer.onnx`,
    inputs: { x: [2, 3, 48, 192] },
    seed: 101
  });
});

test('PP-OCR direction classifier: the FP32 engine agrees with ONNX Runtime in at most half as many layers as nodes', async () => {
  await checkEngineAgainstOnnxRuntime(
    {
      model: `${PPOCR_MODELS}/ch_ppocr_mobile_v2.0_cls_infer.onnx`,
      inputs: { x: [2, 3, 48, 192] },
      seed: 101
    },
    0.5
  );
});

test('PP-OCRv4 text detector (opset 11) agrees with ONNX Runtime', async () => {
  // On noise the detector finds no text and its map stays below 1e-4, where ONNX Runtime's
  // fast Sigmoid is off by ~1% of the map's maximum: relative error would measure ONNX
  // Runtime, not us. On this page of strokes the map spans 0 to 1.
  await checkAgainstOnnxRuntime({
    model: `${PPOCR_MODELS}/ch_PP-OCRv4_det_infer.onnx`,
    inputs: { x: textLikeImage(64, 64, 102) },
    seed: 102
  });
});

test('PP-OCRv4 text detector with Resize denied: engines around the fallback Resizes agree with ONNX Runtime', async () => {
  const model = `${PPOCR_MODELS}/ch_PP-OCRv4_det_infer.onnx`;
  const bytes = new Uint8Array(readFileSync(model));
  const converted = convert(
    importOnnx(bytes, { source: model }),
    { ...UNTUNED, precision: 'fp32', denyOps: ['Resize'] },
    await testDevice()
  );
  try {
    const fallback = converted.segments.filter(s => s.kind === 'fallback');
    const resizes = fallback.flatMap(s => s.nodes).filter(node => node.opType === 'Resize');
    assert.equal(resizes.length, 6);
    assert.ok(converted.engineSegments.length >= 2);
    const x = textLikeImage(64, 64, 103);
    const expected = await runOnnxRuntime(bytes, { x });
    const actual = await converted.run({ x });
    const name = Object.keys(expected)[0];
    const { maxRel } = errorStats(actual[name], expected[name]);
    console.log(
      `${model} with Resize denied: ${converted.engineSegments.length} engines, ` +
        `${fallback.length} fallback segments; relative error ${maxRel.toExponential(2)}`
    );
    assert.ok(maxRel <= MODEL_TOLERANCE, `relative error ${maxRel} exceeds ${MODEL_TOLERANCE}`);
  } finally {
    converted.destroy();
  }
});

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];

/**
 * Two rows of dark glyph-like strokes on a white page with a little noise, normalized as
 * PaddleOCR's detector expects: a [1, 3, height, width] tensor.
 */
function textLikeImage(height: number, width: number, seed: number): Tensor {
  const next = seededRandom(seed);
  const ink = (y: number, x: number) =>
    [height / 4, height / 2 + 4].some(top => {
      const dy = y - Math.floor(top);
      const dx = (x - 6) % 7;
      const inLine = dy >= 0 && dy < 10 && x >= 6 && x < width - 6;
      return inLine && (dx < 2 || (dy >= 4 && dy < 6 && dx < 5));
    });
  const plane = height * width;
  const values = new Float32Array(3 * plane);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const brightness = ink(y, x) ? 0 : 1;
      for (let channel = 0; channel < 3; channel++) {
        const noise = (next() - 0.5) * 0.1;
        values[channel * plane + y * width + x] =
          (brightness - IMAGENET_MEAN[channel]) / IMAGENET_STD[channel] + noise;
      }
    }
  }
  return new Tensor('float32', [1, 3, height, width], values);
}
