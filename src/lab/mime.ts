/**
 * JupyterLab renderers of webtrt's outputs: one per report kind
 * (`application/vnd.webtrt.<kind>+json`) and one for the progress of long work. They rank
 * before every other form of the bundle, so a notebook with the extension shows the live
 * views, and are safe: they build DOM nodes from the data and never parse markup from it, so
 * an untrusted notebook shows them too.
 */
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { type Report, reportMimeType } from '../engine';
import { PROGRESS_MIME_TYPE } from './bundle';
import type { IProgressUpdate } from './magics/context';
import { progressView, reportView } from './views';
import { enhanceView, markupToDom } from './views/dom';
import type { IMarkup } from './views/markup';

const REPORT_KINDS: readonly Report['kind'][] = [
  'device',
  'model',
  'engine',
  'conversion',
  'calibration',
  'accuracy',
  'run',
  'profile',
  'bench'
];

/** A view of one MIME type's data, redrawn whenever the output's data changes. */
class WebtrtRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(
    private readonly mimeType: string,
    private readonly draw: (data: unknown) => IMarkup
  ) {
    super();
    this.addClass('jp-webtrt-rendered');
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const document = this.node.ownerDocument;
    try {
      const view = markupToDom(this.draw(model.data[this.mimeType]), document) as HTMLElement;
      this.node.replaceChildren(view);
      // On the view, not the widget: a new render drops its listeners with the old view.
      enhanceView(view);
    } catch (error) {
      const message = document.createElement('div');
      message.className = 'jp-webtrt-view jp-webtrt-render-error';
      message.textContent = `webtrt cannot show this ${this.mimeType} output: ${
        error instanceof Error ? error.message : String(error)
      }`;
      this.node.replaceChildren(message);
    }
  }
}

/** The data as a report of `kind`, or an error that says what it is instead. */
function asReport(data: unknown, kind: Report['kind']): Report {
  const found =
    typeof data === 'object' && data !== null && 'kind' in data ? String(data.kind) : undefined;
  if (found !== kind) {
    throw new Error(
      found === undefined
        ? `expected a report of kind '${kind}', got ${describeValue(data)}`
        : `expected a report of kind '${kind}', got one of kind '${found}'`
    );
  }
  // The producers in src/engine/reports write the whole object; a notebook holds it as JSON.
  return data as Report;
}

function describeValue(data: unknown): string {
  if (data === null || data === undefined) {
    return String(data);
  }
  return typeof data === 'object' ? 'an object without a kind' : `a ${typeof data}`;
}

function asProgress(data: unknown): IProgressUpdate {
  const update = data as Partial<IProgressUpdate> | null;
  if (
    typeof update?.title !== 'string' ||
    typeof update.done !== 'number' ||
    typeof update.total !== 'number'
  ) {
    throw new Error('expected a progress update with a title, done and total');
  }
  return update as IProgressUpdate;
}

function rendererExtension(
  name: string,
  mimeType: string,
  draw: (data: unknown) => IMarkup
): IRenderMime.IExtension {
  return {
    id: `jupyterlab-webtrt:${name}-renderer`,
    description: `Shows webtrt's ${mimeType} outputs.`,
    rendererFactory: {
      safe: true,
      mimeTypes: [mimeType],
      defaultRank: 0,
      createRenderer: () => new WebtrtRenderer(mimeType, draw)
    },
    rank: 0,
    dataType: 'json'
  };
}

/** Every webtrt renderer, for IRenderMimeRegistry (or a mimeExtension entry) to register. */
export const webtrtRenderers: IRenderMime.IExtension[] = [
  ...REPORT_KINDS.map(kind =>
    rendererExtension(kind, reportMimeType(kind), data => reportView(asReport(data, kind)))
  ),
  rendererExtension('progress', PROGRESS_MIME_TYPE, data => progressView(asProgress(data)))
];
