import assert from 'node:assert/strict';
import { test } from 'node:test';

import { reportMimeType, reportText } from '../../src/engine';
import { reportBundle } from '../../src/lab/bundle';
import { smallCnnReports } from './fixtures';
import { parseXml } from './xml';

test('every report goes out as its webtrt type, as text and as HTML, and survives a saved notebook', async () => {
  for (const report of await smallCnnReports()) {
    const bundle = reportBundle(report);
    const mimeType = reportMimeType(report.kind);
    assert.equal(mimeType, `application/vnd.webtrt.${report.kind}+json`);
    assert.equal(bundle[mimeType], report);
    assert.equal(bundle['text/plain'], reportText(report));
    assert.ok(typeof bundle['text/html'] === 'string' && parseXml(bundle['text/html']));
    // A notebook file keeps the bundle as JSON: what comes back is the report and its forms.
    assert.deepEqual(JSON.parse(JSON.stringify(bundle)), { ...bundle, [mimeType]: report });
    const forms = Object.keys(bundle).sort();
    const expected = [mimeType, 'text/html', 'text/plain'];
    if (['model', 'engine', 'conversion', 'profile', 'bench'].includes(report.kind)) {
      expected.push('image/svg+xml');
    }
    assert.deepEqual(forms, expected.sort(), report.kind);
  }
});
