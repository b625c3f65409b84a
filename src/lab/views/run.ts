/** `%trt run`: what went in, what came out (statistics, first values, top-k) and how long it took. */
import type { LatencySummary, OutputSummary, RunReport } from '../../engine';
import { formatMs, formatShape, formatValue } from './format';
import { badge, code, facts, section, table, viewFrame } from './html';
import { h, IMarkup } from './markup';

export function runView(report: RunReport): IMarkup {
  return viewFrame(
    'run',
    h(
      'div',
      { class: 'jp-webtrt-headline' },
      code(report.source),
      ` on ${report.device}: ${latencyLine(report.latency)}`
    ),
    section(
      'inputs',
      'Inputs',
      table(
        'inputs-table',
        [
          { label: 'name', code: true },
          { label: 'type' },
          { label: 'shape', code: true },
          { label: 'from', code: true }
        ],
        report.inputs.map(input => [input.name, input.dtype, formatShape(input.shape), input.from]),
        i => ({ 'data-name': report.inputs[i].name })
      )
    ),
    section(
      'outputs',
      'Outputs',
      h(
        'div',
        { class: 'jp-webtrt-outputs', 'data-outputs': report.outputs.length },
        report.outputs.map(outputCard)
      )
    )
  );
}

/** "1.23 ms" for one run; the median and spread of several. */
function latencyLine(latency: LatencySummary): string {
  if (latency.count === 1) {
    return `${formatMs(latency.median)} (one run)`;
  }
  return (
    `median ${formatMs(latency.median)} over ${latency.count} runs ` +
    `(min ${formatMs(latency.min)}, mean ${formatMs(latency.mean)}, p90 ${formatMs(latency.p90)}, max ${formatMs(latency.max)})`
  );
}

function outputCard(output: OutputSummary): IMarkup {
  const { min, max, mean, std, nonFinite } = output.stats;
  return h(
    'div',
    { class: 'jp-webtrt-output', 'data-name': output.name },
    h(
      'div',
      { class: 'jp-webtrt-output-title' },
      code(output.name),
      ` ${output.dtype} ${formatShape(output.shape)}`,
      output.file && [' → ', code(output.file)]
    ),
    facts([
      ['min', formatValue(min)],
      ['max', formatValue(max)],
      ['mean', formatValue(mean)],
      ['std', formatValue(std)]
    ]),
    nonFinite > 0 &&
      h(
        'div',
        { class: 'jp-webtrt-non-finite' },
        badge('error', `${nonFinite} NaN or infinite`),
        ' left out of the statistics'
      ),
    h(
      'div',
      { class: 'jp-webtrt-head' },
      h('span', { class: 'jp-webtrt-label' }, 'first values '),
      code(
        `[${output.head.map(formatValue).join(', ')}${output.head.length < elementCount(output.shape) ? ', …' : ''}]`
      )
    ),
    output.topK && topKList(output.topK)
  );
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((product, dim) => product * dim, 1);
}

/**
 * The k highest scores as bars. Bars start at the lower of 0 and the lowest score, so that
 * probabilities read as proportions and logits (often negative) still order visibly.
 */
function topKList(topK: NonNullable<OutputSummary['topK']>): IMarkup {
  const scores = topK.map(entry => entry.score);
  const low = Math.min(0, ...scores);
  const span = Math.max(...scores) - low || 1;
  return h(
    'ol',
    { class: 'jp-webtrt-topk', 'data-k': topK.length },
    topK.map(entry =>
      h(
        'li',
        { class: 'jp-webtrt-topk-entry', 'data-index': entry.index },
        h('span', { class: 'jp-webtrt-topk-index' }, `#${entry.index}`),
        h(
          'span',
          { class: 'jp-webtrt-bar-track' },
          h('span', {
            class: 'jp-webtrt-bar',
            style: `width:${Math.max((100 * (entry.score - low)) / span, 1).toFixed(1)}%`
          })
        ),
        h('span', { class: 'jp-webtrt-number' }, formatValue(entry.score))
      )
    )
  );
}
