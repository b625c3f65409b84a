/**
 * The accuracy report: errors, tolerances and classifier agreement checked against values
 * computed here from float16 rounding (an FP16 engine against the CPU reference), the
 * layers of small_cnn's FP16 engine against its FP32 engine, and the layerPrecisions that
 * move the worst INT8 layers to FP16.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { build } from '../../src/engine/builder/build';
import { float16BitsToNumber, numberToFloat16Bits } from '../../src/engine/ir/dtype';
import { Tensor } from '../../src/engine/ir/tensor';
import { importOnnx } from '../../src/engine/onnx/index';
import { calibrate } from '../../src/engine/quant/calibrate';
import { int8Scale } from '../../src/engine/quant/calibrators';
import { compareAccuracy, fallbackWorstInt8Layers } from '../../src/engine/reports/accuracy';
import { reportText } from '../../src/engine/reports/text';
import type { AccuracyReport, ErrorStats } from '../../src/engine/reports/types';
import { buildGraph, node } from '../builder/passes/graphs';
import { testDevice, UNTUNED } from '../helpers/gpu';
import { randomTensor } from '../helpers/random';

const toHalf = (value: number) => float16BitsToNumber(numberToFloat16Bits(value));

/** Relu of positive values: its FP16 layer gives each value rounded to float16. */
const relu = buildGraph({
  inputs: { x: [2, 3] },
  outputs: ['y'],
  nodes: [node('Relu', ['x'], 'y')]
});
/** Row 0's top two classes are one float16 value apart: FP16 ties them, the lower wins. */
const inputSets = [
  [1, 1.0001, 0.5, 0.1, 0.9, 0.3],
  [2, 0.25, 3.3, 7.77, 0.001, 5]
].map(values => ({ x: Tensor.fromNumbers('float32', [2, 3], values) }));

describe('accuracy report', () => {
  test('errors and mismatches are those of float16 rounding; top-1 and top-5 agreement', async () => {
    const engine = await build(relu, { ...UNTUNED, precision: 'fp16' }, await testDevice());
    try {
      const atol = 1e-4;
      const report = await compareAccuracy(engine, relu, inputSets, {
        source: 'relu',
        inputs: 'two sets',
        atol,
        rtol: 0
      });
      const b = inputSets.flatMap(({ x }) => [...x.toNumbers()]);
      const absolute = b.map(value => Math.abs(toHalf(value) - value));
      const relative = absolute.map((error, i) => error / b[i]);
      const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);
      const expected: ErrorStats = {
        elements: 12,
        maxAbsolute: Math.max(...absolute),
        meanAbsolute: sum(absolute) / 12,
        maxRelative: Math.max(...relative),
        meanRelative: sum(relative) / 12,
        relativeL2: Math.sqrt(sum(absolute.map(e => e * e)) / sum(b.map(v => v * v))),
        mismatches: absolute.filter(error => error > atol).length,
        nonFinite: 0
      };
      const [output] = report.outputs;
      assert.equal(output.name, 'y');
      assert.deepEqual(output.shape, [2, 3]);
      assertStatsClose(output.error, expected);
      assert.ok(expected.mismatches > 0 && expected.mismatches < 12, 'both kinds of element');
      // [1, 1.0001, 0.5] is [1, 1, 0.5] in float16: top-1 class 0, not 1.
      assert.deepEqual(output.agreement, { rows: 4, top1: 0.75, top5: 1 });
      assert.equal(report.iterations, 2);
      assert.equal(report.reference, 'CPU reference ops');
      // The Relu layer's tensor is the output itself.
      assert.deepEqual(
        report.layers.map(row => [row.layer, row.precision, row.tensor]),
        [['Relu:y', 'fp16', 'y']]
      );
      assertStatsClose(report.layers[0].error, expected);
      const text = reportText(report);
      assert.match(text, /^compare +fp16 engine against CPU reference ops$/m);
      assert.match(
        text,
        new RegExp(`^ {2}y +\\[2, 3\\] .* ${expected.mismatches} of 12 +FAILED$`, 'm')
      );
      assert.match(text, /^ {4}top-1 agreement 75\.0%, top-5 100\.0% of 4 rows$/m);
      assert.match(text, /^result +FAILED: 'y' outside the tolerance$/m);
    } finally {
      engine.destroy();
    }
  });

  test('small_cnn FP16 against FP32: every layer compared, worst first; it passes at its smallest atol', async () => {
    const graph = importOnnx(new Uint8Array(readFileSync('examples/models/small_cnn.onnx')));
    const device = await testDevice();
    const config = { ...UNTUNED, shapes: { input: [1, 3, 32, 32] } };
    const candidate = await build(graph, { ...config, precision: 'fp16' }, device);
    const reference = await build(graph, { ...config, precision: 'fp32' }, device);
    try {
      const sets = [1, 2].map(seed => ({ input: randomTensor([1, 3, 32, 32], { seed }) }));
      const compare = (options: { atol?: number; rtol?: number; perLayer?: boolean }) =>
        compareAccuracy(candidate, reference, sets, {
          source: 'small_cnn',
          inputs: 'random',
          ...options
        });
      const report = await compare({});
      const { error } = report.outputs[0];
      assert.ok(error.maxAbsolute > 0 && error.mismatches > 0, 'FP16 rounding shows at 1e-5');
      assert.equal(report.outputs[0].agreement?.rows, 2);

      // Every layer that computes, but the two reformats (the input to FP16, logits to FP32).
      const computing = candidate.layers.filter(l => l.dispatches > 0 && l.opType !== 'Cast');
      assert.equal(candidate.layers.filter(l => l.opType === 'Cast').length, 2);
      assert.deepEqual(
        report.layers.map(row => row.layer).sort(),
        computing.map(l => l.name).sort()
      );
      assert.ok(report.layers.every(row => row.precision === 'fp16'));
      const errors = report.layers.map(row => row.error.relativeL2 ?? Infinity);
      assert.deepEqual(
        errors,
        [...errors].sort((x, y) => y - x)
      );
      assert.ok(
        errors.every(e => e > 0 && e < 1e-2),
        errors.join()
      );
      // The layer that computes the output reports the output's errors.
      const last = report.layers.find(row => row.tensor === 'logits');
      assert.deepEqual(last?.error, error);

      // maxAbsolute is the smallest atol that passes with rtol 0; maxRelative the smallest rtol.
      const passes = async (atol: number, rtol: number) =>
        (await compare({ atol, rtol, perLayer: false })).outputs[0].error.mismatches === 0;
      assert.equal(await passes(error.maxAbsolute, 0), true);
      assert.equal(await passes(error.maxAbsolute * 0.99, 0), false);
      assert.equal(await passes(0, error.maxRelative!), true);
      assert.equal(await passes(0, error.maxRelative! * 0.99), false);

      // Layers read back through a re-recorded engine leave the outputs as they were.
      const outputsOnly = await compare({ perLayer: false });
      assert.deepEqual(outputsOnly.outputs, report.outputs);
      assert.deepEqual(outputsOnly.layers, []);
    } finally {
      candidate.destroy();
      reference.destroy();
    }
  });

  test('fallbackWorstInt8Layers holds the ONNX nodes of the worst INT8 layers to fp16', () => {
    const row = (
      layer: string,
      precision: 'fp16' | 'int8',
      fusedNodes: string[],
      relativeL2: number
    ) => ({
      layer,
      opType: 'FusedConv',
      precision,
      fusedNodes,
      tensor: `${layer}_out`,
      error: { ...ZERO_ERROR, relativeL2 }
    });
    const report: AccuracyReport = {
      kind: 'accuracy',
      source: 'm.onnx',
      device: 'd',
      candidate: 'int8 engine',
      reference: 'fp32 engine',
      tolerances: { atol: 1e-5, rtol: 1e-5 },
      iterations: 1,
      inputs: 'random',
      outputs: [],
      layers: [
        row('/c3', 'fp16', ['/c3'], 0.5),
        row('/c2', 'int8', ['/c2', '/r2'], 0.3),
        row('/c1', 'int8', ['/c1'], 0.2),
        row('/c0', 'int8', ['/c0'], 0.1)
      ]
    };
    assert.deepEqual(fallbackWorstInt8Layers(report, 2), {
      layers: ['/c2', '/c1'],
      layerPrecisions: { '/c2': 'fp16', '/r2': 'fp16', '/c1': 'fp16' }
    });
    assert.deepEqual(fallbackWorstInt8Layers(report, 9).layers, ['/c2', '/c1', '/c0']);
    // The error a layer adds on its own ranks it before the error it inherits.
    const added = (relativeL2: number) => ({ addedError: { ...ZERO_ERROR, relativeL2 } });
    report.layers[1] = { ...report.layers[1], ...added(0.05) };
    report.layers[3] = { ...report.layers[3], ...added(0.25) };
    assert.deepEqual(fallbackWorstInt8Layers(report, 2).layers, ['/c0', '/c1']);
  });

  test('INT8 small_cnn: each INT8 layer reports the error it adds from the reference inputs', async () => {
    const graph = importOnnx(new Uint8Array(readFileSync('examples/models/small_cnn.onnx')));
    const device = await testDevice();
    const input = randomTensor([1, 3, 32, 32], { low: -1, high: 1, seed: 5 });
    const calibration = await calibrate(graph, [{ input }], device, {
      calibrator: { kind: 'minmax' }
    });
    const int8Scales = Object.fromEntries(
      [...calibration.amax].map(([name, amax]) => [name, int8Scale(amax)])
    );
    const config = { ...UNTUNED, shapes: { input: [1, 3, 32, 32] } };
    const candidate = await build(graph, { ...config, precision: 'int8', int8Scales }, device);
    const reference = await build(graph, { ...config, precision: 'fp32' }, device);
    try {
      const report = await compareAccuracy(candidate, reference, [{ input }], {
        source: 'small_cnn',
        inputs: 'random'
      });
      const int8Rows = report.layers.filter(row => row.precision === 'int8');
      assert.ok(int8Rows.length >= 5, `${int8Rows.length} INT8 layers compared`);
      for (const row of int8Rows) {
        assert.ok((row.addedError?.relativeL2 ?? 0) > 0, `${row.layer}: no added error`);
      }
      assert.ok(report.layers.every(row => row.precision === 'int8' || !row.addedError));
      // The first layer reads the graph input, the same on both sides: all its error is its own.
      const first = candidate.layers.find(layer => layer.precision === 'int8')!;
      const row = int8Rows.find(r => r.layer === first.name)!;
      const [own, total] = [row.addedError!.relativeL2!, row.error.relativeL2!];
      assert.ok(Math.abs(own - total) <= 1e-3 * total, `added ${own}, total ${total}`);
    } finally {
      candidate.destroy();
      reference.destroy();
    }
  });
});

const ZERO_ERROR: ErrorStats = {
  elements: 1,
  maxAbsolute: 0,
  meanAbsolute: 0,
  maxRelative: 0,
  meanRelative: 0,
  relativeL2: 0,
  mismatches: 0,
  nonFinite: 0
};

/** Equal counts; statistics equal but for the order of summation. */
function assertStatsClose(actual: ErrorStats, expected: ErrorStats): void {
  for (const key of Object.keys(expected) as (keyof ErrorStats)[]) {
    const [a, e] = [actual[key], expected[key]];
    assert.ok(
      a !== null && e !== null && Math.abs(a - e) <= 1e-12 * Math.abs(e),
      `${key}: ${a} != ${e}`
    );
  }
}
