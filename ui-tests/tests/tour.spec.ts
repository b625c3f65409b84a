/**
 * The bundled tour (examples/tour.ipynb), the README's main job: every cell runs top to bottom,
 * beside the bundled model as in examples/, and none ends in an error.
 */
import * as path from 'node:path';

import { expect, test } from '@jupyterlab/galata';

import { readNotebook, waitForCell } from './helpers';

const examples = path.resolve(__dirname, '..', '..', 'examples');

test('the tour notebook runs top to bottom without an error', async ({ page, tmpPath }) => {
  test.setTimeout(15 * 60_000);
  for (const file of ['tour.ipynb', 'models/small_cnn.onnx', 'models/cast_in_middle.onnx']) {
    expect(await page.contents.uploadFile(path.join(examples, file), `${tmpPath}/${file}`)).toBe(
      true
    );
  }
  expect(await page.notebook.openByPath(`${tmpPath}/tour.ipynb`)).toBe(true);
  await page.notebook.activate('tour.ipynb');
  await page.menu.clickMenuItem('Run>Run All Cells');

  const codeCells = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell');
  const count = await codeCells.count();
  expect(count).toBeGreaterThan(8);
  for (let i = 0; i < count; i++) {
    await waitForCell(codeCells.nth(i), 5 * 60_000);
  }
  await expect(
    page.locator(
      '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
    )
  ).toHaveCount(0);

  expect(await page.notebook.save()).toBe(true);
  const saved = await readNotebook(page, `${tmpPath}/tour.ipynb`);
  const code = saved.cells.filter(cell => cell.cell_type === 'code');
  const errors = code.flatMap(cell =>
    ((cell.outputs ?? []) as { output_type: string; evalue?: string }[])
      .filter(output => output.output_type === 'error')
      .map(output => `${String(cell.source).split('\n')[0]}: ${output.evalue}`)
  );
  expect(errors).toEqual([]);
  const kinds = code.flatMap(cell =>
    ((cell.outputs ?? []) as { data?: object }[]).flatMap(output =>
      Object.keys(output.data ?? {}).flatMap(
        type => /^application\/vnd\.webtrt\.(\w+)\+json$/.exec(type)?.[1] ?? []
      )
    )
  );
  expect(new Set(kinds)).toEqual(
    new Set([
      'device',
      'model',
      'engine',
      'conversion',
      'run',
      'bench',
      'profile',
      'calibration',
      'accuracy'
    ])
  );
  const python = code.find(cell => String(cell.source).includes('np.load'));
  expect(JSON.stringify(python?.outputs)).toContain('(1, 10)');
  // The next test starts from this page's saved layout: leave no notebook of a folder that
  // is about to be deleted open in it.
  expect(await page.notebook.close()).toBe(true);
});
