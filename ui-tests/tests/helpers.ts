import { copyFile, mkdir } from 'node:fs/promises';
import * as path from 'node:path';

import { expect, IJupyterLabPageFixture } from '@jupyterlab/galata';
import type { INotebookContent } from '@jupyterlab/nbformat';
import type { Locator, TestInfo } from '@playwright/test';

const repositoryRoot = path.resolve(__dirname, '..', '..');

/** Where the README tour's screenshots live; refreshed by a run with UPDATE_SCREENSHOTS=1. */
const tourImages = path.join(repositoryRoot, 'docs', 'images');

/** Copies a bundled example model into the test's folder on the server, beside its notebooks. */
export async function uploadExampleModel(
  page: IJupyterLabPageFixture,
  tmpPath: string,
  name: string
): Promise<void> {
  const source = path.join(repositoryRoot, 'examples', 'models', name);
  expect(await page.contents.uploadFile(source, `${tmpPath}/${name}`)).toBe(true);
}

/** The names in a folder on the server. */
export async function listFolder(page: IJupyterLabPageFixture, folder: string): Promise<string[]> {
  const listing = await page.contents.getContentMetadata(folder, 'directory');
  expect(listing, `the folder ${folder}`).not.toBeNull();
  return (listing?.content as { name: string }[]).map(entry => entry.name);
}

/** A file on the server, through JupyterLab's contents API: text, or a notebook's JSON. */
async function readContents(page: IJupyterLabPageFixture, path: string, type: 'file' | 'notebook') {
  const query = type === 'file' ? 'type=file&format=text&content=1' : 'type=notebook&content=1';
  const response = await page.request.get(`/api/contents/${encodeURI(path)}?${query}`);
  expect(response.ok(), `reading ${path} through the contents API`).toBe(true);
  return ((await response.json()) as { content: unknown }).content;
}

export async function readTextFile(page: IJupyterLabPageFixture, path: string): Promise<string> {
  return (await readContents(page, path, 'file')) as string;
}

export async function readNotebook(
  page: IJupyterLabPageFixture,
  path: string
): Promise<INotebookContent> {
  return (await readContents(page, path, 'notebook')) as INotebookContent;
}

/**
 * Keeps a screenshot of one step of a test (of the whole page, or of `target`) among the test's
 * artifacts, and under docs/images/ when UPDATE_SCREENSHOTS=1.
 */
export async function screenshotStep(
  page: IJupyterLabPageFixture,
  testInfo: TestInfo,
  name: string,
  target?: Locator
): Promise<void> {
  const file = testInfo.outputPath(`${name}.png`);
  if (target) {
    await screenshotWhole(page, target, file);
  } else {
    await page.screenshot({ path: file });
  }
  await testInfo.attach(name, { path: file, contentType: 'image/png' });
  if (process.env.UPDATE_SCREENSHOTS === '1') {
    await mkdir(tourImages, { recursive: true });
    await copyFile(file, path.join(tourImages, `${name}.png`));
  }
}

/** Screenshots beyond this height are cut: a view that tall is no picture for a tour anyway. */
const TALLEST_SCREENSHOT = 2400;

/**
 * Screenshots an element whole. The notebook scrolls inside the page, so an element taller than
 * the viewport would be cut off: the viewport grows to fit it for the screenshot.
 */
async function screenshotWhole(
  page: IJupyterLabPageFixture,
  target: Locator,
  file: string
): Promise<void> {
  const viewport = page.viewportSize();
  const box = await target.boundingBox();
  // Room for JupyterLab's menu, toolbar and status bar around the notebook.
  const needed = Math.min(Math.ceil((box?.height ?? 0) + 200), TALLEST_SCREENSHOT);
  const grow = viewport !== null && needed > viewport.height;
  if (grow) {
    await page.setViewportSize({ width: viewport.width, height: needed });
  }
  try {
    await target.screenshot({ path: file });
  } finally {
    if (grow) {
      await page.setViewportSize(viewport);
    }
  }
}

/**
 * Writes `source` into cell `index` of the active notebook (a new cell when `index` is the cell
 * count), runs it and waits until it has an execution count. Galata's own runCell waits for the
 * kernel to be idle, which says nothing about `%trt` cells: they run in the browser, with or
 * without a kernel. Returns the cell.
 */
export async function runCell(
  page: IJupyterLabPageFixture,
  index: number,
  source: string,
  { timeout = 60_000 }: { timeout?: number } = {}
): Promise<Locator> {
  const cell = await writeCell(page, index, source);
  await startCell(page, index);
  await waitForCell(cell, timeout);
  return cell;
}

/** Like runCell, but returns as soon as the cell is queued, for tests that act while it runs. */
export async function startNewCell(
  page: IJupyterLabPageFixture,
  index: number,
  source: string
): Promise<Locator> {
  const cell = await writeCell(page, index, source);
  await startCell(page, index);
  return cell;
}

/** Waits until a cell has run: its prompt shows an execution count, `[3]:`, not `[*]:`. */
export async function waitForCell(cell: Locator, timeout = 60_000): Promise<void> {
  await expect(cell.locator('.jp-InputArea-prompt')).toHaveText(/^\[\d+\]:$/, { timeout });
}

async function writeCell(
  page: IJupyterLabPageFixture,
  index: number,
  source: string
): Promise<Locator> {
  const count = await page.notebook.getCellCount();
  if (index === count) {
    expect(await page.notebook.addCell('code', source)).toBe(true);
  } else {
    expect(index).toBeLessThan(count);
    expect(await page.notebook.setCell(index, 'code', source)).toBe(true);
  }
  const cell = await page.notebook.getCellLocator(index);
  expect(cell).not.toBeNull();
  return cell as Locator;
}

async function startCell(page: IJupyterLabPageFixture, index: number): Promise<void> {
  expect(await page.notebook.selectCells(index)).toBe(true);
  // Cleared first so that waitForCell sees this run's count, not the one of a run before.
  await page.evaluate(cellIndex => window.galata.resetExecutionCount(cellIndex), index);
  await page.keyboard.press('Control+Enter');
}

/** The text of a cell's outputs, as the user reads it. */
export function outputOf(cell: Locator): Locator {
  return cell.locator('.jp-Cell-outputArea');
}
