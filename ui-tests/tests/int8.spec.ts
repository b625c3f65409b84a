/**
 * INT8 in the notebook beside small_cnn.onnx, as TensorRT's tutorials take it: a Python cell
 * saves calibration batches, %trt calibrate writes the calibration cache and shows each
 * tensor's scale, %trt convert --precision int8 --calib builds an engine with INT8 layers, and
 * %trt bench times INT8 beside native, FP32 and FP16.
 */
import { expect, test } from '@jupyterlab/galata';

import {
  outputOf,
  readTextFile,
  runCell,
  screenshotStep,
  startNewCell,
  uploadExampleModel,
  waitForCell
} from './helpers';

/** Calibration and each build of small_cnn on SwiftShader: tens of seconds, more when slow. */
const WORK_TIMEOUT = 3 * 60_000;
const BATCHES = 4;

test('calibrate small_cnn, convert it to INT8 and bench it beside FP32', async ({
  page,
  tmpPath
}, testInfo) => {
  test.setTimeout(15 * 60_000);
  await uploadExampleModel(page, tmpPath, 'small_cnn.onnx');
  await page.notebook.createNew('int8.ipynb');
  let cells = 0;
  const nextCell = () => cells++;

  await test.step('a Python cell saves the calibration batches', async () => {
    const cell = await runCell(
      page,
      nextCell(),
      'import os, numpy\n' +
        "os.makedirs('calib', exist_ok=True)\n" +
        'rng = numpy.random.default_rng(0)\n' +
        // One line: the cell editor indents the line after a block as the block.
        `for i in range(${BATCHES}): numpy.save(f'calib/batch{i}.npy', rng.random((2, 3, 32, 32), dtype=numpy.float32))\n` +
        "print(sorted(os.listdir('calib')))",
      { timeout: WORK_TIMEOUT }
    );
    await expect(outputOf(cell)).toContainText("'batch3.npy'");
  });

  let tensors = 0;
  await test.step('%trt calibrate shows progress, then each tensor, and writes the cache', async () => {
    const cell = await startNewCell(
      page,
      nextCell(),
      '%trt calibrate small_cnn.onnx --data calib/ --calibrator entropy -o small_cnn.calib'
    );
    await expect(outputOf(cell).locator('.jp-webtrt-progress')).toBeVisible({
      timeout: WORK_TIMEOUT
    });
    await waitForCell(cell, WORK_TIMEOUT);
    const view = outputOf(cell).locator('.jp-webtrt-view.jp-webtrt-calibration');
    await expect(view).toBeVisible();
    await expect(view.locator('.jp-webtrt-headline')).toContainText('entropy');
    await expect(view).toContainText('small_cnn.calib');
    const rows = view.locator('table.jp-webtrt-calibration-table tbody tr');
    tensors = await rows.count();
    expect(tensors).toBeGreaterThan(0);
    await expect(rows.first()).toHaveAttribute('data-tensor', 'input');

    // TensorRT's format: the header, then a line per tensor the view lists.
    const cache = await readTextFile(page, `${tmpPath}/small_cnn.calib`);
    const lines = cache.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TRT-\d+-EntropyCalibration2$/);
    expect(lines).toHaveLength(tensors + 1);
    expect(lines[1]).toMatch(/^input: [0-9a-f]{1,8}$/);
    await screenshotStep(page, testInfo, 'trt-calibrate', cell);
  });

  await test.step('%trt convert --precision int8 --calib builds INT8 layers', async () => {
    const cell = await runCell(
      page,
      nextCell(),
      '%trt convert small_cnn.onnx --shapes input:1x3x32x32 --precision int8 --calib small_cnn.calib -o small_cnn_int8.wtrt',
      { timeout: WORK_TIMEOUT }
    );
    const summary = outputOf(cell).locator('.jp-webtrt-view.jp-webtrt-engine');
    await expect(summary).toBeVisible();
    await expect(summary.locator('.jp-webtrt-headline')).toContainText('int8');
    const int8Layers = summary.locator(
      'table.jp-webtrt-layers-table tbody tr[data-precision="int8"]'
    );
    expect(await int8Layers.count()).toBeGreaterThan(0);
    await expect(int8Layers.first()).toContainText(/Int8(Conv|MatMul)/);
    expect(await page.contents.fileExists(`${tmpPath}/small_cnn_int8.wtrt`)).toBe(true);
    await screenshotStep(page, testInfo, 'trt-convert-int8', cell);
  });

  await test.step('%trt bench gives the full table: native, FP32, FP16 and INT8', async () => {
    const cell = await runCell(
      page,
      nextCell(),
      '%trt bench small_cnn.onnx --precision native,fp32,fp16,int8 --calib small_cnn.calib --iterations 5',
      { timeout: 2 * WORK_TIMEOUT }
    );
    const view = outputOf(cell).locator('.jp-webtrt-view.jp-webtrt-bench');
    await expect(view).toBeVisible();
    for (const mode of ['native', 'fp32', 'int8']) {
      const row = view.locator(`table.jp-webtrt-bench-table tbody tr[data-mode="${mode}"]`);
      await expect(row, `the ${mode} row`).toHaveCount(1);
    }
    // FP16 needs shader-f16, which a software adapter may lack: then it is listed as skipped.
    const fp16 =
      (await view.locator('tr[data-mode="fp16"]').count()) +
      (await view.locator('.jp-webtrt-skipped li[data-mode="fp16"]').count());
    expect(fp16).toBe(1);
    await expect(view.locator('.jp-webtrt-skipped li[data-mode="int8"]')).toHaveCount(0);
    await screenshotStep(page, testInfo, 'trt-bench-int8', cell);
  });
});
