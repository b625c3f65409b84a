import { test } from 'node:test';
import { checkAgainstOnnxRuntime, PPOCR_MODELS } from './oracle';

// PaddleOCR's exports (paddle2onnx): opset 9 for the text-direction classifier, opset 11 for
// the detector. Input sizes are small for SwiftShader; the detector needs multiples of 32.

test('PP-OCR direction classifier (opset 9) agrees with ONNX Runtime', async () => {
  await checkAgainstOnnxRuntime({
    model: `${PPOCR_MODELS}/ch_ppocr_mobile_v2.0_cls_infer.onnx`,
    inputs: { x: [2, 3, 48, 192] },
    seed: 101
  });
});

test('PP-OCRv4 text detector (opset 11) agrees with ONNX Runtime', async () => {
  await checkAgainstOnnxRuntime({
    model: `${PPOCR_MODELS}/ch_PP-OCRv4_det_infer.onnx`,
    inputs: { x: [1, 3, 64, 64] },
    seed: 102
  });
});
