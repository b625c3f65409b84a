/**
 * The conversion summary (`%trt convert` of a model that splits, `%trt inspect model.wtrt` of
 * a converted plan): TF-TRT's converter.summary() with each engine's cache, and the partition
 * graph with engine and fallback segments coloured apart.
 */
import type { ConversionReport, EngineCacheStats, SegmentValue } from '../../engine';
import { counted, formatBytes, formatMs, formatPercent, formatShape } from './format';
import { partitionsSection } from './graph';
import { badge, code, facts, section, table, viewFrame } from './html';
import { h, IMarkup } from './markup';

type EngineRow = ConversionReport['engines'][number];

export function conversionView(report: ConversionReport): IMarkup {
  const { converted } = report;
  return viewFrame(
    'conversion',
    h(
      'div',
      { class: 'jp-webtrt-headline' },
      code(report.source),
      h(
        'span',
        {},
        `${report.device ? ` on ${report.device}` : ''}: ${report.precision}, ` +
          `${counted(report.engines.length, 'engine')}`
      )
    ),
    facts([
      [
        'plan',
        report.plan ? [code(report.plan.path), ` (${formatBytes(report.plan.bytes)})`] : 'not saved'
      ],
      ['minimum segment size', String(report.minimumSegmentSize)],
      ['denied ops', report.denyOps.length > 0 ? report.denyOps.join(', ') : 'none'],
      ['cached engines per segment', String(report.maximumCachedEngines)]
    ]),
    section(
      'summary',
      'Engines',
      enginesTable(report.engines),
      h(
        'div',
        {
          class: 'jp-webtrt-converted',
          'data-converted': converted.nodes,
          'data-total': converted.total
        },
        `${formatPercent(converted.nodes, converted.total)} of ops converted ` +
          `[${converted.nodes}/${converted.total}]`
      )
    ),
    report.unconverted.length > 0 &&
      section('unconverted', 'Unconverted ops', unconvertedTable(report.unconverted)),
    report.engines.some(row => row.cache) &&
      section('caches', 'Engine caches', cachesTable(report)),
    partitionsSection(report.partitions)
  );
}

function enginesTable(engines: readonly EngineRow[]): IMarkup {
  return table(
    'engines-table',
    [
      { label: 'engine', code: true },
      { label: 'nodes', numeric: true },
      { label: 'inputs', code: true },
      { label: 'outputs', code: true },
      { label: 'ops', code: true }
    ],
    engines.map(row => [
      row.segment,
      String(row.nodes),
      valueList(row.inputs),
      valueList(row.outputs),
      row.ops.map(({ op, count }) => `${op}×${count}`).join(', ')
    ]),
    i => ({ 'data-segment': engines[i].segment, 'data-nodes': engines[i].nodes })
  );
}

/** One line per value: "name float32 [1, 8, 16, 16]"; an untyped value shows its name only. */
function valueList(values: readonly SegmentValue[]): IMarkup[] {
  return values.map(value =>
    h(
      'div',
      {},
      [value.name, value.dtype, value.shape && formatShape(value.shape)].filter(Boolean).join(' ')
    )
  );
}

function unconvertedTable(unconverted: ConversionReport['unconverted']): IMarkup {
  return table(
    'unconverted-table',
    [{ label: 'op', code: true }, { label: 'count', numeric: true }, { label: 'why' }],
    unconverted.map(({ op, count, reasons }) => [
      op,
      String(count),
      reasons.map(reason => h('div', {}, badge('warn', 'fallback'), ' ', reason))
    ]),
    i => ({ 'data-op': unconverted[i].op, 'data-count': unconverted[i].count })
  );
}

/** Each engine segment's cache: its counters, then one row per cached engine's shapes. */
function cachesTable(report: ConversionReport): IMarkup {
  const rows = report.engines.filter(
    (row): row is EngineRow & { cache: EngineCacheStats } => row.cache !== undefined
  );
  return table(
    'caches-table',
    [
      { label: 'engine', code: true },
      { label: 'entries', numeric: true },
      { label: 'hits', numeric: true },
      { label: 'misses', numeric: true },
      { label: 'evictions', numeric: true },
      { label: 'build time', numeric: true },
      { label: 'cached shapes (hits)', code: true }
    ],
    rows.map(({ segment, cache }) => [
      segment,
      `${cache.entries.length}/${cache.capacity}`,
      String(cache.hits),
      String(cache.misses),
      String(cache.evictions),
      formatMs(cache.buildTimeMs),
      [
        ...cache.entries.map(entry =>
          h('div', {}, `${cachedShapes(entry.shapes)} (${entry.hits})`)
        ),
        ...cache.failures.map(({ shapes, reason }) =>
          h(
            'div',
            {},
            badge('warn', 'CPU'),
            ` ${cachedShapes(shapes)}: no engine builds: ${reason}`
          )
        )
      ]
    ]),
    i => ({
      'data-segment': rows[i].segment,
      'data-entries': rows[i].cache.entries.length,
      'data-hits': rows[i].cache.hits,
      'data-misses': rows[i].cache.misses,
      'data-evictions': rows[i].cache.evictions
    })
  );
}

/** "input [1, 8, 16, 16], mask [1, 16]": what a cached engine was built for. */
export function cachedShapes(shapes: Record<string, number[]>): string {
  return Object.entries(shapes)
    .map(([name, shape]) => `${name} ${formatShape(shape)}`)
    .join(', ');
}
