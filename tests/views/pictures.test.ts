import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import type { Report } from '../../src/engine';
import { reportPicture } from '../../src/lab/views';
import { layoutPartitionGraph, partitionGraphPicture } from '../../src/lab/views/graph';
import { markupToString } from '../../src/lab/views/markup';
import { assertBoxesHoldTheirNodesOnly } from './boxes';
import { HOSTILE_NAME, reportOf, smallCnnReports } from './fixtures';
import { allElements, byClass, IXmlElement, parseXml, textOf } from './xml';

let reports: Report[];

before(async () => {
  reports = await smallCnnReports();
});

function pictureOf(report: Report): { html: IXmlElement; svg?: IXmlElement } {
  const picture = reportPicture(report);
  return {
    html: parseXml(picture['text/html']),
    svg: picture['image/svg+xml'] === undefined ? undefined : parseXml(picture['image/svg+xml'])
  };
}

describe("small_cnn's reports as pictures", () => {
  test('every kind gives well-formed HTML; those with a main picture a stand-alone SVG', () => {
    const withSvg: string[] = [];
    for (const report of reports) {
      const { html, svg } = pictureOf(report);
      assert.equal(html.name, 'div');
      assert.equal(html.attrs['data-kind'], report.kind);
      if (svg) {
        assert.equal(svg.name, 'svg');
        assert.equal(svg.attrs.xmlns, 'http://www.w3.org/2000/svg');
        assert.match(svg.attrs.viewBox, /^0 0 [\d.]+ [\d.]+$/);
        withSvg.push(report.kind);
      }
    }
    assert.deepEqual(withSvg.sort(), ['bench', 'conversion', 'engine', 'model', 'profile']);
  });

  test('device: a checklist entry per capability, ✓ where present', () => {
    const device = reportOf(reports, 'device');
    const entries = byClass(pictureOf(device).html, 'jp-webtrt-capability');
    assert.equal(entries.length, device.capabilities.length);
    for (const [i, entry] of entries.entries()) {
      const capability = device.capabilities[i];
      assert.equal(entry.attrs['data-present'], String(capability.present));
      assert.ok(textOf(entry).startsWith(capability.present ? '✓' : '✗'));
      assert.ok(textOf(entry).includes(capability.meaning));
    }
  });

  test('model: inputs, outputs and the op histogram with where each op runs', () => {
    const model = reportOf(reports, 'model');
    const { html } = pictureOf(model);
    const ops = allElements(html).filter(e => e.attrs['data-op'] !== undefined);
    assert.deepEqual(
      ops.map(row => [row.attrs['data-op'], row.attrs['data-support']]),
      model.ops.map(op => [op.op, op.support])
    );
    const values = allElements(html).filter(e => e.attrs['data-direction'] !== undefined);
    assert.equal(values.length, model.inputs.length + model.outputs.length);
    assert.equal(byClass(html, 'jp-webtrt-node').length, model.partitions.nodes.length);
  });

  test('engine: passes with their change counts, a row per layer, the graph and the memory plan', () => {
    const engine = reportOf(reports, 'engine');
    const { html, svg } = pictureOf(engine);
    const passes = byClass(html, 'jp-webtrt-passes-table')[0];
    const passRows = allElements(passes).filter(e => e.attrs['data-pass'] !== undefined);
    assert.deepEqual(
      passRows.map(row => [row.attrs['data-pass'], Number(row.attrs['data-changes'])]),
      engine.passes.map(pass => [pass.pass, pass.changes.length])
    );
    for (const [i, row] of passRows.entries()) {
      const changes = allElements(row).filter(e => e.name === 'li');
      assert.deepEqual(changes.map(textOf), engine.passes[i].changes);
    }
    const layerRows = allElements(byClass(html, 'jp-webtrt-layers-table')[0]).filter(
      e => e.attrs['data-layer'] !== undefined
    );
    assert.deepEqual(
      layerRows.map(row => row.attrs['data-layer']),
      engine.layers.map(layer => layer.name)
    );
    assert.equal(svg?.attrs['data-nodes'], String(engine.partitions.nodes.length));
    assert.ok(
      textOf(byClass(html, 'jp-webtrt-headline')[0]).includes(
        `${engine.layers.length} layers from ${engine.onnxNodes} ONNX nodes`
      )
    );
  });

  test('engine: each tensor of the memory plan spans its steps and bytes, at the scale of the arena', () => {
    const engine = reportOf(reports, 'engine');
    const { html } = pictureOf(engine);
    const arenas = byClass(html, 'jp-webtrt-arena');
    assert.equal(arenas.length, engine.memory.arenas.length);
    for (const [a, arena] of arenas.entries()) {
      const plan = engine.memory.arenas[a];
      const rects = byClass(arena, 'jp-webtrt-tensor');
      const owners = plan.tensors.filter(t => t.aliasOf === undefined && t.bytes > 0);
      assert.equal(rects.length, owners.length);
      const steps = Number(arena.attrs['data-steps']);
      const frame = allElements(arena).find(e => e.name === 'rect' && !e.attrs.class)!;
      const [left, top, width, height] = ['x', 'y', 'width', 'height'].map(k =>
        Number(frame.attrs[k])
      );
      for (const [i, rect] of rects.entries()) {
        const tensor = owners[i];
        assert.equal(rect.attrs['data-name'], tensor.name);
        const x = Number(rect.attrs.x);
        const w = Number(rect.attrs.width);
        assert.ok(
          Math.abs(x - (left + (tensor.firstStep * width) / steps)) < 0.1,
          `${tensor.name}: x`
        );
        assert.ok(
          Math.abs(w - ((tensor.lastStep - tensor.firstStep + 1) * width) / steps) < 0.1,
          `${tensor.name}: width`
        );
        const bottom = Number(rect.attrs.y) + Number(rect.attrs.height);
        const expectedBottom = top + height - (tensor.offset * height) / plan.arenaBytes;
        assert.ok(Math.abs(bottom - expectedBottom) < 0.2, `${tensor.name}: offset`);
        assert.ok(Number(rect.attrs.y) >= top - 0.1, `${tensor.name} inside the arena`);
      }
    }
  });

  test("engine: the nodes of each fused layer are boxed together, and no box holds another's", () => {
    const engine = reportOf(reports, 'engine');
    const layout = layoutPartitionGraph(engine.partitions);
    const fused = engine.layers.filter(layer => layer.fusedNodes.length > 1);
    assert.ok(fused.length > 0, 'small_cnn fuses activations into its convolutions');
    for (const layer of fused) {
      const box = layout.clusters.find(cluster => cluster.layer === layer.name);
      assert.ok(box, `${layer.name} has a box`);
      const boxed = layout.nodes.filter(node => node.cluster === layer.name).map(node => node.id);
      for (const node of layer.fusedNodes) {
        assert.ok(boxed.includes(node), `${node} in the box of ${layer.name}`);
      }
    }
    assertBoxesHoldTheirNodesOnly(layout);
  });

  test('a node the builder folded away is drawn apart and boxed with the layer it went into', () => {
    const engine = reportOf(reports, 'engine');
    // As a builder that folds BatchNormalization without listing it among the fused nodes reports it.
    const partitions = structuredClone(engine.partitions);
    const batchNorms = partitions.nodes.filter(node => node.opType === 'BatchNormalization');
    assert.ok(batchNorms.length > 0);
    batchNorms.forEach(node => delete node.layer);
    const layout = layoutPartitionGraph(partitions);
    for (const node of batchNorms) {
      const producer = partitions.edges.find(edge => edge.to === node.id)!.from;
      const conv = partitions.nodes.find(n => n.id === producer)!;
      const placed = layout.nodes.find(n => n.id === node.id)!;
      assert.equal(placed.cluster, conv.layer, `${node.id} is drawn in the box of ${conv.layer}`);
    }
    assertBoxesHoldTheirNodesOnly(layout);
    const svg = parseXml(markupToString(partitionGraphPicture(partitions)));
    assert.deepEqual(
      byClass(svg, 'jp-webtrt-node-folded').map(node => node.attrs['data-id']),
      batchNorms.map(node => node.id)
    );
    assert.ok(textOf(svg).includes('folded away by the builder'), 'the legend explains them');
  });

  test('run: a card per output with statistics, first values, top-k and its file', () => {
    const run = reportOf(reports, 'run');
    const { html } = pictureOf(run);
    const cards = byClass(html, 'jp-webtrt-output');
    assert.equal(cards.length, run.outputs.length);
    const [card] = cards;
    const [output] = run.outputs;
    assert.ok(output.topK && output.topK.length === 5);
    const topK = byClass(card, 'jp-webtrt-topk-entry');
    assert.deepEqual(
      topK.map(e => Number(e.attrs['data-index'])),
      output.topK.map(t => t.index)
    );
    assert.ok(textOf(card).includes('logits.npy'));
    const widths = topK.map(entry => {
      const bar = byClass(entry, 'jp-webtrt-bar')[0];
      return parseFloat(/width:([\d.]+)%/.exec(bar.attrs.style)![1]);
    });
    for (let i = 1; i < widths.length; i++) {
      assert.ok(widths[i] <= widths[i - 1], 'bars shrink with the score');
    }
  });

  test('bench: the table with speed-up against native at the same batch, a bar per row', () => {
    const bench = reportOf(reports, 'bench');
    const { html, svg } = pictureOf(bench);
    const rows = allElements(byClass(html, 'jp-webtrt-bench-table')[0]).filter(
      e => e.attrs['data-mode'] !== undefined
    );
    assert.deepEqual(
      rows.map(row => row.attrs['data-mode']),
      bench.rows.map(row => row.mode)
    );
    const native = bench.rows.find(r => r.mode === 'native')!;
    for (const [i, row] of rows.entries()) {
      const cells = allElements(row)
        .filter(e => e.name === 'td')
        .map(textOf);
      const expected = native.latency.median / bench.rows[i].latency.median;
      assert.equal(cells[5], `${expected.toFixed(2)}×`);
    }
    assert.equal(byClass(svg!, 'jp-webtrt-bench-bar').length, bench.rows.length);
  });
});

/** Whether `name` is the text or an attribute value somewhere in the tree, in whole or in part. */
function mentions(root: IXmlElement, name: string): boolean {
  return (
    textOf(root).includes(name) ||
    allElements(root).some(e => Object.values(e.attrs).some(value => value.includes(name)))
  );
}

test('names a model chose are escaped in every picture and read back as they were', async () => {
  const escapedInJson = JSON.stringify(HOSTILE_NAME).slice(1, -1);
  const renamed = (await smallCnnReports()).map(
    report => JSON.parse(JSON.stringify(report).replaceAll('/Conv_0', escapedInJson)) as Report
  );
  const showingTheName = [];
  for (const report of renamed) {
    for (const [mimeType, text] of Object.entries(reportPicture(report))) {
      assert.ok(
        !text.includes(HOSTILE_NAME),
        `${report.kind} ${mimeType}: no raw name in the markup`
      );
      if (mentions(parseXml(text), HOSTILE_NAME)) {
        showingTheName.push(`${report.kind} ${mimeType}`);
      }
    }
  }
  assert.deepEqual(showingTheName.sort(), [
    'conversion image/svg+xml',
    'conversion text/html',
    'engine image/svg+xml',
    'engine text/html',
    'model image/svg+xml',
    'model text/html',
    'profile image/svg+xml',
    'profile text/html'
  ]);
});
