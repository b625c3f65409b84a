import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { build } from '../../src/engine/builder/build';
import { Tensor } from '../../src/engine/ir/tensor';
import { parseNpy } from '../../src/engine/io/npy';
import { importOnnx } from '../../src/engine/onnx/index';
import { calibrate } from '../../src/engine/quant/calibrate';
import { int8Scale } from '../../src/engine/quant/calibrators';
import { testDevice, UNTUNED } from '../helpers/gpu';
import { PPOCR_MODELS } from './oracle';

const MODEL = `${PPOCR_MODELS}/ch_ppocr_mobile_v2.0_cls_infer.onnx`;
const BATCH = 16;

/**
 * Rendered text lines (scripts/data/text_lines.py --fixture), grey [N, 48, 192] uint8 with 0
 * for the padding, as the classifier's input: [N, 3, 48, 192] scaled to [-1, 1], padding 0.
 */
function textLines(name: string): Tensor[] {
  const path = `tests/fixtures/text-lines-${name}.npy`;
  const grey = parseNpy(new Uint8Array(readFileSync(path)), path);
  const [count, height, width] = grey.shape;
  const pixels = grey.toNumbers();
  const batches: Tensor[] = [];
  for (let start = 0; start < count; start += BATCH) {
    const data = new Float32Array(BATCH * 3 * height * width);
    for (let image = 0; image < BATCH; image++) {
      for (let channel = 0; channel < 3; channel++) {
        for (let i = 0; i < height * width; i++) {
          const pixel = pixels[(start + image) * height * width + i];
          data[(image * 3 + channel) * height * width + i] = pixel === 0 ? 0 : pixel / 127.5 - 1;
        }
      }
    }
    batches.push(new Tensor('float32', [BATCH, 3, height, width], data));
  }
  return batches;
}

function argmaxRows(scores: Tensor): number[] {
  const [rows, classes] = scores.shape;
  const values = scores.toNumbers();
  return Array.from({ length: rows }, (_, row) => {
    let best = 0;
    for (let c = 1; c < classes; c++) {
      best = values[row * classes + c] > values[row * classes + best] ? c : best;
    }
    return best;
  });
}

test('PP-OCR direction classifier in INT8, calibrated on rendered text lines, agrees with FP32 on >= 99% of other lines', async () => {
  const device = await testDevice();
  const graph = importOnnx(new Uint8Array(readFileSync(MODEL)), { source: MODEL });
  const calibration = await calibrate(
    graph,
    textLines('calibration').map(x => ({ x })),
    device,
    { calibrator: { kind: 'entropy' } }
  );
  const int8Scales = Object.fromEntries(
    [...calibration.amax].map(([name, amax]) => [name, int8Scale(amax)])
  );
  const shapes = { x: [BATCH, 3, 48, 192] };
  const fp32 = await build(graph, { ...UNTUNED, precision: 'fp32', shapes }, device);
  const int8 = await build(graph, { ...UNTUNED, precision: 'int8', shapes, int8Scales }, device);
  try {
    const int8Layers = int8.layers.filter(layer => layer.precision === 'int8');
    assert.ok(
      int8Layers.length >= 10,
      `only ${int8Layers.length} INT8 layers: ${int8Layers.map(l => l.name).join(', ')}`
    );
    const [fp32Context, int8Context] = [fp32.createContext(), int8.createContext()];
    let agreeing = 0;
    let total = 0;
    for (const x of textLines('evaluation')) {
      const [expected, actual] = await Promise.all([
        fp32Context.execute({ x }),
        int8Context.execute({ x })
      ]);
      const name = graph.outputs[0].name;
      const [want, got] = [argmaxRows(expected[name]), argmaxRows(actual[name])];
      agreeing += want.filter((label, i) => label === got[i]).length;
      total += want.length;
    }
    assert.equal(total, 128);
    assert.ok(agreeing / total >= 0.99, `INT8 top-1 agrees on ${agreeing} of ${total} lines`);
  } finally {
    fp32.destroy();
    int8.destroy();
  }
});
