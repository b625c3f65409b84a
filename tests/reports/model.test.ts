import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { onnx } from 'onnx-proto';
import { importOnnx } from '../../src/engine/onnx/index';
import { modelReport } from '../../src/engine/reports/model';
import { GENERATED_MODELS } from '../models/oracle';

const SMALL_CNN = `${GENERATED_MODELS}/small_cnn.onnx`;

describe('modelReport', () => {
  test('small_cnn: ops, parameters, inputs and partitions, counted from the ONNX file itself', () => {
    const bytes = new Uint8Array(readFileSync(SMALL_CNN));
    const report = modelReport(importOnnx(bytes), {
      path: SMALL_CNN,
      bytes: bytes.length,
      importMs: 2.5
    });

    const proto = onnx.ModelProto.decode(bytes);
    const nodes = (proto.graph?.node ?? []).filter(node => node.opType !== 'Constant');
    const counts = new Map<string, number>();
    nodes.forEach(node => counts.set(node.opType!, (counts.get(node.opType!) ?? 0) + 1));
    assert.deepEqual(
      new Map(report.ops.map(entry => [entry.op, entry.count])),
      counts,
      'op histogram'
    );
    assert.ok(report.ops.every(entry => entry.support === 'webgpu'));
    const sorted = report.ops.map(entry => entry.count);
    assert.deepEqual(
      sorted,
      [...sorted].sort((a, b) => b - a),
      'most frequent first'
    );

    // The importer folds Constant nodes into initializers: their tensors are parameters too.
    const initializers = [
      ...(proto.graph?.initializer ?? []),
      ...(proto.graph?.node ?? []).flatMap(node =>
        node.opType === 'Constant' ? (node.attribute ?? []).flatMap(a => (a.t ? [a.t] : [])) : []
      )
    ];
    const elements = initializers.reduce(
      (sum, tensor) => sum + (tensor.dims ?? []).reduce((n: number, d) => n * Number(d), 1),
      0
    );
    assert.ok(initializers.every(tensor => tensor.dataType === onnx.TensorProto.DataType.FLOAT));
    assert.equal(report.parameters.tensors, initializers.length);
    assert.equal(report.parameters.elements, elements);
    assert.equal(report.parameters.bytes, elements * 4, 'float32 weights');

    assert.equal(report.nodes, nodes.length);
    assert.deepEqual(report.inputs, [
      { name: 'input', dtype: 'float32', shape: ['batch', 3, 32, 32] }
    ]);
    assert.equal(report.opsets[''], Number(proto.opsetImport?.find(o => !o.domain)?.version));
    assert.deepEqual(report.partitions.segments, [
      { id: 'engine 0', kind: 'engine', nodes: nodes.length }
    ]);
    assert.equal(report.partitions.nodes.length, nodes.length + 2);
    assert.deepEqual(
      { path: report.path, bytes: report.bytes, importMs: report.importMs },
      { path: SMALL_CNN, bytes: bytes.length, importMs: 2.5 }
    );
    assert.deepEqual(JSON.parse(JSON.stringify(report)), report);
  });

  test('the segment options reach the partitions', () => {
    const graph = importOnnx(new Uint8Array(readFileSync(SMALL_CNN)));
    const source = { path: 'small_cnn.onnx', bytes: 0, importMs: 0 };
    // A model one engine computes whole is one engine, however large the minimum.
    assert.deepEqual(
      modelReport(graph, source, { minimumSegmentSize: graph.nodes.length + 1 }).partitions
        .segments,
      [{ id: 'engine 0', kind: 'engine', nodes: graph.nodes.length }]
    );
    const split = modelReport(graph, source, {
      denyOps: ['GlobalAveragePool'],
      minimumSegmentSize: graph.nodes.length
    }).partitions.segments;
    assert.ok(split.length > 2);
    assert.ok(split.every(segment => segment.kind === 'fallback'));
    assert.ok(
      split.some(segment =>
        segment.reason?.endsWith(`< minimum_segment_size ${graph.nodes.length}`)
      )
    );
  });
});
