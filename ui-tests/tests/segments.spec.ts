/**
 * TF-TRT's workflow in the notebook: cast_in_middle.onnx with Cast denied converts into two
 * engines around a CPU fallback; the summary, the partition graph and the sidebar show it.
 */
import { expect, test } from '@jupyterlab/galata';

import { outputOf, screenshotStep, startNewCell, uploadExampleModel, waitForCell } from './helpers';

/** Two small engines on SwiftShader: tens of seconds, more on a slow machine. */
const BUILD_TIMEOUT = 3 * 60_000;

test('convert cast_in_middle with Cast denied: the summary, the graph and the sidebar', async ({
  page,
  tmpPath
}, testInfo) => {
  test.setTimeout(6 * 60_000);
  await uploadExampleModel(page, tmpPath, 'cast_in_middle.onnx');
  await page.notebook.createNew('segments.ipynb');

  const cell = await startNewCell(
    page,
    0,
    '%trt convert cast_in_middle.onnx --shapes input:1x3x16x16 --deny-ops Cast'
  );
  await waitForCell(cell, BUILD_TIMEOUT);
  const summary = outputOf(cell).locator('.jp-webtrt-view.jp-webtrt-conversion');
  await expect(summary).toBeVisible();
  expect(await page.contents.fileExists(`${tmpPath}/cast_in_middle.wtrt`)).toBe(true);

  await test.step('the summary lists two engines and the fallback Cast', async () => {
    await expect(summary.locator('.jp-webtrt-headline')).toContainText('2 engines');
    await expect(summary.locator('table.jp-webtrt-engines-table tbody tr')).toHaveCount(2);
    const cast = summary.locator('table.jp-webtrt-unconverted-table tr[data-op="Cast"]');
    await expect(cast).toHaveAttribute('data-count', '2');
    await expect(cast).toContainText('Cast is in denyOps');
    await expect(summary.locator('.jp-webtrt-converted')).toContainText('of ops converted');
    await expect(summary.locator('table.jp-webtrt-caches-table tbody tr')).toHaveCount(2);
  });

  await test.step('the partition graph draws the fallback nodes', async () => {
    const fallback = summary.locator('.jp-webtrt-graph .jp-webtrt-node[data-segment^="fallback"]');
    await expect(fallback).toHaveCount(2);
    await expect(summary.locator('.jp-webtrt-legend')).toContainText('fallback');
    await screenshotStep(page, testInfo, 'trt-convert-segments', cell);
  });

  await test.step('the sidebar lists the segments and the engine caches', async () => {
    await page.sidebar.openTab('jp-webtrt-inspector');
    const inspector = page.locator('#jp-webtrt-inspector');
    await expect(inspector.locator('.jp-webtrt-inspector-engines')).toContainText(
      'cast_in_middle.wtrt'
    );
    const segments = inspector.locator('.jp-webtrt-inspector-segments li');
    await expect(segments).toHaveCount(3);
    await expect(segments.filter({ hasText: 'CPU fallback' })).toContainText('Cast is in denyOps');
    const caches = inspector.locator('.jp-webtrt-inspector-caches > li');
    await expect(caches).toHaveCount(2);
    await expect(caches.first()).toHaveAttribute('data-misses', '1');
    await expect(caches.first()).toContainText('input [1, 3, 16, 16]');
    await screenshotStep(page, testInfo, 'inspector-segments');
    await page.sidebar.openTab('filebrowser');
  });
});
