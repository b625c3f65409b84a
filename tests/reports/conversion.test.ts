import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { segmentGraph } from '../../src/engine/builder/segment';
import { importOnnx } from '../../src/engine/onnx/index';
import { conversionReport, segmentationSummary } from '../../src/engine/reports/conversion';
import { reportText } from '../../src/engine/reports/text';
import { convert } from '../../src/engine/runtime/converted';
import { testDevice, UNTUNED } from '../helpers/gpu';
import { GENERATED_MODELS } from '../models/oracle';

const CAST_IN_MIDDLE = `${GENERATED_MODELS}/cast_in_middle.onnx`;

function load() {
  return importOnnx(new Uint8Array(readFileSync(CAST_IN_MIDDLE)), { source: CAST_IN_MIDDLE });
}

describe('conversion summary', () => {
  test("TF-TRT's numbers: engines with their nodes, borders and ops; % converted; what fell back and why", () => {
    const report = segmentationSummary(
      segmentGraph(load(), { denyOps: ['Cast'] }),
      'cast_in_middle.onnx'
    );
    assert.deepEqual(report.converted, { nodes: 9, total: 11 });
    assert.deepEqual(report.unconverted, [
      { op: 'Cast', count: 2, reasons: ['Cast is in denyOps'] }
    ]);
    assert.deepEqual(
      report.engines.map(({ segment, nodes, inputs, outputs, ops }) => ({
        segment,
        nodes,
        inputs: inputs.map(v => `${v.name} ${v.dtype} [${v.shape}]`),
        outputs: outputs.map(v => `${v.name} ${v.dtype} [${v.shape}]`),
        ops: ops.map(({ op, count }) => `${op} ${count}`)
      })),
      [
        {
          segment: 'engine 0',
          nodes: 4,
          inputs: ['input float32 [batch,3,16,16]'],
          outputs: ['relu_1 float32 [batch,8,16,16]'],
          ops: ['Conv 2', 'Relu 2']
        },
        {
          segment: 'engine 2',
          nodes: 5,
          inputs: ['cast_1 float32 [batch,8,16,16]'],
          outputs: ['logits float32 [batch,10]'],
          ops: ['Conv 1', 'Flatten 1', 'Gemm 1', 'GlobalAveragePool 1', 'Relu 1']
        }
      ]
    );
    assert.deepEqual(
      [report.minimumSegmentSize, report.denyOps, report.maximumCachedEngines],
      [3, ['Cast'], 1]
    );
    const text = reportText(report);
    assert.match(text, /\[\*\] Total number of engines: 2/);
    assert.match(text, /\[\*\] % of ops converted: 81\.82% \[9\/11\]/);
    assert.match(text, /- Cast: 2x \(Cast is in denyOps\)/);
    assert.match(text, /^engine 2 +5 +1 +1 +float32 +float32$/m);
    assert.match(text, /^ {4}inputs +cast_1 +float32 +\[batch, 8, 16, 16\]$/m);
    assert.match(text, /^ {4}outputs +logits +float32 +\[batch, 10\]$/m);
    assert.deepEqual(JSON.parse(JSON.stringify(report)), report);
  });

  test('of a converted model: its caches, and each node tagged with its segment and layer', async () => {
    const graph = load();
    const model = convert(
      graph,
      { ...UNTUNED, precision: 'fp32', denyOps: ['Cast'], maximumCachedEngines: 3 },
      await testDevice()
    );
    try {
      await model.build({ input: [2, 3, 16, 16] });
      await model.build({ input: [1, 3, 16, 16] });
      const report = conversionReport(model, 'cast_in_middle.onnx', {
        plan: { path: 'cast_in_middle.wtrt', bytes: 1234 }
      });
      const cache = report.engines[0].cache!;
      assert.deepEqual(
        [cache.capacity, cache.hits, cache.misses, cache.evictions, cache.builds],
        [3, 1, 1, 0, 1]
      );
      assert.deepEqual(
        cache.entries.map(entry => entry.shapes),
        [{ input: [2, 3, 16, 16] }]
      );
      const tagged = report.partitions.nodes.filter(node => node.role === 'op');
      assert.deepEqual(
        tagged.filter(node => node.opType === 'Cast').map(node => [node.segment, node.layer]),
        [
          ['fallback 1', undefined],
          ['fallback 1', undefined]
        ]
      );
      const conv = tagged.find(node => node.opType === 'Conv')!;
      assert.equal(conv.segment, 'engine 0');
      assert.ok(conv.layer, 'a node of an engine names its layer');
      const text = reportText(report);
      assert.match(text, /engine 0: 1 engine of 3, 1 hit, 1 miss, 0 evictions, built in/);
      assert.match(text, /plan +cast_in_middle\.wtrt: 1.21 KiB/);
    } finally {
      model.destroy();
    }
  });
});
