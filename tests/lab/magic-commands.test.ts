/**
 * The %trt commands end to end on real WebGPU (Dawn on SwiftShader): files in memory, engines
 * built untuned (optimization level 0, as every test that is not about tuning builds).
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import {
  BenchReport,
  ConversionReport,
  DeviceReport,
  encodeNpy,
  Engine,
  EngineReport,
  importOnnx,
  ModelReport,
  parseNpy,
  ProfileReport,
  runReference,
  RunReport,
  Tensor
} from '../../src/engine';
import { errorOutput, runMagic } from '../../src/lab/magics/index';
import { errorStats } from '../helpers/compare';
import { encodeModel, tensorInfo } from '../onnx/build';
import { deviceWithoutTimestamps, testDevice } from '../helpers/gpu';
import {
  displayedReport,
  magicError,
  SMALL_CNN,
  testContext,
  testSession
} from '../helpers/magic-context';
import { MemoryFiles } from '../helpers/memory-files';
import { randomTensor } from '../helpers/random';

/** small_cnn at batch 1, untuned. */
const CONVERT = '%trt convert small_cnn.onnx --shapes input:1x3x32x32 --optimization-level 0';
/** How close the engine's output must be to the CPU reference, relative to its largest value. */
const REFERENCE_TOLERANCE = 1e-4;

function inputTensor(batch: number, seed = 3): Tensor {
  return randomTensor([batch, 3, 32, 32], { seed });
}

/** The reference output of small_cnn on the CPU. */
function referenceLogits(input: Tensor): Tensor {
  return runReference(importOnnx(SMALL_CNN), { input }).logits;
}

/** The plan of small_cnn at batch 1, built once for the tests that need one. */
let plan: Uint8Array;

function filesWithPlan(extra: Record<string, Uint8Array | string> = {}): MemoryFiles {
  return new MemoryFiles({ 'small_cnn.onnx': SMALL_CNN, 'small_cnn.wtrt': plan, ...extra });
}

before(async () => {
  const context = testContext({ files: new MemoryFiles({ 'small_cnn.onnx': SMALL_CNN }) });
  await runMagic(CONVERT, context);
  plan = context.files.files.get('small_cnn.wtrt')!;
  context.session.releaseEngines();
});

describe('%trt info', () => {
  test("shows the session device's adapter, capabilities and limits", async () => {
    const context = testContext();
    await runMagic('%trt info', context);
    const report = displayedReport<DeviceReport>(context.outputs, 'device');
    const device = await testDevice();
    assert.equal(report.vendor, device.adapterInfo.vendor);
    const timestamps = report.capabilities.find(c => c.feature === 'timestamp-query');
    assert.equal(timestamps?.present, device.features.has('timestamp-query'));
    assert.equal(
      report.limits.maxStorageBufferBindingSize,
      device.limits.maxStorageBufferBindingSize
    );
  });
});

describe('%trt convert', () => {
  test('builds with progress per layer, writes a plan that loads, and keeps the engine', async () => {
    const context = testContext({ files: new MemoryFiles({ 'small_cnn.onnx': SMALL_CNN }) });
    await runMagic(CONVERT, context);

    assert.deepEqual(context.files.writes, ['small_cnn.wtrt']);
    const held = context.session.findEngine('small_cnn.wtrt');
    assert.ok(held, 'the engine is in the session under its plan path');
    const report = displayedReport<EngineReport>(context.outputs, 'engine');
    assert.equal(report, held.report);
    assert.equal(report.source, 'small_cnn.onnx');
    assert.deepEqual(report.plan, {
      path: 'small_cnn.wtrt',
      bytes: context.files.files.get('small_cnn.wtrt')!.byteLength
    });
    assert.equal(report.onnxNodes, 33);
    assert.deepEqual(report.inputs[0].shape, [1, 3, 32, 32]);

    // One update when the passes are done, then one per recorded layer, ending at the total.
    const layers = held.engine.layers.length;
    const updates = context.progressUpdates;
    assert.equal(updates.length, layers + 1);
    updates.forEach((update, i) => {
      assert.equal(update.title, 'Building small_cnn.onnx');
      assert.equal(update.total, layers);
      assert.equal(update.done, i);
    });
    assert.match(
      updates[1].detail!,
      new RegExp(`^layer 1 of ${layers}: ${held.engine.layers[0].name}$`)
    );

    const loaded = await Engine.deserialize(
      context.files.files.get('small_cnn.wtrt')!,
      await testDevice()
    );
    try {
      assert.deepEqual(
        loaded.layers.map(l => l.name),
        held.engine.layers.map(l => l.name)
      );
      const input = inputTensor(1);
      const [fromPlan, fromBuild] = await Promise.all([
        loaded.createContext().execute({ input }),
        held.engine.createContext().execute({ input })
      ]);
      assert.deepEqual(fromPlan.logits.toNumbers(), fromBuild.logits.toNumbers());
    } finally {
      loaded.destroy();
      context.session.releaseEngines();
    }
  });

  test('%%trt takes the options as YAML; -o names the plan; the settings give the defaults', async () => {
    const context = testContext({
      files: new MemoryFiles({ 'models/small_cnn.onnx': SMALL_CNN }),
      settings: { minimumSegmentSize: 40 }
    });
    await runMagic(
      '%%trt convert models/small_cnn.onnx -o plans/cnn.wtrt\nshapes: {input: [2, 3, 32, 32]}\noptimization-level: 0\ndeny-ops: [GlobalAveragePool]',
      context
    );
    assert.deepEqual(context.files.writes, ['plans/cnn.wtrt']);
    // Split at its two pools, the pieces are all under a minimum segment size of 40: no engine.
    const report = displayedReport<ConversionReport>(context.outputs, 'conversion');
    assert.equal(report.precision, 'fp32');
    assert.equal(report.minimumSegmentSize, 40);
    assert.deepEqual(report.engines, []);
    assert.deepEqual(report.converted, { nodes: 0, total: 33 });
    assert.ok(report.partitions.segments.every(s => s.kind === 'fallback'));
    context.session.releaseEngines();
  });

  test('an interrupt mid-build rejects with the abort and writes nothing', async () => {
    const controller = new AbortController();
    const reason = new DOMException('interrupted', 'AbortError');
    const context = testContext({
      files: new MemoryFiles({ 'small_cnn.onnx': SMALL_CNN }),
      signal: controller.signal,
      onProgress: update => update.done === 3 && controller.abort(reason)
    });
    await assert.rejects(runMagic(CONVERT, context), error => error === reason);
    assert.equal(context.progressUpdates.at(-1)!.done, 3, 'the build stopped at the next layer');
    assert.deepEqual(context.files.writes, []);
    assert.equal(context.session.engines.length, 0);
    assert.deepEqual(context.outputs, []);
    assert.equal(errorOutput(reason).ename, 'KeyboardInterrupt');
  });

  test('a model that does not build, a missing file and a bad model are MagicErrors naming them', async () => {
    const context = testContext({
      files: new MemoryFiles({
        'small_cnn.onnx': SMALL_CNN,
        'broken.onnx': new Uint8Array([1, 2, 3, 4, 5]),
        'unsupported.onnx': encodeModel({
          name: 'unsupported',
          node: [{ name: 'odd', opType: 'NoSuchOp', input: ['x'], output: ['y'] }],
          input: [tensorInfo('x', 'float32', [1, 3])],
          output: [tensorInfo('y', 'float32', [1, 3])]
        })
      })
    });
    assert.match(
      await magicError('%trt convert small_cnn.onnx', context),
      /^input 'input' of small_cnn\.onnx has dims of no fixed size \(\[batch, 3, 32, 32\]\): give its shape with --shapes input:\?x3x32x32, a size for each \?$/
    );
    assert.match(
      await magicError('%trt convert small_cnn.onnx --shapes input:1x3x16x32', context),
      /--shapes gives 'input' 16 in dim 2, but small_cnn\.onnx fixes it to 32/
    );
    assert.match(
      await magicError('%trt convert small_cnn.onnx --shapes image:1x3x32x32', context),
      /--shapes names 'image', which is not an input of small_cnn\.onnx \(its inputs: 'input'\)/
    );
    assert.match(
      await magicError('%trt convert unsupported.onnx --optimization-level 0', context),
      /^unsupported\.onnx uses an op that webtrt does not define, so neither an engine nor the CPU fallback can run it: 'odd' \(NoSuchOp\)$/
    );
    assert.match(
      await magicError('%trt convert missing.onnx', context),
      /^'missing\.onnx' does not exist$/
    );
    assert.match(
      await magicError('%trt convert broken.onnx', context),
      /^broken\.onnx is not an ONNX model webtrt can read: /
    );
    assert.match(
      await magicError('%trt convert small_cnn.wtrt', context),
      /convert builds from an ONNX model \(\.onnx\); 'small_cnn\.wtrt' is a plan/
    );
    assert.match(
      await magicError('%trt convert small_cnn.onnx -o small_cnn.plan', context),
      /a plan's file name ends in \.wtrt/
    );
    assert.deepEqual(context.files.writes, []);
    assert.equal(context.progressUpdates.length, 0, 'nothing was built');
  });
});

describe('%trt run', () => {
  test('a plan on a .npy input writes the engine output, which matches the CPU reference', async () => {
    const input = inputTensor(1);
    const context = testContext({ files: filesWithPlan({ 'x.npy': encodeNpy(input) }) });
    await runMagic('%trt run small_cnn.wtrt --input input=x.npy -o y.npy', context);

    assert.deepEqual(context.files.writes, ['y.npy']);
    const written = parseNpy(context.files.files.get('y.npy')!, 'y.npy');
    const { engine } = context.session.findEngine('small_cnn.wtrt')!;
    const expected = await engine.createContext().execute({ input });
    assert.deepEqual(written.shape, [1, 10]);
    assert.deepEqual(written.toNumbers(), expected.logits.toNumbers());
    const { maxRel } = errorStats(written, referenceLogits(input));
    assert.ok(maxRel <= REFERENCE_TOLERANCE, `relative error ${maxRel} against the CPU reference`);

    const report = displayedReport<RunReport>(context.outputs, 'run');
    assert.deepEqual(report.inputs, [
      { name: 'input', dtype: 'float32', shape: [1, 3, 32, 32], from: 'x.npy' }
    ]);
    const [logits] = report.outputs;
    assert.equal(logits.file, 'y.npy');
    const values = Array.from(written.toNumbers());
    assert.equal(logits.stats.max, Math.max(...values));
    assert.equal(logits.topK?.[0].index, values.indexOf(Math.max(...values)));
    assert.equal(report.latency.count, 1);
    context.session.releaseEngines();
  });

  test('without --input the inputs are random and the report says so; no -o writes nothing', async () => {
    const context = testContext({ files: filesWithPlan() });
    await runMagic('%trt run small_cnn.wtrt --iterations 3', context);
    const report = displayedReport<RunReport>(context.outputs, 'run');
    assert.equal(report.inputs[0].from, 'random uniform [0, 1)');
    assert.equal(report.outputs[0].file, undefined);
    assert.equal(report.latency.count, 3);
    assert.deepEqual(context.files.writes, []);
    assert.deepEqual(
      context.progressUpdates.map(u => u.done),
      [0, 1, 2]
    );
    context.session.releaseEngines();
  });

  test("an ONNX model is built at the inputs' shapes, with progress; --output-dir writes <name>.npy", async () => {
    const input = inputTensor(2, 5);
    const context = testContext({
      files: new MemoryFiles({ 'small_cnn.onnx': SMALL_CNN, 'x2.npy': encodeNpy(input) })
    });
    await runMagic('%trt run small_cnn.onnx --input input=x2.npy --output-dir out/', context);
    assert.deepEqual(context.files.writes, ['out/logits.npy']);
    const written = parseNpy(context.files.files.get('out/logits.npy')!, 'out/logits.npy');
    assert.deepEqual(written.shape, [2, 10]);
    const { maxRel } = errorStats(written, referenceLogits(input));
    assert.ok(maxRel <= REFERENCE_TOLERANCE, `relative error ${maxRel} against the CPU reference`);
    const held = context.session.findEngine('small_cnn.onnx');
    assert.deepEqual(held?.report.inputs[0].shape, [2, 3, 32, 32]);
    assert.equal(context.progressUpdates.at(-1)!.done, held!.engine.layers.length);
    context.session.releaseEngines();
  });

  test("reuses the session's engine of a plan until the file changes", async () => {
    const session = testSession();
    const files = filesWithPlan();
    await runMagic('%trt run small_cnn.wtrt', testContext({ files, session }));
    const first = session.findEngine('small_cnn.wtrt')!.engine;
    await runMagic('%trt run small_cnn.wtrt', testContext({ files, session }));
    assert.equal(
      session.findEngine('small_cnn.wtrt')!.engine,
      first,
      'the unchanged plan is not loaded again'
    );

    const batch2 = testContext({ files, session });
    await runMagic(
      '%trt convert small_cnn.onnx -o other.wtrt --shapes input:2x3x32x32 --optimization-level 0',
      batch2
    );
    await files.write('small_cnn.wtrt', files.files.get('other.wtrt')!);
    const after = testContext({ files, session });
    await runMagic('%trt run small_cnn.wtrt', after);
    const reloaded = session.findEngine('small_cnn.wtrt')!.engine;
    assert.notEqual(reloaded, first);
    assert.deepEqual(displayedReport<RunReport>(after.outputs, 'run').outputs[0].shape, [2, 10]);
    session.releaseEngines();
  });

  test('a bad path, flag, .npy or shape is a MagicError naming it, and nothing is written', async () => {
    const context = testContext({
      files: filesWithPlan({
        'bad.npy': 'not a numpy file',
        'small.npy': encodeNpy(randomTensor([1, 3, 16, 16])),
        'ints.npy': encodeNpy(randomTensor([1, 3, 32, 32], { dtype: 'int32' }))
      })
    });
    const cases: [string, RegExp][] = [
      ['%trt run missing.wtrt', /^'missing\.wtrt' does not exist$/],
      ['%trt run small_cnn.wtrt --input input=nope.npy', /^'nope\.npy' does not exist$/],
      [
        '%trt run small_cnn.wtrt --inptu input=x.npy',
        /unknown flag --inptu \(did you mean --input\?\)/
      ],
      [
        '%trt run small_cnn.wtrt --input input=bad.npy -o y.npy',
        /^bad\.npy: not a NumPy \.npy file/
      ],
      [
        '%trt run small_cnn.wtrt --input input=small.npy -o y.npy',
        /^small\.npy does not fit small_cnn\.wtrt: input 'input' must have shape \[1, 3, 32, 32\], got \[1, 3, 16, 16\]$/
      ],
      [
        '%trt run small_cnn.wtrt --input input=ints.npy',
        /^ints\.npy does not fit small_cnn\.wtrt: input 'input' must be float32, got int32$/
      ],
      [
        '%trt run small_cnn.wtrt --input image=small.npy',
        /--input names 'image', which is not an input of small_cnn\.wtrt \(its inputs: 'input'\)/
      ],
      [
        '%trt run small_cnn.wtrt --shapes input:1x3x32x32',
        /--shapes sets the shapes an ONNX model is built at/
      ],
      [
        '%trt run small_cnn.onnx',
        /input 'input' of small_cnn\.onnx has the shape \[batch, 3, 32, 32\]: give its values with --input input=file\.npy or its shape with --shapes input:\?x3x32x32/
      ],
      ['%trt run small_cnn.wtrt -o y.npy --output-dir out', /give -o or --output-dir, not both/],
      ['%trt run small_cnn.wtrt -o y.txt', /outputs are written as \.npy files/],
      [
        '%trt run model.pt',
        /'model\.pt' is neither an ONNX model \(\.onnx\) nor an engine plan \(\.wtrt\)/
      ]
    ];
    for (const [source, message] of cases) {
      assert.match(await magicError(source, context), message, source);
    }
    assert.deepEqual(context.files.writes, []);
    context.session.releaseEngines();
  });

  test('a plan built on another adapter is refused, naming the plan and why', async () => {
    const device = await deviceWithoutTimestamps();
    const session = testSession();
    session.device = () => Promise.resolve(device);
    try {
      const context = testContext({ files: filesWithPlan(), session });
      assert.match(
        await magicError('%trt run small_cnn.wtrt', context),
        /^small_cnn\.wtrt does not load: the plan was built for .* with the '[\w-]+' feature, which this device .* lacks: rebuild the engine on this device$/
      );
    } finally {
      session.releaseEngines();
      device.destroy();
    }
  });
});

describe('%trt bench', () => {
  test('native and FP32 at batch 1 and 2, with progress to the end', async () => {
    const context = testContext({ files: new MemoryFiles({ 'small_cnn.onnx': SMALL_CNN }) });
    await runMagic(
      '%trt bench small_cnn.onnx --batch 1,2 --precision native,fp32 --iterations 2',
      context
    );
    const report = displayedReport<BenchReport>(context.outputs, 'bench');
    assert.equal(report.source, 'small_cnn.onnx');
    assert.deepEqual(report.skipped, []);
    assert.deepEqual(report.rows.map(row => `${row.mode} ${row.batch}`).sort(), [
      'fp32 1',
      'fp32 2',
      'native 1',
      'native 2'
    ]);
    for (const row of report.rows) {
      assert.equal(row.latency.count, 2);
      assert.equal(row.buildMs === undefined, row.mode === 'native');
      assert.ok(row.throughput > 0);
    }
    const last = context.progressUpdates.at(-1)!;
    assert.equal(last.done, last.total);
    assert.equal(last.title, 'Benchmarking small_cnn.onnx');
    assert.deepEqual(context.files.writes, []);
  });
});

describe('%trt profile', () => {
  test('times each layer, writes a Chrome trace beside the model and keeps the profile', async () => {
    const context = testContext({ files: filesWithPlan() });
    await runMagic('%trt profile small_cnn.wtrt --iterations 2', context);
    assert.deepEqual(context.files.writes, ['small_cnn.trace.json']);
    const report = displayedReport<ProfileReport>(context.outputs, 'profile');
    const held = context.session.findEngine('small_cnn.wtrt')!;
    assert.equal(held.profile, report);
    assert.equal(report.trace, 'small_cnn.trace.json');
    assert.equal(report.iterations, 2);
    assert.deepEqual(
      report.layers.map(l => l.name),
      held.engine.layers.map(l => l.name)
    );
    assert.ok(report.layers.every(l => l.timesMs.length === 2 && l.timesMs.every(t => t >= 0)));

    const trace = JSON.parse(context.files.text('small_cnn.trace.json')) as {
      traceEvents: {
        ph: string;
        name: string;
        ts: number;
        dur: number;
        pid: number;
        tid: number;
      }[];
    };
    const spans = trace.traceEvents.filter(event => event.ph === 'X');
    assert.deepEqual(
      spans.map(span => span.name),
      report.layers.map(l => l.name)
    );
    spans.forEach((span, i) => {
      assert.ok(Number.isFinite(span.ts) && Number.isFinite(span.dur) && span.dur >= 0);
      assert.ok(
        i === 0 || span.ts >= spans[i - 1].ts + spans[i - 1].dur - 1e-6,
        'layers laid end to end'
      );
    });
    assert.ok(trace.traceEvents.some(event => event.ph === 'M' && event.name === 'process_name'));
    assert.deepEqual(
      context.progressUpdates.map(u => u.done),
      [0, 1]
    );
    context.session.releaseEngines();
  });

  test('--export-profile names the trace; an interrupt writes none', async () => {
    const controller = new AbortController();
    const context = testContext({
      files: filesWithPlan(),
      signal: controller.signal,
      onProgress: update =>
        update.done === 1 && controller.abort(new DOMException('interrupted', 'AbortError'))
    });
    await assert.rejects(
      runMagic('%trt profile small_cnn.wtrt --iterations 3 --export-profile t.json', context),
      {
        name: 'AbortError'
      }
    );
    assert.deepEqual(context.files.writes, []);
    context.session.releaseEngines();
  });
});

describe('%trt inspect', () => {
  test('an ONNX model: its ops and partitions, split at the denied ops and the minimum segment size', async () => {
    const context = testContext({ files: filesWithPlan() });
    await runMagic('%trt inspect small_cnn.onnx', context);
    const report = displayedReport<ModelReport>(context.outputs, 'model');
    assert.equal(report.path, 'small_cnn.onnx');
    assert.equal(report.nodes, 33);
    assert.deepEqual(report.inputs[0].shape, ['batch', 3, 32, 32]);
    assert.deepEqual(
      report.partitions.segments.map(s => `${s.kind} ${s.nodes}`),
      ['engine 33']
    );
    context.outputs.length = 0;
    await runMagic(
      '%trt inspect small_cnn.onnx --deny-ops GlobalAveragePool --minimum-segment-size 30',
      context
    );
    const split = displayedReport<ModelReport>(context.outputs, 'model');
    assert.ok(split.partitions.segments.length > 2);
    assert.ok(split.partitions.segments.every(s => s.kind === 'fallback'));
    assert.equal(context.progressUpdates.length, 0);
  });

  test("a plan: the loaded engine's layers, memory and plan; the session's engine when the file is gone", async () => {
    const context = testContext({ files: filesWithPlan() });
    await runMagic('%trt inspect small_cnn.wtrt', context);
    const report = displayedReport<EngineReport>(context.outputs, 'engine');
    assert.deepEqual(report.plan, { path: 'small_cnn.wtrt', bytes: plan.byteLength });
    assert.equal(
      report.layers.length,
      context.session.findEngine('small_cnn.wtrt')!.engine.layers.length
    );
    assert.ok(report.memory.arenaBytes > 0);

    context.files.files.delete('small_cnn.wtrt');
    context.outputs.length = 0;
    await runMagic('%trt inspect small_cnn.wtrt', context);
    assert.equal(displayedReport<EngineReport>(context.outputs, 'engine'), report);
    assert.match(
      await magicError('%trt inspect small_cnn.wtrt --minimum-segment-size 2', context),
      /--minimum-segment-size splits an ONNX model; the plan small_cnn\.wtrt holds its segments already/
    );
    context.session.releaseEngines();
  });
});
