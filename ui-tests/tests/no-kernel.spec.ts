/**
 * `%trt` cells run in the browser: a notebook with no kernel at all runs them too.
 */
import { expect, test } from '@jupyterlab/galata';

import { outputOf, runCell, screenshotStep } from './helpers';

test('%trt info runs in a notebook with no kernel', async ({ page }, testInfo) => {
  await page.notebook.createNew('no-kernel.ipynb', { kernel: null });
  await expect(page.locator('.jp-NotebookPanel-toolbar')).toContainText('No Kernel');

  const cell = await runCell(page, 0, '%trt info');
  await expect(outputOf(cell).locator('.jp-webtrt-view.jp-webtrt-device')).toBeVisible();
  await expect(cell.locator('.jp-InputArea-prompt')).toHaveText('[1]:');
  await screenshotStep(page, testInfo, 'no-kernel', cell);

  const help = await runCell(page, 1, '%trt help');
  for (const command of ['info', 'convert', 'run', 'bench', 'profile', 'inspect']) {
    await expect(outputOf(help)).toContainText(new RegExp(`^\\s+${command}\\s`, 'm'));
  }
  const convertHelp = await runCell(page, 2, '%trt convert --help');
  await expect(outputOf(convertHelp)).toContainText('usage: %trt convert');
});
