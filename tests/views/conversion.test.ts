import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import type { ConversionReport } from '../../src/engine';
import { reportPicture } from '../../src/lab/views';
import { layoutPartitionGraph } from '../../src/lab/views/graph';
import { assertBoxesHoldTheirNodesOnly } from './boxes';
import { reportOf, smallCnnReports } from './fixtures';
import { allElements, byClass, IXmlElement, parseXml, textOf } from './xml';

let report: ConversionReport;
let html: IXmlElement;

before(async () => {
  report = reportOf(await smallCnnReports(), 'conversion');
  html = parseXml(reportPicture(report)['text/html']);
});

function rowsWith(table: string, attribute: string): IXmlElement[] {
  return allElements(byClass(html, table)[0]).filter(e => e.attrs[attribute] !== undefined);
}

test('the summary: a row per engine with its nodes, values and ops, and the share of ops converted', () => {
  const rows = rowsWith('jp-webtrt-engines-table', 'data-segment');
  assert.deepEqual(
    rows.map(row => [row.attrs['data-segment'], Number(row.attrs['data-nodes'])]),
    report.engines.map(row => [row.segment, row.nodes])
  );
  assert.equal(rows.length, 2);
  const [first] = report.engines;
  const cells = textOf(rows[0]);
  for (const value of [...first.inputs, ...first.outputs]) {
    assert.ok(cells.includes(value.name), `${value.name} in the first engine's row`);
  }
  for (const { op, count } of first.ops) {
    assert.ok(cells.includes(`${op}×${count}`), `${op}×${count} in the first engine's row`);
  }
  const { nodes, total } = report.converted;
  const line = byClass(html, 'jp-webtrt-converted')[0];
  assert.equal(
    textOf(line),
    `${((100 * nodes) / total).toFixed(1)}% of ops converted [${nodes}/${total}]`
  );
});

test('the unconverted ops with their counts and reasons', () => {
  const rows = rowsWith('jp-webtrt-unconverted-table', 'data-op');
  assert.deepEqual(
    rows.map(row => [row.attrs['data-op'], Number(row.attrs['data-count'])]),
    [['Cast', 2]]
  );
  assert.ok(textOf(rows[0]).includes('Cast is in denyOps'));
});

test("each engine's cache: entries, hits, misses, evictions and its cached shapes", () => {
  const rows = rowsWith('jp-webtrt-caches-table', 'data-segment');
  assert.deepEqual(
    rows.map(row => ({
      segment: row.attrs['data-segment'],
      entries: Number(row.attrs['data-entries']),
      hits: Number(row.attrs['data-hits']),
      misses: Number(row.attrs['data-misses']),
      evictions: Number(row.attrs['data-evictions'])
    })),
    report.engines.map(({ segment, cache }) => ({
      segment,
      entries: cache!.entries.length,
      hits: cache!.hits,
      misses: cache!.misses,
      evictions: cache!.evictions
    }))
  );
  // Built at batch 1 and run once more at batch 1.
  assert.deepEqual(
    rows.map(row => [row.attrs['data-hits'], row.attrs['data-misses']]),
    [
      ['1', '1'],
      ['1', '1']
    ]
  );
  assert.ok(textOf(rows[0]).includes('input [1, 3, 16, 16] (1)'));
});

test('the partition graph draws the fallback nodes apart, with a legend entry per segment', () => {
  const svg = parseXml(reportPicture(report)['image/svg+xml']!);
  const nodes = byClass(svg, 'jp-webtrt-node').filter(node => node.attrs['data-segment']);
  const styleOf = (node: IXmlElement) =>
    (node.children.find(c => typeof c !== 'string' && c.name === 'rect') as IXmlElement).attrs
      .style;
  const fallback = nodes.filter(node => node.attrs['data-segment'].startsWith('fallback'));
  assert.equal(fallback.length, 2);
  const fallbackStyles = new Set(fallback.map(styleOf));
  assert.equal(fallbackStyles.size, 1);
  const engineStyles = new Set(
    nodes.filter(node => node.attrs['data-segment'].startsWith('engine')).map(styleOf)
  );
  assert.equal(engineStyles.size, 2, 'each engine segment its own colour');
  for (const style of engineStyles) {
    assert.ok(!fallbackStyles.has(style), 'no engine drawn in the fallback colour');
  }
  const legend = byClass(svg, 'jp-webtrt-legend-entry').map(textOf);
  for (const segment of report.partitions.segments) {
    assert.ok(
      legend.some(entry => entry.includes(`${segment.id} · `)),
      `${segment.id} in the legend`
    );
  }
});

test('fallback nodes are neither drawn as folded away nor boxed with an engine layer', () => {
  const svg = parseXml(reportPicture(report)['image/svg+xml']!);
  const fallback = byClass(svg, 'jp-webtrt-node').filter(node =>
    node.attrs['data-segment']?.startsWith('fallback')
  );
  assert.equal(fallback.length, 2);
  for (const node of fallback) {
    assert.ok(!node.attrs.class.includes('jp-webtrt-node-folded'), node.attrs['data-id']);
  }
  const layout = layoutPartitionGraph(report.partitions);
  const casts = layout.nodes.filter(node => node.opType === 'Cast');
  assert.deepEqual(
    casts.map(node => node.cluster),
    [undefined, undefined]
  );
  assertBoxesHoldTheirNodesOnly(layout);
  assert.ok(!textOf(svg).includes('folded away by the builder'));
});
