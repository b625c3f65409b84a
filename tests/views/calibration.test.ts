import assert from 'node:assert/strict';
import { test } from 'node:test';

import { CalibrationReport, reportText } from '../../src/engine';
import { reportPicture } from '../../src/lab/views';
import { allElements, byClass, parseXml, textOf } from './xml';

const report: CalibrationReport = {
  kind: 'calibration',
  source: 'small_cnn.onnx',
  device: 'google swiftshader',
  calibrator: 'entropy',
  batches: 3,
  cache: { path: 'small_cnn.calib', bytes: 812 },
  tensors: [
    { name: 'input', min: -1, max: 1, amax: 1, scale: 1 / 127 },
    { name: '/layer/relu', min: 0, max: 8, amax: 4, scale: 4 / 127 }
  ]
};

test('calibration: a row per tensor with its range, amax and scale; clipped ones marked', () => {
  const html = parseXml(reportPicture(report)['text/html']);
  const rows = allElements(byClass(html, 'jp-webtrt-calibration-table')[0]).filter(
    element => element.attrs['data-tensor'] !== undefined
  );
  assert.deepEqual(
    rows.map(row => [row.attrs['data-tensor'], Number(row.attrs['data-amax'])]),
    [
      ['input', 1],
      ['/layer/relu', 4]
    ]
  );
  assert.ok(!textOf(rows[0]).includes('clipped'));
  assert.ok(textOf(rows[1]).includes('clipped 50.0%'));
  assert.ok(textOf(html).includes('small_cnn.calib'));
  const text = reportText(report);
  assert.match(text, /^calibrator entropy over 3 batches$/m);
  assert.match(text, /^tensors +2 tensors, 1 clipped below their largest value$/m);
  assert.match(text, /^ {2}\/layer\/relu +0 +8 +4 +50\.0% +0\.0314961$/m);
});
