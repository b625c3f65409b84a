import assert from 'node:assert/strict';
import { test } from 'node:test';

import { markupToString } from '../../src/lab/views/markup';
import {
  profileTable,
  TIMELINE_GEOMETRY,
  timelineLayout,
  timelinePicture
} from '../../src/lab/views/timeline';
import { threeLayerProfile } from './fixtures';
import { allElements, byClass, parseXml, textOf } from './xml';

test('each layer starts where the layer before it in its iteration ended; iterations follow each other', () => {
  const profile = threeLayerProfile();
  const layout = timelineLayout(profile);
  assert.equal(layout.lanes.length, profile.layers.length);
  let clock = 0;
  for (let iteration = 0; iteration < profile.iterations; iteration++) {
    assert.equal(layout.iterations[iteration].startMs, clock);
    for (const [l, lane] of layout.lanes.entries()) {
      const block = lane.blocks[iteration];
      assert.equal(block.iteration, iteration);
      assert.equal(block.startMs, clock, `${lane.layer.name}, iteration ${iteration}: start`);
      assert.equal(block.endMs - block.startMs, profile.layers[l].timesMs[iteration]);
      clock = block.endMs;
    }
    assert.equal(layout.iterations[iteration].endMs, clock);
  }
  const everyTime = profile.layers.flatMap(layer => layer.timesMs);
  assert.equal(
    layout.totalMs,
    everyTime.reduce((sum, t) => sum + t, 0)
  );
});

test('the picture: one lane per layer, blocks at their times on the shared axis, none for a layer taking no time', () => {
  const profile = threeLayerProfile();
  const layout = timelineLayout(profile);
  const svg = parseXml(markupToString(timelinePicture(profile)));
  assert.equal(svg.attrs['data-lanes'], '3');
  assert.equal(svg.attrs['data-iterations'], '3');
  const lanes = byClass(svg, 'jp-webtrt-lane');
  assert.deepEqual(
    lanes.map(lane => lane.attrs['data-layer']),
    profile.layers.map(layer => layer.name)
  );
  const pixelsPerMs = TIMELINE_GEOMETRY.plotWidth / layout.totalMs;
  for (const [l, lane] of lanes.entries()) {
    const blocks = byClass(lane, 'jp-webtrt-block');
    const timed = layout.lanes[l].blocks.filter(block => block.endMs > block.startMs);
    assert.equal(
      blocks.length,
      timed.length,
      `${lane.attrs['data-layer']}: a block per timed iteration`
    );
    for (const [b, block] of blocks.entries()) {
      assert.ok(Math.abs(Number(block.attrs['data-start-ms']) - timed[b].startMs) <= 5e-5);
      assert.ok(Math.abs(Number(block.attrs['data-end-ms']) - timed[b].endMs) <= 5e-5);
      assert.ok(Math.abs(Number(block.attrs.x) - timed[b].startMs * pixelsPerMs) <= 0.05);
      assert.ok(
        Math.abs(Number(block.attrs.width) - (timed[b].endMs - timed[b].startMs) * pixelsPerMs) <=
          0.1
      );
    }
  }
  assert.equal(byClass(svg, 'jp-webtrt-iteration-edge').length, profile.iterations - 1);
  const firstLaneHover = textOf(lanes[0]);
  for (const detail of ['FusedConv', 'fp32', 'direct 8x8', '/BatchNormalization_0']) {
    assert.ok(firstLaneHover.includes(detail), `hover names ${detail}`);
  }
  assert.ok(
    allElements(svg).some(e => e.name === 'text' && textOf(e) === '0.0 ms'),
    'the axis starts at 0 ms'
  );
});

test('a layer with a time missing for an iteration is an error naming it', () => {
  const profile = threeLayerProfile();
  profile.layers[2].timesMs.pop();
  assert.throws(() => timelineLayout(profile), /layer '\/Gemm_0' has 2 times for 3 iterations/);
});

test('the --dumpProfile table lists layers slowest first, their shares adding up to 100%', () => {
  const table = parseXml(markupToString(profileTable(threeLayerProfile())));
  const rows = allElements(table).filter(
    e => e.name === 'tr' && e.attrs['data-layer'] !== undefined
  );
  assert.deepEqual(
    rows.map(row => row.attrs['data-layer']),
    ['/Gemm_0', '/Conv_0 + /BatchNormalization_0 + /Relu_0', '/Flatten_0']
  );
  const shares = rows.map(row =>
    parseFloat(
      textOf(
        allElements(row)
          .filter(e => e.name === 'td')
          .pop()!
      )
    )
  );
  // Medians 1 ms, 0.25 ms and 0 ms.
  assert.deepEqual(shares, [80, 20, 0]);
});
