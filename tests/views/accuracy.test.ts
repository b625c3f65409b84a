import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { AccuracyReport, ErrorStats } from '../../src/engine';
import { reportPicture } from '../../src/lab/views';
import { allElements, byClass, parseXml, textOf } from './xml';

function errors(relativeL2: number | null, mismatches = 0): ErrorStats {
  return {
    elements: 20,
    maxAbsolute: 0.02,
    meanAbsolute: 0.005,
    maxRelative: relativeL2 === null ? null : 0.1,
    meanRelative: relativeL2 === null ? null : 0.01,
    relativeL2,
    mismatches,
    nonFinite: 0
  };
}

const report: AccuracyReport = {
  kind: 'accuracy',
  source: 'small_cnn.onnx',
  device: 'google swiftshader',
  candidate: 'int8 engine',
  reference: 'fp32 engine',
  tolerances: { atol: 0.01, rtol: 0.01 },
  iterations: 2,
  inputs: 'random uniform [0, 1)',
  outputs: [
    {
      name: 'logits',
      shape: [1, 10],
      error: errors(0.02, 3),
      agreement: { rows: 2, top1: 0.5, top5: 1 }
    },
    { name: 'features', shape: [1, 4], error: errors(1e-4) }
  ],
  layers: [
    { layer: '/Conv_4', tensor: 'relu_4', error: errors(null) },
    { layer: '/Gemm_0', tensor: 'logits', error: errors(0.02) },
    { layer: '/Pool', tensor: 'pool', error: errors(1e-6) }
  ].map(({ layer, tensor, error }, i) => ({
    layer,
    opType: 'FusedConv',
    precision: i === 2 ? 'fp32' : 'int8',
    fusedNodes: [layer],
    tensor,
    error
  }))
};

test('accuracy: outputs PASSED / FAILED with their agreement; layers as a table and bars on a log scale', () => {
  const picture = reportPicture(report);
  const html = parseXml(picture['text/html']);
  assert.ok(textOf(byClass(html, 'jp-webtrt-headline')[0]).includes('FAILED: logits'));

  const outputRows = allElements(byClass(html, 'jp-webtrt-accuracy-outputs-table')[0]).filter(
    element => element.attrs['data-output'] !== undefined
  );
  assert.deepEqual(
    outputRows.map(row => [row.attrs['data-output'], row.attrs['data-mismatches']]),
    [
      ['logits', '3'],
      ['features', '0']
    ]
  );
  assert.match(textOf(outputRows[0]), /50\.0% \/ 100\.0%.*FAILED/);
  assert.match(textOf(outputRows[1]), /–PASSED$/);

  const layerRows = allElements(byClass(html, 'jp-webtrt-accuracy-layers-table')[0]).filter(
    element => element.attrs['data-layer'] !== undefined
  );
  assert.deepEqual(
    layerRows.map(row => row.attrs['data-layer']),
    ['/Conv_4', '/Gemm_0', '/Pool']
  );
  assert.ok(textOf(layerRows[0]).includes('inf'));

  // The chart is the report's stand-alone picture; an infinite error fills it, the others
  // are as long as their error's logarithm.
  const svg = parseXml(picture['image/svg+xml']!);
  const bars = byClass(svg, 'jp-webtrt-accuracy-bar');
  assert.deepEqual(
    bars.map(bar => [bar.attrs['data-layer'], bar.attrs['data-precision']]),
    [
      ['/Conv_4', 'int8'],
      ['/Gemm_0', 'int8'],
      ['/Pool', 'fp32']
    ]
  );
  const widths = bars.map(bar =>
    Number(allElements(bar).find(e => e.name === 'rect')!.attrs.width)
  );
  assert.ok(widths[0] > widths[1] && widths[1] > widths[2] && widths[2] > 1, widths.join());
  assert.ok(textOf(svg).includes('1e-2'), 'a tick at each power of ten');
});
