/**
 * INT8 in the notebook on real WebGPU (Dawn on SwiftShader): `%trt calibrate` over .npy
 * batches in the notebook's files, `%trt convert --precision int8 --calib` and `%trt bench`'s
 * int8 mode, with the errors a user can make in each.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import {
  AccuracyReport,
  BenchReport,
  calibrate,
  CalibrationReport,
  encodeNpy,
  EngineReport,
  importOnnx,
  readCalibrationCache,
  reportMimeType,
  Tensor
} from '../../src/engine';
import { runMagic } from '../../src/lab/magics/index';
import { testDevice } from '../helpers/gpu';
import { displayedReport, magicError, SMALL_CNN, testContext } from '../helpers/magic-context';
import { MemoryFiles } from '../helpers/memory-files';
import { randomTensor } from '../helpers/random';
import { encodeModel, tensorInfo } from '../onnx/build';

/** Three batches of small_cnn's input, as numpy.save would write them. */
const BATCHES = [1, 2, 3].map(seed => randomTensor([2, 3, 32, 32], { low: -1, high: 1, seed }));

function calibrationFiles(extra: Record<string, Uint8Array | string> = {}): MemoryFiles {
  return new MemoryFiles({
    'small_cnn.onnx': SMALL_CNN,
    // Name order, not the order written, is the order of the batches.
    'calib/b2.npy': encodeNpy(BATCHES[2]),
    'calib/b0.npy': encodeNpy(BATCHES[0]),
    'calib/b1.npy': encodeNpy(BATCHES[1]),
    'calib/notes.txt': 'not a batch',
    ...extra
  });
}

/** small_cnn's cache, made once by `%trt calibrate` for the tests that need one. */
let cache: string;

before(async () => {
  const context = testContext({ files: calibrationFiles() });
  await runMagic('%trt calibrate small_cnn.onnx --data calib/ --calibrator minmax', context);
  cache = context.files.text('small_cnn.calib');
});

describe('%trt calibrate', () => {
  test("writes TensorRT's cache of the scales the engine's calibrate() gives, with progress per batch", async () => {
    const context = testContext({ files: calibrationFiles() });
    await runMagic(
      '%trt calibrate small_cnn.onnx --data calib --calibrator minmax -o out/cnn.calib',
      context
    );
    assert.deepEqual(context.files.writes, ['out/cnn.calib']);
    const written = readCalibrationCache(context.files.text('out/cnn.calib'));
    assert.equal(written.calibrator, 'minmax');
    const expected = await calibrate(
      importOnnx(SMALL_CNN),
      BATCHES.map(input => ({ input })),
      await testDevice(),
      {
        calibrator: { kind: 'minmax' }
      }
    );
    assert.deepEqual([...written.scales.keys()], [...expected.amax.keys()]);
    for (const [name, amax] of expected.amax) {
      assert.equal(written.scales.get(name), Math.fround(amax / 127), name);
    }

    const report = displayedReport<CalibrationReport>(context.outputs, 'calibration');
    assert.equal(report.source, 'small_cnn.onnx');
    assert.equal(report.calibrator, 'minmax');
    assert.equal(report.batches, 3);
    assert.deepEqual(report.cache, {
      path: 'out/cnn.calib',
      bytes: context.files.files.get('out/cnn.calib')!.byteLength
    });
    assert.deepEqual(
      report.tensors.map(t => t.name),
      [...expected.amax.keys()]
    );
    assert.deepEqual(
      context.progressUpdates.map(u => `${u.done}/${u.total}`),
      ['0/3', '1/3', '2/3', '3/3']
    );
    assert.ok(context.progressUpdates.every(u => u.title === 'Calibrating small_cnn.onnx'));
    assert.equal(context.progressUpdates[1].detail, 'batch 2 of 3');
  });

  test('%%trt takes the options as YAML; percentile caches carry the entropy header', async () => {
    const context = testContext({ files: calibrationFiles() });
    await runMagic(
      '%%trt calibrate small_cnn.onnx\ndata: calib/\ncalibrator: percentile\npercentile: 99.9\noutput: p.calib',
      context
    );
    assert.deepEqual(context.files.writes, ['p.calib']);
    assert.match(context.files.text('p.calib'), /^TRT-\d+-EntropyCalibration2\n/);
    const report = displayedReport<CalibrationReport>(context.outputs, 'calibration');
    assert.equal(report.calibrator, 'percentile 99.9');
  });

  test('a model of several inputs takes one subfolder per batch, an <input name>.npy in each', async () => {
    const twoInputs = encodeModel({
      name: 'sum',
      node: [{ name: 'add', opType: 'Add', input: ['x', 'y'], output: ['s'] }],
      input: [tensorInfo('x', 'float32', ['n', 4]), tensorInfo('y', 'float32', ['n', 4])],
      output: [tensorInfo('s', 'float32', ['n', 4])]
    });
    const x = Tensor.fromNumbers('float32', [1, 4], [1, -2, 3, -4]);
    const y = Tensor.fromNumbers('float32', [1, 4], [0.5, 0.5, 0.5, 8]);
    const context = testContext({
      files: new MemoryFiles({
        'sum.onnx': twoInputs,
        'data/a/x.npy': encodeNpy(x),
        'data/a/y.npy': encodeNpy(y),
        'data/loose.npy': encodeNpy(x)
      })
    });
    await runMagic('%trt calibrate sum.onnx --data data --calibrator minmax', context);
    const amax = new Map(
      displayedReport<CalibrationReport>(context.outputs, 'calibration').tensors.map(t => [
        t.name,
        t.amax
      ])
    );
    // x + y = [1.5, -1.5, 3.5, 4]
    assert.deepEqual(Object.fromEntries(amax), { x: 4, y: 8, s: 4 });

    context.files.files.delete('data/a/y.npy');
    assert.match(
      await magicError('%trt calibrate sum.onnx --data data', context),
      /^calibration batch data\/a has no y\.npy: each batch holds an <input name>\.npy for 'x', 'y'$/
    );
  });

  test('an interrupt between batches rejects with the abort and writes no cache', async () => {
    const controller = new AbortController();
    const reason = new DOMException('interrupted', 'AbortError');
    const context = testContext({
      files: calibrationFiles(),
      signal: controller.signal,
      onProgress: update => update.done === 1 && controller.abort(reason)
    });
    await assert.rejects(
      runMagic('%trt calibrate small_cnn.onnx --data calib', context),
      error => error === reason
    );
    assert.equal(context.progressUpdates.at(-1)!.done, 1);
    assert.deepEqual(context.files.writes, []);
    assert.deepEqual(context.outputs, []);
  });

  test('missing or bad data and flags are MagicErrors naming them, and nothing is written', async () => {
    const context = testContext({
      files: calibrationFiles({
        'small/b0.npy': encodeNpy(randomTensor([1, 3, 16, 16])),
        'texts/b0.npy': 'not a numpy file',
        'empty/readme.txt': 'no batches here'
      })
    });
    const cases: [string, RegExp][] = [
      ['%trt calibrate small_cnn.onnx', /^missing --data <folder>: the calibration batches/],
      ['%trt calibrate small_cnn.onnx --data nowhere', /^'nowhere' does not exist$/],
      ['%trt calibrate small_cnn.onnx --data small_cnn.onnx', /^'small_cnn\.onnx' is a file/],
      [
        '%trt calibrate small_cnn.onnx --data empty',
        /^calibration data empty holds no \.npy file: each \.npy file is one batch of input 'input'$/
      ],
      [
        '%trt calibrate small_cnn.onnx --data small',
        /^small\/b0\.npy does not fit the model: input 'input' must have shape \[batch, 3, 32, 32\], got \[1, 3, 16, 16\]$/
      ],
      ['%trt calibrate small_cnn.onnx --data texts', /^texts\/b0\.npy: not a NumPy \.npy file/],
      [
        '%trt calibrate small_cnn.onnx --data calib --percentile 99',
        /^--percentile goes with --calibrator percentile$/
      ],
      [
        '%trt calibrate small_cnn.onnx --data calib --calibrator percentile --percentile 0',
        /^--percentile must be a number above 0 and at most 100, got '0'$/
      ],
      [
        '%trt calibrate small_cnn.onnx --data calib --calibrator kl',
        /--calibrator must be one of entropy, minmax, percentile, got 'kl'/
      ],
      [
        '%trt calibrate small_cnn.wtrt --data calib',
        /calibrate builds from an ONNX model \(\.onnx\); 'small_cnn\.wtrt' is a plan/
      ]
    ];
    for (const [source, message] of cases) {
      assert.match(await magicError(source, context), message, source);
    }
    assert.deepEqual(context.files.writes, []);
  });
});

describe('%trt convert --precision int8', () => {
  test("--calib gives the builder the cache's scales: Conv and GEMM layers run in INT8", async () => {
    const context = testContext({
      files: new MemoryFiles({ 'small_cnn.onnx': SMALL_CNN, 'small_cnn.calib': cache })
    });
    await runMagic(
      '%trt convert small_cnn.onnx --shapes input:1x3x32x32 --optimization-level 0 --precision int8 --calib small_cnn.calib',
      context
    );
    assert.deepEqual(context.files.writes, ['small_cnn.wtrt']);
    const report = displayedReport<EngineReport>(context.outputs, 'engine');
    assert.equal(report.precision, 'int8');
    const int8 = report.layers.filter(layer => layer.precision === 'int8');
    assert.ok(int8.length > 0, `INT8 layers, got ${report.layers.map(l => l.precision).join(' ')}`);
    assert.ok(int8.every(layer => /^Int8(Conv|MatMul)$/.test(layer.opType)));
    context.session.releaseEngines();
  });

  test('int8 without --calib, --calib without int8, and a foreign or broken cache are refused', async () => {
    const otherModel = encodeModel({
      name: 'other',
      node: [{ name: 'relu', opType: 'Relu', input: ['a'], output: ['b'] }],
      input: [tensorInfo('a', 'float32', [1, 4])],
      output: [tensorInfo('b', 'float32', [1, 4])]
    });
    const context = testContext({
      files: new MemoryFiles({
        'small_cnn.onnx': SMALL_CNN,
        'small_cnn.calib': cache,
        'other.onnx': otherModel,
        'broken.calib': 'TRT-100300-EntropyCalibration2\ninput 3c010204\n'
      })
    });
    const convert = '%trt convert small_cnn.onnx --shapes input:1x3x32x32';
    const cases: [string, RegExp][] = [
      [
        `${convert} --precision int8`,
        /^--precision int8 needs INT8 scales: give --calib model\.calib, a calibration cache that %trt calibrate writes \(small_cnn\.onnx has no QuantizeLinear/
      ],
      [
        `${convert} --precision fp16 --calib small_cnn.calib`,
        /^--calib gives INT8 scales: it needs --precision int8 or best, not fp16$/
      ],
      [
        '%trt convert other.onnx --precision int8 --calib small_cnn.calib',
        /^small_cnn\.calib holds no scale for a tensor of other\.onnx: it was calibrated for another model$/
      ],
      [
        `${convert} --precision best --calib broken.calib`,
        /^broken\.calib, line 2: expected '<tensor name>: <hex scale>'/
      ],
      [`${convert} --precision int8 --calib none.calib`, /^'none\.calib' does not exist$/]
    ];
    for (const [source, message] of cases) {
      assert.match(await magicError(source, context), message, source);
    }
    assert.deepEqual(context.files.writes, []);
    assert.equal(context.progressUpdates.length, 0, 'nothing was built');
  });
});

describe('%trt bench --precision int8', () => {
  test('times an INT8 engine built with the scales of --calib beside FP32', async () => {
    const context = testContext({
      files: new MemoryFiles({ 'small_cnn.onnx': SMALL_CNN, 'small_cnn.calib': cache })
    });
    await runMagic(
      '%trt bench small_cnn.onnx --precision fp32,int8 --calib small_cnn.calib --iterations 2 --optimization-level 0',
      context
    );
    const report = displayedReport<BenchReport>(context.outputs, 'bench');
    assert.deepEqual(report.skipped, []);
    assert.deepEqual(
      report.rows.map(row => `${row.mode} ${row.batch}`),
      ['fp32 1', 'int8 1']
    );
    assert.ok(report.rows.every(row => row.latency.count === 2 && row.throughput > 0));
  });

  test('int8 without --calib is refused before anything is timed', async () => {
    const context = testContext({ files: new MemoryFiles({ 'small_cnn.onnx': SMALL_CNN }) });
    assert.match(
      await magicError('%trt bench small_cnn.onnx --precision native,int8', context),
      /^--precision int8 needs INT8 scales: give --calib model\.calib/
    );
    assert.match(
      await magicError(
        '%trt bench small_cnn.onnx --precision native,fp32 --calib small_cnn.calib',
        context
      ),
      /^--calib gives INT8 scales: it needs --precision int8 or best, not native,fp32$/
    );
    assert.equal(context.progressUpdates.length, 0);
  });
});

describe('%trt compare', () => {
  test('an INT8 engine of --calib against the FP32 engine on the batches of --data', async () => {
    const context = testContext({ files: calibrationFiles({ 'small_cnn.calib': cache }) });
    await runMagic(
      '%trt compare small_cnn.onnx --precision int8 --calib small_cnn.calib --data calib --iterations 2 --optimization-level 0',
      context
    );
    const report = displayedReport<AccuracyReport>(context.outputs, 'accuracy');
    assert.equal(report.source, 'small_cnn.onnx');
    assert.equal(report.candidate, 'int8 engine');
    assert.equal(report.reference, 'fp32 engine');
    assert.equal(report.iterations, 2);
    assert.equal(report.inputs, 'calib (2 of 3 batches)');
    const [logits] = report.outputs;
    assert.equal(logits.name, 'logits');
    assert.deepEqual(logits.shape, [2, 10]);
    // INT8 is not FP32: the logits differ, a little.
    assert.ok(logits.error.maxAbsolute > 0);
    assert.equal(logits.agreement?.rows, 4);
    assert.ok(report.layers.some(layer => layer.precision === 'int8'));
    assert.deepEqual(context.files.writes, []);
    assert.equal(context.progressUpdates.at(-1)?.title, 'Comparing small_cnn.onnx');
  });

  test('--fallback-worst shows the engine rebuilt with the INT8 layers that add most error held to FP16', async () => {
    const context = testContext({ files: calibrationFiles({ 'small_cnn.calib': cache }) });
    await runMagic(
      '%trt compare small_cnn.onnx --precision int8 --calib small_cnn.calib --data calib --iterations 1 --optimization-level 0 --fallback-worst 2',
      context
    );
    const reports = context.outputs
      .map(bundle => bundle[reportMimeType('accuracy')] as AccuracyReport | undefined)
      .filter((report): report is AccuracyReport => report !== undefined);
    assert.equal(reports.length, 2);
    const [first, rebuilt] = reports;
    const int8Layers = (report: AccuracyReport) =>
      new Set(report.layers.filter(row => row.precision === 'int8').map(row => row.layer));
    const held = [...int8Layers(first)].filter(layer => !int8Layers(rebuilt).has(layer));
    assert.equal(held.length, 2);
    assert.match(rebuilt.candidate, /^int8 engine, 2 INT8 layers held to FP16 \(.+, .+\)$/);
    for (const layer of held) {
      assert.ok(rebuilt.candidate.includes(layer), layer);
    }
    context.session.releaseEngines();
  });

  test('a plan against the CPU reference ops; build options with a plan are refused', async () => {
    const context = testContext({ files: calibrationFiles() });
    await runMagic(
      '%trt convert small_cnn.onnx --shapes input:1x3x32x32 --optimization-level 0',
      context
    );
    context.outputs.length = 0;
    await runMagic('%trt compare small_cnn.onnx --plan small_cnn.wtrt --reference cpu', context);
    const report = displayedReport<AccuracyReport>(context.outputs, 'accuracy');
    assert.equal(report.candidate, 'small_cnn.wtrt (fp32 engine)');
    assert.equal(report.reference, 'CPU reference ops');
    assert.equal(report.inputs, 'random uniform [0, 1)');
    assert.ok(report.outputs[0].error.maxAbsolute < 1e-3, 'FP32 on WebGPU is the CPU reference');
    assert.match(
      await magicError(
        '%trt compare small_cnn.onnx --plan small_cnn.wtrt --precision fp16',
        context
      ),
      /^--precision configures a build: the plan small_cnn\.wtrt keeps the configuration it was built with$/
    );
    assert.match(
      await magicError('%trt compare small_cnn.onnx --atol -1', context),
      /^--atol must be a number of at least 0, got '-1'$/
    );
    context.session.releaseEngines();
  });
});
