/** Progress of long work (a build, tuning, calibration) while the cell runs. */
import type { IProgressUpdate } from '../magics/context';
import { formatCount } from './format';
import { h, IMarkup } from './markup';

export function progressView(update: IProgressUpdate): IMarkup {
  const fraction = update.total > 0 ? Math.min(Math.max(update.done / update.total, 0), 1) : 0;
  return h(
    'div',
    {
      class: 'jp-webtrt-view jp-webtrt-progress',
      role: 'progressbar',
      'aria-valuemin': 0,
      'aria-valuemax': update.total,
      'aria-valuenow': update.done,
      'aria-label': update.title
    },
    h(
      'div',
      { class: 'jp-webtrt-progress-title' },
      update.title,
      h(
        'span',
        { class: 'jp-webtrt-progress-count' },
        ` ${formatCount(update.done)} / ${formatCount(update.total)}`
      )
    ),
    h(
      'div',
      { class: 'jp-webtrt-bar-track' },
      h('div', { class: 'jp-webtrt-bar', style: `width:${(100 * fraction).toFixed(1)}%` })
    ),
    update.detail && h('div', { class: 'jp-webtrt-progress-detail' }, update.detail)
  );
}
