/**
 * What a user gets wrong, and stopping long work: each leaves a readable error in its cell (the
 * message, no stack, no dialog) and a notebook whose next cells run.
 */
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import type { Locator } from '@playwright/test';

import { encodeModel, tensorInfo } from '../../tests/onnx/build';
import {
  listFolder,
  outputOf,
  runCell,
  screenshotStep,
  startNewCell,
  uploadExampleModel,
  waitForCell
} from './helpers';

/** The error output of a cell, as JupyterLab renders nbformat's `error` outputs. */
function errorOf(cell: Locator): Locator {
  return outputOf(cell).locator('[data-mime-type="application/vnd.jupyter.stderr"]');
}

/** The notebook still works: a Python cell and a `%trt` cell after the failed one both run. */
async function expectWorkingNotebook(page: IJupyterLabPageFixture, index: number): Promise<void> {
  const python = await runCell(page, index, "print('still working')");
  await expect(outputOf(python)).toHaveText('still working');
  const info = await runCell(page, index + 1, '%trt info');
  await expect(outputOf(info).locator('.jp-webtrt-view.jp-webtrt-device')).toBeVisible();
}

test('a bad path, a bad flag and models that do not build each leave a readable error', async ({
  page,
  tmpPath
}, testInfo) => {
  await uploadExampleModel(page, tmpPath, 'small_cnn.onnx');
  expect(
    await page.contents.uploadContent('this is not an ONNX model', 'text', `${tmpPath}/broken.onnx`)
  ).toBe(true);
  const unsupported = encodeModel({
    name: 'unsupported',
    node: [{ name: 'odd', opType: 'NoSuchOp', input: ['x'], output: ['y'] }],
    input: [tensorInfo('x', 'float32', [1, 3])],
    output: [tensorInfo('y', 'float32', [1, 3])]
  });
  expect(
    await page.contents.uploadContent(
      Buffer.from(unsupported).toString('base64'),
      'base64',
      `${tmpPath}/unsupported.onnx`
    )
  ).toBe(true);
  await page.notebook.createNew('errors.ipynb');

  const mistakes = [
    { name: 'missing-file', source: '%trt convert missing.onnx', names: 'missing.onnx' },
    {
      name: 'unknown-flag',
      source: '%trt convert small_cnn.onnx --shapes input:1x3x32x32 --no-such-flag',
      names: '--no-such-flag'
    },
    { name: 'not-a-model', source: '%trt convert broken.onnx', names: 'broken.onnx' },
    // small_cnn's batch dimension is symbolic: the builder needs the shape it is built for.
    { name: 'no-shapes', source: '%trt convert small_cnn.onnx', names: '--shapes' },
    { name: 'unsupported-op', source: '%trt convert unsupported.onnx', names: 'NoSuchOp' }
  ];
  for (const [index, mistake] of mistakes.entries()) {
    await test.step(mistake.name, async () => {
      const cell = await runCell(page, index, mistake.source);
      const error = errorOf(cell);
      await expect(error).toBeVisible();
      await expect(error).toContainText(mistake.names);
      // A message the user can act on, not a stack trace of webtrt's code.
      await expect(error).not.toContainText(/^\s+at /m);
      await expect(page.locator('.jp-Dialog')).toHaveCount(0);
      await screenshotStep(page, testInfo, `error-${mistake.name}`, cell);
    });
  }
  const written = await listFolder(page, tmpPath);
  expect(written).not.toContain('small_cnn.wtrt');
  expect(written).not.toContain('unsupported.wtrt');
  await expectWorkingNotebook(page, mistakes.length);
});

test.describe('interrupting', () => {
  // Galata's kernel tracking parses every kernel API reply as JSON and fails on the empty reply
  // to an interrupt; the sessions it still tracks shut the kernel down after the test.
  test.use({ kernels: null });

  test('the toolbar interrupt button stops a long %%trt convert', async ({
    page,
    tmpPath
  }, testInfo) => {
    await uploadExampleModel(page, tmpPath, 'small_cnn.onnx');
    await page.notebook.createNew('interrupt.ipynb');

    // Tuning every layer at batch 16 takes about a minute in Node on SwiftShader, longer here.
    const cell = await startNewCell(
      page,
      0,
      '%%trt convert\nmodel: small_cnn.onnx\noutput: interrupted.wtrt\nshapes:\n  input: 16x3x32x32'
    );
    await expect(outputOf(cell).locator('.jp-webtrt-progress')).toBeVisible({ timeout: 60_000 });
    await screenshotStep(page, testInfo, 'interrupt-progress', cell);
    expect(await page.notebook.clickToolbarItem('interrupt')).toBe(true);

    // The builder stops between layers: well before the build would have finished.
    await waitForCell(cell, 30_000);
    await expect(errorOf(cell)).toContainText('Interrupted');
    await expect(outputOf(cell).locator('.jp-webtrt-progress')).toHaveCount(0);
    expect(await listFolder(page, tmpPath)).not.toContain('interrupted.wtrt');
    await screenshotStep(page, testInfo, 'interrupted', cell);
    await expectWorkingNotebook(page, 1);
  });
});
