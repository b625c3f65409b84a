/**
 * `%trt compare`: an engine against its reference, as Polygraphy compares them. The outputs
 * with their errors, PASSED / FAILED against the tolerances and classifier agreement; the
 * layers worst first, as a table and as bars of their error on a log scale, coloured by the
 * precision the layer runs in.
 */
import { scaleLog } from 'd3-scale';

import type { AccuracyReport, ErrorStats } from '../../engine';
import { counted, formatCount, formatPercent, formatShape, formatValue, truncate } from './format';
import { badge, code, facts, section, table, viewFrame } from './html';
import { h, IMarkup } from './markup';
import { hoverTitle, horizontalAxis, ITick, label, px, svgPicture } from './svg';
import { categorical, colors, css } from './theme';

type LayerRow = AccuracyReport['layers'][number];

export function accuracyView(report: AccuracyReport): IMarkup {
  const failed = report.outputs.filter(output => output.error.mismatches > 0);
  const { atol, rtol } = report.tolerances;
  return viewFrame(
    'accuracy',
    h(
      'div',
      { class: 'jp-webtrt-headline' },
      code(report.source),
      ` on ${report.device}: ${report.candidate} against ${report.reference} `,
      failed.length > 0
        ? badge('error', `FAILED: ${failed.map(output => output.name).join(', ')}`)
        : badge('ok', 'PASSED')
    ),
    facts([
      ['inputs', `${counted(report.iterations, 'iteration')} of ${report.inputs}`],
      ['tolerance', `atol ${formatValue(atol)}, rtol ${formatValue(rtol)}`]
    ]),
    section('accuracy-outputs', 'Outputs', outputsTable(report)),
    report.layers.length > 0 &&
      section(
        'accuracy-layers',
        'Layers, worst first',
        layerChart(report.layers),
        layersTable(report.layers)
      )
  );
}

/** "inf" for an infinite relative error (stored as null). */
function relativeText(value: number | null): string {
  return value === null ? 'inf' : formatValue(value);
}

const ERROR_COLUMNS = [
  { label: 'max abs', numeric: true },
  { label: 'mean abs', numeric: true },
  { label: 'max rel', numeric: true },
  { label: 'mean rel', numeric: true }
] as const;

function errorCells(error: ErrorStats): string[] {
  return [
    formatValue(error.maxAbsolute),
    formatValue(error.meanAbsolute),
    relativeText(error.maxRelative),
    relativeText(error.meanRelative)
  ];
}

function outputsTable(report: AccuracyReport): IMarkup {
  return table(
    'accuracy-outputs-table',
    [
      { label: 'output', code: true },
      { label: 'shape', code: true },
      ...ERROR_COLUMNS,
      { label: 'mismatches', numeric: true },
      { label: 'passes at', numeric: true },
      { label: 'top-1 / top-5', numeric: true },
      { label: 'result' }
    ],
    report.outputs.map(({ name, shape, error, agreement }) => [
      name,
      formatShape(shape),
      ...errorCells(error),
      `${formatCount(error.mismatches)} of ${formatCount(error.elements)}`,
      error.nonFinite > 0
        ? `${formatCount(error.nonFinite)} NaN / inf`
        : `atol ${formatValue(error.maxAbsolute)} or rtol ${relativeText(error.maxRelative)}`,
      agreement ? `${formatPercent(agreement.top1, 1)} / ${formatPercent(agreement.top5, 1)}` : '–',
      error.mismatches > 0 ? badge('error', 'FAILED') : badge('ok', 'PASSED')
    ]),
    i => ({
      'data-output': report.outputs[i].name,
      'data-mismatches': report.outputs[i].error.mismatches
    })
  );
}

function layersTable(layers: readonly LayerRow[]): IMarkup {
  return table(
    'accuracy-layers-table',
    [
      { label: 'layer', code: true },
      { label: 'op' },
      { label: 'precision' },
      { label: 'tensor', code: true },
      { label: 'rel L2', numeric: true },
      { label: 'added', numeric: true },
      ...ERROR_COLUMNS
    ],
    layers.map(row => [
      row.layer,
      row.opType,
      row.precision,
      row.tensor,
      relativeText(row.error.relativeL2),
      row.addedError ? relativeText(row.addedError.relativeL2) : '',
      ...errorCells(row.error)
    ]),
    i => ({ 'data-layer': layers[i].layer, 'data-precision': layers[i].precision })
  );
}

const PRECISIONS = ['fp32', 'fp16', 'int8'] as const;
/** The most bars drawn: the worst layers; the table lists them all. */
const MAX_BARS = 40;
const BAR_HEIGHT = 14;
const BAR_GAP = 3;
const LABEL_WIDTH = 190;
const CHART_WIDTH = 420;
const VALUE_WIDTH = 80;
const AXIS_HEIGHT = 24;
const LEGEND_HEIGHT = 20;
/** Errors below this are drawn at it: a log scale has no zero. */
const SMALLEST_ERROR = 1e-8;

/**
 * A bar per layer tensor, worst first, its length the relative L2 error on a log scale (an
 * infinite error the whole width), its colour the layer's precision.
 */
function layerChart(layers: readonly LayerRow[]): IMarkup {
  const shown = layers.slice(0, MAX_BARS);
  const finite = shown.flatMap(row =>
    row.error.relativeL2 === null ? [] : [row.error.relativeL2]
  );
  const largest = Math.max(SMALLEST_ERROR * 10, ...finite);
  // A decade below the smallest error, so that the best layer still shows a bar.
  const smallest = Math.min(largest / 1e4, ...finite.filter(e => e > 0));
  const domain: [number, number] = [Math.max(SMALLEST_ERROR, smallest / 10), largest];
  // Finite errors take 90% of the width: an infinite one stands out beyond the largest.
  const scale = scaleLog()
    .domain(domain)
    .range([0, 0.9 * CHART_WIDTH])
    .clamp(true);
  const top = LEGEND_HEIGHT + AXIS_HEIGHT;
  const bars = shown.map((row, i) => {
    const error = row.error.relativeL2;
    const width = error === null ? CHART_WIDTH : Math.max(scale(Math.max(error, domain[0])), 1);
    const swatch = categorical(PRECISIONS.indexOf(row.precision));
    return h(
      'g',
      {
        class: 'jp-webtrt-accuracy-bar',
        'data-layer': row.layer,
        'data-precision': row.precision,
        transform: `translate(0,${px(top + i * (BAR_HEIGHT + BAR_GAP))})`
      },
      hoverTitle([
        `${row.layer} (${row.opType}, ${row.precision})`,
        `tensor ${row.tensor}`,
        `relative L2 error ${relativeText(error)}`,
        `max abs ${formatValue(row.error.maxAbsolute)}, max rel ${relativeText(row.error.maxRelative)}`
      ]),
      label(LABEL_WIDTH - 8, BAR_HEIGHT / 2, truncate(row.layer, 30), {
        anchor: 'end',
        code: true
      }),
      h('rect', {
        x: LABEL_WIDTH,
        width: px(width),
        height: BAR_HEIGHT,
        rx: 2,
        style: css({ fill: swatch.fill, 'fill-opacity': 0.6, stroke: swatch.stroke })
      }),
      label(LABEL_WIDTH + width + 6, BAR_HEIGHT / 2, relativeText(error), {
        color: colors.inkMuted
      })
    );
  });
  return svgPicture(
    'accuracy-chart',
    LABEL_WIDTH + CHART_WIDTH + VALUE_WIDTH,
    top + shown.length * (BAR_HEIGHT + BAR_GAP),
    { 'data-bars': bars.length },
    precisionLegend(shown),
    horizontalAxis(logTicks(domain), top - 4, LABEL_WIDTH, LABEL_WIDTH + CHART_WIDTH, '', 'above'),
    bars
  );
}

/** A tick at each power of ten of the domain, placed on the log scale. */
function logTicks(domain: readonly [number, number]): ITick[] {
  const scale = scaleLog()
    .domain(domain)
    .range([LABEL_WIDTH, LABEL_WIDTH + CHART_WIDTH]);
  const powers: number[] = [];
  for (let exponent = Math.ceil(Math.log10(domain[0])); 10 ** exponent <= domain[1]; exponent++) {
    powers.push(exponent);
  }
  return powers.map(exponent => ({
    value: 10 ** exponent,
    position: scale(10 ** exponent),
    text: `1e${exponent}`
  }));
}

/** A swatch and name for each precision among the bars. */
function precisionLegend(rows: readonly LayerRow[]): IMarkup {
  const present = PRECISIONS.filter(precision => rows.some(row => row.precision === precision));
  return h(
    'g',
    { class: 'jp-webtrt-legend' },
    present.map((precision, i) => {
      const swatch = categorical(PRECISIONS.indexOf(precision));
      const x = LABEL_WIDTH + i * 70;
      return h(
        'g',
        { transform: `translate(${x},2)` },
        h('rect', {
          width: 10,
          height: 10,
          rx: 2,
          style: css({ fill: swatch.fill, 'fill-opacity': 0.6, stroke: swatch.stroke })
        }),
        label(14, 5, precision)
      );
    })
  );
}
