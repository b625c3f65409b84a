import { IOutputAreaModel } from '@jupyterlab/outputarea';
import { ICodeCellModel } from '@jupyterlab/cells';
import * as nbformat from '@jupyterlab/nbformat';
import {
  INotebookCellExecutor,
  INotebookModel,
  KernelError,
  runCell as runKernelCell
} from '@jupyterlab/notebook';
import { PartialJSONObject } from '@lumino/coreutils';

import { PROGRESS_MIME_TYPE } from './bundle';
import type { IMagicContext, IMimeBundle, IProgressUpdate } from './magics/context';
import { errorOutput } from './magics/errors';
import { isTrtMagic, runMagic } from './magics/index';
import { CellQueue } from './queue';

/** Progress is redrawn at most this often: a build reports every layer. */
const PROGRESS_INTERVAL_MS = 100;

/** What a `%trt` cell needs beyond its source: files, device, settings of its notebook. */
export type MagicEnvironment = Omit<IMagicContext, 'signal' | 'progress' | 'display'>;

/**
 * JupyterLab's cell executor with `%trt` / `%%trt` cells run here, in the browser, on
 * WebGPU. Every other cell goes to JupyterLab's own executor unchanged. Cells of a notebook
 * keep their order: a `%trt` cell waits for every cell queued before it, and a kernel cell
 * queued after a `%trt` cell waits for it. As with a kernel, a failed cell stops the cells
 * queued after it, and interrupting the notebook stops its running and queued `%trt` cells.
 */
export class TrtCellExecutor implements INotebookCellExecutor {
  constructor(
    /** The files, session and settings for the cell being run. */
    private readonly environment: (
      options: INotebookCellExecutor.IRunCellOptions
    ) => MagicEnvironment
  ) {}

  runCell(options: INotebookCellExecutor.IRunCellOptions): Promise<boolean> {
    const { cell, notebook } = options;
    const queue = this.queueOf(notebook);
    if (cell.model.type === 'code' && isTrtMagic(cell.model.sharedModel.getSource())) {
      return queue.schedule('trt', () => this.runTrtCell(options, queue.signal));
    }
    return queue.schedule('kernel', () => runKernelCell(options));
  }

  /** Stops the notebook's running `%trt` cell and those queued behind it. */
  interrupt(notebook: INotebookModel): void {
    this.queues.get(notebook)?.interrupt();
  }

  private queueOf(notebook: INotebookModel): CellQueue {
    let queue = this.queues.get(notebook);
    if (!queue) {
      queue = new CellQueue();
      this.queues.set(notebook, queue);
    }
    return queue;
  }

  private async runTrtCell(
    options: INotebookCellExecutor.IRunCellOptions,
    signal: AbortSignal
  ): Promise<boolean> {
    const { cell, notebook, onCellExecuted, onCellExecutionScheduled } = options;
    const model = cell.model as ICodeCellModel;
    const source = model.sharedModel.getSource();
    onCellExecutionScheduled({ cell });
    model.sharedModel.transact(() => model.clearExecution());
    model.executionState = 'running';
    // Outputs made here come from the user's own command, as a kernel's do when run.
    model.trusted = true;
    const outputs = new CellOutputs(model.outputs);
    const executionCount = nextExecutionCount(notebook);
    try {
      signal.throwIfAborted();
      await runMagic(source, {
        ...this.environment(options),
        signal,
        progress: update => outputs.progress(update),
        display: bundle => outputs.display(bundle)
      });
      onCellExecuted({ cell, success: true });
      return true;
    } catch (error) {
      const output = errorOutput(error);
      outputs.error(output);
      onCellExecuted({
        cell,
        success: false,
        error: new KernelError({ status: 'error', execution_count: executionCount, ...output })
      });
      return false;
    } finally {
      outputs.clearProgress();
      if (!model.isDisposed) {
        model.executionCount = executionCount;
        model.executionState = 'idle';
      }
    }
  }

  private readonly queues = new WeakMap<INotebookModel, CellQueue>();
}

/** The output area of a running `%trt` cell: outputs in order, progress always last. */
class CellOutputs {
  constructor(private readonly outputs: IOutputAreaModel) {}

  progress(update: IProgressUpdate): void {
    const now = Date.now();
    const finished = update.done >= update.total;
    if (
      this.progressIndex !== undefined &&
      !finished &&
      now - this.lastProgress < PROGRESS_INTERVAL_MS
    ) {
      return;
    }
    this.lastProgress = now;
    const output: nbformat.IDisplayData = {
      output_type: 'display_data',
      data: { [PROGRESS_MIME_TYPE]: { ...update }, 'text/plain': progressText(update) },
      metadata: {}
    };
    if (this.progressIndex === undefined) {
      // add() returns the number of outputs, not the new output's index.
      this.progressIndex = this.outputs.add(output) - 1;
    } else {
      this.outputs.set(this.progressIndex, output);
    }
  }

  display(bundle: IMimeBundle): void {
    this.clearProgress();
    this.outputs.add({
      output_type: 'display_data',
      data: bundle as PartialJSONObject as nbformat.IMimeBundle,
      metadata: {}
    });
  }

  error(output: { ename: string; evalue: string; traceback: string[] }): void {
    this.clearProgress();
    this.outputs.add({ output_type: 'error', ...output });
  }

  clearProgress(): void {
    if (this.progressIndex !== undefined) {
      this.outputs.remove(this.progressIndex);
      this.progressIndex = undefined;
    }
  }

  private progressIndex: number | undefined;
  private lastProgress = 0;
}

function progressText({ title, done, total, detail }: IProgressUpdate): string {
  const percent = total > 0 ? Math.round((100 * done) / total) : 0;
  return `${title}: ${done}/${total} (${percent}%)${detail ? ` ${detail}` : ''}`;
}

/**
 * One past the highest execution count in the notebook: `%trt` cells number on from the
 * cells before them, with or without a kernel.
 */
function nextExecutionCount(notebook: INotebookModel): number {
  let highest = 0;
  for (const cell of notebook.cells) {
    if (cell.type === 'code') {
      highest = Math.max(highest, (cell as ICodeCellModel).executionCount ?? 0);
    }
  }
  return highest + 1;
}
