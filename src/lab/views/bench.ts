/** `%trt bench`: the tutorials' native vs FP32 vs FP16 table, and throughput as bars. */
import type { BenchReport } from '../../engine';
import { counted, formatCount, formatMs, truncate } from './format';
import { code, section, table, viewFrame } from './html';
import { h, IMarkup } from './markup';
import { hoverTitle, label, px, svgPicture } from './svg';
import { categorical, colors, css } from './theme';

type BenchRow = BenchReport['rows'][number];

/** Native's median over this row's, at the same batch size; undefined without a native row. */
function speedUp(report: BenchReport, row: BenchRow): number | undefined {
  const native = report.rows.find(r => r.mode === 'native' && r.batch === row.batch);
  return native ? native.latency.median / row.latency.median : undefined;
}

export function benchView(report: BenchReport): IMarkup {
  return viewFrame(
    'bench',
    h(
      'div',
      { class: 'jp-webtrt-headline' },
      code(report.source),
      ` on ${report.device}: ${counted(report.iterations, 'iteration')} per mode and batch size`
    ),
    section('bench-results', 'Results', benchTable(report)),
    report.rows.length > 0 && section('throughput', 'Throughput', benchChart(report)),
    report.skipped.length > 0 &&
      section(
        'skipped',
        'Skipped',
        h(
          'ul',
          { class: 'jp-webtrt-skipped', 'data-skipped': report.skipped.length },
          report.skipped.map(skip =>
            h(
              'li',
              { 'data-mode': skip.mode },
              code(skip.batch === undefined ? skip.mode : `${skip.mode} batch ${skip.batch}`),
              `: ${skip.reason}`
            )
          )
        )
      )
  );
}

function benchTable(report: BenchReport): IMarkup {
  return table(
    'bench-table',
    [
      { label: 'mode' },
      { label: 'batch', numeric: true },
      { label: 'median', numeric: true },
      { label: 'p90', numeric: true },
      { label: 'throughput (samples/s)', numeric: true },
      { label: 'speed-up vs native', numeric: true },
      { label: 'build', numeric: true },
      { label: 'first run', numeric: true }
    ],
    report.rows.map(row => {
      const ratio = speedUp(report, row);
      return [
        row.mode,
        String(row.batch),
        formatMs(row.latency.median),
        formatMs(row.latency.p90),
        formatCount(Math.round(row.throughput)),
        ratio === undefined ? '–' : `${ratio.toFixed(2)}×`,
        row.buildMs === undefined ? '–' : formatMs(row.buildMs),
        formatMs(row.firstRunMs)
      ];
    }),
    i => ({ 'data-mode': report.rows[i].mode, 'data-batch': report.rows[i].batch })
  );
}

const BAR_HEIGHT = 16;
const BAR_GAP = 4;
const GROUP_GAP = 10;
const LABEL_WIDTH = 110;
const CHART_WIDTH = 480;
const VALUE_WIDTH = 110;

/** One bar per row, grouped by batch size, each mode in its own colour across groups. */
function benchChart(report: BenchReport): IMarkup {
  const modes = [...new Set(report.rows.map(row => row.mode))];
  const batches = [...new Set(report.rows.map(row => row.batch))].sort((a, b) => a - b);
  const most = Math.max(...report.rows.map(row => row.throughput), 1);
  const bars: IMarkup[] = [];
  let y = 4;
  for (const batch of batches) {
    for (const row of report.rows.filter(r => r.batch === batch)) {
      const swatch = categorical(modes.indexOf(row.mode));
      const width = Math.max((row.throughput / most) * CHART_WIDTH, 1);
      const ratio = speedUp(report, row);
      bars.push(
        h(
          'g',
          {
            class: 'jp-webtrt-bench-bar',
            'data-mode': row.mode,
            'data-batch': row.batch,
            transform: `translate(0,${y})`
          },
          hoverTitle([
            `${row.mode}, batch ${row.batch}`,
            `${formatCount(Math.round(row.throughput))} samples/s at ${formatMs(row.latency.median)} median`,
            ...(ratio === undefined ? [] : [`${ratio.toFixed(2)}× native`])
          ]),
          label(LABEL_WIDTH - 8, BAR_HEIGHT / 2, truncate(`${row.mode} · batch ${row.batch}`, 18), {
            anchor: 'end'
          }),
          h('rect', {
            x: LABEL_WIDTH,
            width: px(width),
            height: BAR_HEIGHT,
            rx: 2,
            style: css({ fill: swatch.fill, 'fill-opacity': 0.6, stroke: swatch.stroke })
          }),
          label(
            LABEL_WIDTH + width + 6,
            BAR_HEIGHT / 2,
            `${formatCount(Math.round(row.throughput))}/s`,
            {
              color: colors.inkMuted
            }
          )
        )
      );
      y += BAR_HEIGHT + BAR_GAP;
    }
    y += GROUP_GAP;
  }
  return svgPicture(
    'bench-chart',
    LABEL_WIDTH + CHART_WIDTH + VALUE_WIDTH,
    y,
    { 'data-bars': bars.length },
    bars
  );
}
