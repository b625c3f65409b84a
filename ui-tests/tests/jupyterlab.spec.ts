/**
 * JupyterLab starts with the extension in a browser that has WebGPU, and a notebook's Python
 * kernel runs next to it: what every other browser test stands on.
 */
import { expect, test } from '@jupyterlab/galata';

import { runCell, screenshotStep } from './helpers';

const EXTENSION = 'jupyterlab-webtrt';

test.describe('JupyterLab with webtrt', () => {
  // The page is opened in the test, after the console is listened to.
  test.use({ autoGoto: false });

  test('activates every plugin of the extension without errors', async ({ page }, testInfo) => {
    const problems: string[] = [];
    page.on('pageerror', error => problems.push(`page error: ${error.message}`));
    page.on('console', message => {
      if (message.type() === 'error' && message.text().includes(EXTENSION)) {
        problems.push(`console error: ${message.text()}`);
      }
    });

    await page.goto();

    const plugins = await page.evaluate(extension => {
      const app = window.jupyterapp;
      return app
        .listPlugins()
        .filter(id => id.startsWith(`${extension}:`))
        .map(id => ({ id, activated: app.isPluginActivated(id) }));
    }, EXTENSION);
    expect(plugins.map(plugin => plugin.id)).toContain(`${EXTENSION}:plugin`);
    expect(plugins.filter(plugin => !plugin.activated)).toEqual([]);
    expect(problems).toEqual([]);
    await screenshotStep(page, testInfo, 'jupyterlab-started');
  });

  test('the page gets a WebGPU adapter and device', async ({ page }, testInfo) => {
    await page.goto();
    const gpu = await page.evaluate(async () => {
      const adapter = await navigator.gpu?.requestAdapter();
      if (!adapter) {
        return null;
      }
      const device = await adapter.requestDevice();
      const description = { vendor: adapter.info.vendor, features: [...adapter.features] };
      device.destroy();
      return description;
    });
    expect(gpu).not.toBeNull();
    testInfo.annotations.push({ type: 'WebGPU adapter', description: JSON.stringify(gpu) });
  });
});

test('a Python cell runs in a notebook', async ({ page }, testInfo) => {
  await page.notebook.createNew('python.ipynb');
  const cell = await runCell(page, 0, 'import numpy; print(numpy.__version__)');
  await expect(cell.locator('.jp-OutputArea-output')).toHaveText(/^\d+\.\d+\.\d+/);
  await screenshotStep(page, testInfo, 'python-cell');
});
