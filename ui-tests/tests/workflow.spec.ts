/**
 * The tutorials' workflow in one notebook beside small_cnn.onnx: look at the GPU, convert the
 * model to an engine, run it on an input a Python cell wrote, profile and benchmark it, find it
 * in the sidebar, then save, reload and reopen the notebook and see every view again.
 */
import { expect, test } from '@jupyterlab/galata';

import {
  listFolder,
  outputOf,
  readNotebook,
  readTextFile,
  runCell,
  screenshotStep,
  startNewCell,
  uploadExampleModel,
  waitForCell
} from './helpers';

const NOTEBOOK = 'workflow.ipynb';

/** A build of small_cnn on SwiftShader: tens of seconds, more on a slow machine. */
const BUILD_TIMEOUT = 3 * 60_000;

// Galata's page is ready when a Launcher tab is active, but the workspace restored on reload
// may have none: JupyterLab is ready once it has restored its layout (the file browser's folder
// included).
test.use({
  waitForApplication: async ({}, use) => {
    await use(async page => {
      await page.locator('#jupyterlab-splash').waitFor({ state: 'detached' });
      await page.evaluate(() => window.jupyterapp.restored);
    });
  }
});

test('convert, run, profile and bench small_cnn, then reopen the saved notebook', async ({
  page,
  tmpPath
}, testInfo) => {
  test.setTimeout(12 * 60_000);
  await uploadExampleModel(page, tmpPath, 'small_cnn.onnx');
  await page.notebook.createNew(NOTEBOOK);
  // Each step adds its cells after those of the steps before.
  let cells = 0;
  const nextCell = () => cells++;

  await test.step('%trt info shows the adapter and its capabilities', async () => {
    const cell = await runCell(page, nextCell(), '%trt info');
    const view = outputOf(cell).locator('.jp-webtrt-view.jp-webtrt-device');
    await expect(view).toBeVisible();
    await expect(view.locator('.jp-webtrt-capability')).not.toHaveCount(0);
    await screenshotStep(page, testInfo, 'trt-info', cell);
  });

  await test.step('%trt convert shows progress, then the build summary, and writes the plan', async () => {
    const cell = await startNewCell(
      page,
      nextCell(),
      '%trt convert small_cnn.onnx --shapes input:1x3x32x32'
    );
    await expect(outputOf(cell).locator('.jp-webtrt-progress')).toBeVisible({
      timeout: BUILD_TIMEOUT
    });
    await screenshotStep(page, testInfo, 'trt-convert-progress', cell);
    await waitForCell(cell, BUILD_TIMEOUT);
    const summary = outputOf(cell).locator('.jp-webtrt-view.jp-webtrt-engine');
    await expect(summary).toBeVisible();
    await expect(outputOf(cell).locator('.jp-webtrt-progress')).toHaveCount(0);
    await expect(summary.locator('.jp-webtrt-headline')).toContainText('small_cnn.onnx');
    // The headline's layer count is the layer table's.
    const headline = await summary.locator('.jp-webtrt-headline').textContent();
    const layerCount = Number(/(\d+) layers?/.exec(headline ?? '')?.[1]);
    expect(layerCount).toBeGreaterThan(0);
    await expect(summary.locator('table.jp-webtrt-layers-table tbody tr')).toHaveCount(layerCount);
    expect(await page.contents.fileExists(`${tmpPath}/small_cnn.wtrt`)).toBe(true);
    await screenshotStep(page, testInfo, 'trt-convert', cell);
  });

  await test.step('%trt inspect draws the partition graph, which pans and zooms', async () => {
    const cell = await runCell(page, nextCell(), '%trt inspect small_cnn.onnx');
    const graph = outputOf(cell).locator('.jp-webtrt-view.jp-webtrt-model svg.jp-webtrt-graph');
    await expect(graph).toBeVisible();
    await expect(graph.locator('.jp-webtrt-nodes > *')).not.toHaveCount(0);
    const viewport = graph.locator('.jp-webtrt-viewport');
    const fitted = await viewport.getAttribute('transform');
    await graph.hover();
    await page.mouse.wheel(0, -300);
    await expect(viewport).not.toHaveAttribute('transform', fitted ?? '');
    await outputOf(cell).locator('.jp-webtrt-zoom-reset').first().click();
    await expect(viewport).toHaveAttribute('transform', fitted ?? '');
    await screenshotStep(page, testInfo, 'trt-inspect', cell);
  });

  await test.step('%trt run reads the input a Python cell saved and writes an output it loads', async () => {
    await runCell(
      page,
      nextCell(),
      'import numpy\n' +
        "numpy.save('x.npy', numpy.random.default_rng(0).random((1, 3, 32, 32), dtype=numpy.float32))"
    );
    const cell = await runCell(
      page,
      nextCell(),
      '%trt run small_cnn.wtrt --input input=x.npy -o y.npy',
      {
        timeout: BUILD_TIMEOUT
      }
    );
    const view = outputOf(cell).locator('.jp-webtrt-view.jp-webtrt-run');
    await expect(view).toBeVisible();
    await expect(view.locator('table.jp-webtrt-inputs-table')).toContainText('x.npy');
    const logits = view.locator('.jp-webtrt-output[data-name="logits"]');
    await expect(logits.locator('.jp-webtrt-output-title')).toContainText('[1, 10]');
    await expect(logits.locator('.jp-webtrt-output-title')).toContainText('y.npy');
    // A classifier's output: its top-k classes are listed.
    await expect(logits.locator('.jp-webtrt-topk')).toBeVisible();
    await screenshotStep(page, testInfo, 'trt-run', cell);

    const python = await runCell(
      page,
      nextCell(),
      "y = numpy.load('y.npy')\nprint(y.shape, y.dtype, bool(numpy.isfinite(y).all()))"
    );
    await expect(outputOf(python)).toHaveText('(1, 10) float32 True');
  });

  await test.step('%trt profile shows the timeline and saves a Chrome trace', async () => {
    const before = await listFolder(page, tmpPath);
    const cell = await runCell(page, nextCell(), '%trt profile small_cnn.wtrt', {
      timeout: BUILD_TIMEOUT
    });
    const view = outputOf(cell).locator('.jp-webtrt-view.jp-webtrt-profile');
    await expect(view.locator('svg.jp-webtrt-timeline')).toBeVisible();
    await expect(view.locator('.jp-webtrt-lane').first()).toBeVisible();
    await screenshotStep(page, testInfo, 'trt-profile', cell);

    const traces = (await listFolder(page, tmpPath)).filter(
      name => name.endsWith('.json') && !before.includes(name)
    );
    expect(traces).toHaveLength(1);
    const trace = JSON.parse(await readTextFile(page, `${tmpPath}/${traces[0]}`)) as {
      traceEvents?: { ph: string; name: string; dur?: number }[];
    };
    // Chrome's trace format: one complete event ('X') per layer run, with its duration.
    const layerEvents = (trace.traceEvents ?? []).filter(event => event.ph === 'X');
    expect(layerEvents.length).toBeGreaterThan(0);
    expect(layerEvents.every(event => typeof event.dur === 'number')).toBe(true);
  });

  await test.step('%trt bench shows the table and the throughput chart', async () => {
    const cell = await runCell(
      page,
      nextCell(),
      '%trt bench small_cnn.onnx --batch 1 --precision fp32 --iterations 10',
      { timeout: BUILD_TIMEOUT }
    );
    const view = outputOf(cell).locator('.jp-webtrt-view.jp-webtrt-bench');
    await expect(view.locator('table.jp-webtrt-bench-table tbody tr')).toHaveCount(1);
    await expect(view.locator('svg.jp-webtrt-bench-chart')).toBeVisible();
    await screenshotStep(page, testInfo, 'trt-bench', cell);
  });

  await test.step('the sidebar inspector lists the engine', async () => {
    await page.sidebar.openTab('jp-webtrt-inspector');
    const inspector = page.locator('#jp-webtrt-inspector');
    await expect(inspector).toBeVisible();
    await expect(inspector.locator('.jp-webtrt-inspector-engines')).toContainText('small_cnn');
    await screenshotStep(page, testInfo, 'inspector');
    await page.sidebar.openTab('filebrowser');
  });

  // The report kinds the %trt cells' outputs carry, as saved.
  const savedKinds: string[] = [];

  await test.step('the saved notebook keeps each view with a text/plain form', async () => {
    expect(await page.notebook.save()).toBe(true);
    const saved = await readNotebook(page, `${tmpPath}/${NOTEBOOK}`);
    const trtOutputs = saved.cells
      .filter(cell => String(cell.source).startsWith('%trt'))
      .flatMap(cell => (cell.outputs ?? []) as { output_type: string; data?: object }[]);
    for (const output of trtOutputs) {
      expect(output.output_type).toBe('display_data');
      const mimeTypes = Object.keys(output.data ?? {});
      expect(mimeTypes).toContain('text/plain');
      const reports = mimeTypes.flatMap(
        type => /^application\/vnd\.webtrt\.(\w+)\+json$/.exec(type)?.[1] ?? []
      );
      expect(reports).toHaveLength(1);
      savedKinds.push(...reports);
    }
    expect(savedKinds.sort()).toEqual(['bench', 'device', 'engine', 'model', 'profile', 'run']);
  });

  await test.step('reloading the page and reopening the notebook shows the views again', async () => {
    expect(await page.notebook.close()).toBe(true);
    await page.reload();
    // Opened by JupyterLab's own command: Galata's openByPath goes through the file browser,
    // whose restored folder and panel after a reload vary from run to run.
    await page.evaluate(async path => {
      await window.jupyterapp.commands.execute('docmanager:open', { path });
    }, `${tmpPath}/${NOTEBOOK}`);
    await expect(page.getByRole('main').getByRole('tab', { name: NOTEBOOK })).toBeVisible();
    const notebook = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden)');
    for (const kind of savedKinds) {
      await expect(notebook.locator(`.jp-webtrt-view.jp-webtrt-${kind}`)).toHaveCount(1);
    }
    await screenshotStep(page, testInfo, 'reopened');
  });
});
