/**
 * `webtrt build` and `webtrt exec`, run as a user runs them: a child process on the
 * TypeScript sources through tsx, on small_cnn at a small shape (SwiftShader is slow).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { onnx } from 'onnx-proto';
import { encodeNpy } from '../../src/engine/io/npy';
import { failsWith, succeeds } from '../helpers/cli';
import { randomTensor } from '../helpers/random';
import { temporaryDirectory } from '../helpers/temporary';

const MODEL = 'examples/models/small_cnn.onnx';
const SHAPES = 'input:2x3x32x32';
/** Short runs: the tests check the report, not the speed. */
const QUICK = ['--iterations', '5', '--warmUp', '0'];
/**
 * Builds that take each kernel's default tactic: SwiftShader would compile and time every
 * candidate on the CPU. The first build test tunes, and the plan it writes keeps its tactics.
 */
const UNTUNED = ['--builderOptimizationLevel', '0'];

/** A number after `label` in the report, e.g. "Throughput: 12.3 qps". */
function printed(stdout: string, label: string): number {
  const match = new RegExp(`${label.replace(/[()%]/g, '\\$&')}:? =? ?([0-9.e+-]+)`).exec(stdout);
  assert.ok(match, `no '${label}' in:\n${stdout}`);
  const value = Number(match[1]);
  assert.ok(Number.isFinite(value), `'${label}' is ${match[1]}`);
  return value;
}

/** The line of the report that starts with `label`. */
function lineOf(stdout: string, label: string): string {
  const line = stdout.split('\n').find(l => l.startsWith(label));
  assert.ok(line, `no '${label}' line in:\n${stdout}`);
  return line;
}

/** A value as the report prints it: at most 6 significant digits. */
function asPrinted(value: number): number {
  return Number(value.toPrecision(6));
}

/** The statistics of one summary line ("Latency: min = ..."), checked to be consistent. */
function checkStatistics(stdout: string, label: string): void {
  const line = lineOf(stdout, `${label}: `);
  const [min, max, mean, median, p90, p95, p99] = [
    'min',
    'max',
    'mean',
    'median',
    'percentile(90%)',
    'percentile(95%)',
    'percentile(99%)'
  ].map(statistic => printed(line, ` ${statistic}`));
  assert.ok(min >= 0 && min <= median && median <= p90 && p90 <= p95 && p95 <= p99, line);
  assert.ok(p99 <= max && min <= mean && mean <= max, line);
}

const PHASES = ['H2D Latency', 'GPU Compute Time', 'D2H Latency'];

/**
 * The performance summary's numbers, each line consistent; an engine's has the phases,
 * the native executor's says why it has none.
 */
function checkSummary(stdout: string, engine = true): void {
  assert.match(stdout, /=== Performance summary ===/);
  assert.ok(printed(stdout, 'Throughput') > 0);
  checkStatistics(stdout, 'Latency');
  assert.ok(printed(lineOf(stdout, 'Latency: '), ' min') > 0);
  for (const phase of PHASES) {
    if (engine) {
      checkStatistics(stdout, phase);
    } else {
      assert.doesNotMatch(stdout, new RegExp(`^${phase}:`, 'm'));
    }
  }
  assert.match(
    stdout,
    engine
      ? /^H2D and D2H: 5 more executions, each phase awaited before the next\.\nGPU compute: 5 more compute passes after the warm-up time of untimed ones, run back to back, timed by GPU timestamps around each\.$/m
      : /^H2D, GPU compute and D2H are not timed apart for the native executor/m
  );
  assert.ok(printed(stdout, 'First run') > 0);
  assert.match(stdout, /\(5 executions\)/);
}

/** What --exportTimes writes. */
interface ExportedTimes {
  setup?: { label: string; ms: number };
  firstRunMs: number;
  executions: { startMs: number; latencyMs: number }[];
  phases?: {
    executions: { startMs: number; h2dMs: number; computeMs: number; d2hMs: number }[];
    compute: { clock: string; timesMs: number[] };
  };
}

const path = temporaryDirectory('webtrt-exec-');

describe('webtrt build', () => {
  test('writes the plan and the layer info, and prints the build summary', () => {
    const stdout = succeeds([
      'build',
      MODEL,
      '--shapes',
      SHAPES,
      '-o',
      path('small_cnn.wtrt'),
      '--exportLayerInfo',
      path('layers.json')
    ]);
    const layers = JSON.parse(readFileSync(path('layers.json'), 'utf8')) as {
      name: string;
      outputs: { shape: number[] }[];
      tacticTimings?: unknown[];
    }[];
    // Tuned at the default optimization level: Conv layers time several tactics.
    assert.ok(layers.some(layer => (layer.tacticTimings?.length ?? 0) > 1));
    const layerCount = printed(stdout, 'layers    ');
    assert.equal(layers.length, layerCount);
    assert.match(stdout, new RegExp(`layers +${layerCount} layers from 33 ONNX nodes`));
    assert.deepEqual(layers.at(-1)?.outputs[0].shape.slice(0, 1), [2]);
    assert.ok(printed(stdout, 'build     ') > 0);
    assert.match(stdout, /foldBatchNormalization +\d+ changes?/);
    assert.match(stdout, /memory +arenas .+, sum of tensors .+, peak live /);
    assert.ok(readFileSync(path('small_cnn.wtrt')).length > 0);
  });

  test('--fp16 builds an engine whose layer info names FP16 layers', () => {
    const stdout = succeeds([
      'build',
      MODEL,
      '--shapes',
      SHAPES,
      '-o',
      path('fp16.wtrt'),
      '--fp16',
      ...UNTUNED,
      '--exportLayerInfo',
      path('fp16-layers.json')
    ]);
    assert.match(stdout, /precision fp16/);
    const layers = JSON.parse(readFileSync(path('fp16-layers.json'), 'utf8')) as {
      precision: string;
    }[];
    assert.ok(layers.some(layer => layer.precision === 'fp16'));
  });

  test('a missing -o, a bad flag and a missing file give one error line', () => {
    failsWith(['build', MODEL], 2, /missing -o/);
    failsWith(['build', MODEL, '-o', path('x.wtrt'), '--fast'], 2, /unknown option '--fast'/);
    failsWith(['build', path('none.onnx'), '-o', path('x.wtrt')], 1, /none\.onnx.*no such file/);
  });
});

describe('webtrt exec', () => {
  test('--loadEngine times the saved plan', () => {
    const stdout = succeeds([
      'exec',
      '--loadEngine',
      path('small_cnn.wtrt'),
      ...QUICK,
      '--exportTimes',
      path('times.json')
    ]);
    checkSummary(stdout);
    const times = JSON.parse(readFileSync(path('times.json'), 'utf8')) as ExportedTimes;
    assert.equal(times.setup?.label, 'Load time');
    assert.equal(asPrinted(times.setup.ms), printed(stdout, 'Load time'));
    assert.equal(asPrinted(times.firstRunMs), printed(stdout, 'First run'));
    assert.equal(times.executions.length, 5);
    const increasing = (starts: number[]) => starts.every((t, i) => i === 0 || t > starts[i - 1]);
    assert.ok(times.executions.every(t => t.latencyMs > 0 && t.startMs >= 0));
    assert.ok(increasing(times.executions.map(t => t.startMs)));
    const latencies = times.executions.map(t => t.latencyMs).sort((a, b) => a - b);
    assert.equal(printed(lineOf(stdout, 'Latency: '), ' min'), asPrinted(latencies[0]));

    assert.equal(times.phases?.executions.length, 5);
    assert.ok(increasing(times.phases.executions.map(t => t.startMs)));
    for (const { h2dMs, computeMs, d2hMs } of times.phases.executions) {
      assert.ok(h2dMs > 0 && computeMs > 0 && d2hMs > 0, JSON.stringify(times.phases));
    }
    const { h2dMs } = times.phases.executions.reduce((a, b) => (a.h2dMs > b.h2dMs ? a : b));
    assert.equal(printed(lineOf(stdout, 'H2D Latency: '), ' max'), asPrinted(h2dMs));
    assert.equal(times.phases.compute.clock, 'gpu');
    assert.equal(times.phases.compute.timesMs.length, 5);
    assert.ok(times.phases.compute.timesMs.every(ms => ms > 0));
    const computeLine = lineOf(stdout, 'GPU Compute Time: ');
    assert.equal(
      printed(computeLine, ' max'),
      asPrinted(Math.max(...times.phases.compute.timesMs))
    );
  });

  test('--onnx builds the engine first', () => {
    const stdout = succeeds(['exec', '--onnx', MODEL, '--shapes', SHAPES, ...UNTUNED, ...QUICK]);
    checkSummary(stdout);
    assert.ok(printed(stdout, 'Build time') > 0);
  });

  test('--loadInputs feeds .npy files; inputs not given stay random', () => {
    writeFileSync(path('input.npy'), encodeNpy(randomTensor([2, 3, 32, 32], { seed: 9 })));
    const loaded = ['--loadInputs', `input:${path('input.npy')}`, ...QUICK];
    for (const mode of [
      ['--onnx', MODEL, '--shapes', SHAPES, ...UNTUNED],
      ['--onnx', MODEL, '--shapes', SHAPES, '--native'],
      ['--loadEngine', path('small_cnn.wtrt')]
    ]) {
      const stdout = succeeds(['exec', ...mode, ...loaded]);
      assert.match(stdout, new RegExp(`^inputs +input ${path('input.npy')}$`, 'm'));
    }
    assert.match(
      succeeds(['exec', '--loadEngine', path('small_cnn.wtrt'), ...QUICK]),
      /^inputs +input random uniform \[0, 1\)$/m
    );
    writeFileSync(path('wrong.npy'), encodeNpy(randomTensor([1, 3, 32, 32], { seed: 9 })));
    failsWith(
      [
        'exec',
        '--loadEngine',
        path('small_cnn.wtrt'),
        '--loadInputs',
        `input:${path('wrong.npy')}`
      ],
      1,
      /wrong\.npy: input 'input' must have shape \[2, 3, 32, 32\], got \[1, 3, 32, 32\]/
    );
    failsWith(
      ['exec', '--loadEngine', path('small_cnn.wtrt'), '--loadInputs', path('input.npy')],
      2,
      /--loadInputs '.*input\.npy' must be name:file\.npy/
    );
  });

  test('--native times the op-by-op executor', () => {
    const stdout = succeeds(['exec', '--onnx', MODEL, '--shapes', SHAPES, '--native', ...QUICK]);
    checkSummary(stdout, false);
    assert.match(stdout, /executor +native/);
    assert.doesNotMatch(stdout, /Build time/);
  });

  test('--dumpProfile prints the layer table, --exportProfile writes the trace', () => {
    const stdout = succeeds([
      'exec',
      '--loadEngine',
      path('small_cnn.wtrt'),
      ...QUICK,
      '--dumpProfile',
      '--exportProfile',
      path('profile.json')
    ]);
    checkSummary(stdout);
    const tableStart = stdout.indexOf('=== Profile (5 iterations ) ===');
    assert.ok(tableStart > stdout.indexOf('=== Performance summary ==='), stdout);
    const table = stdout.slice(tableStart);
    assert.match(table, /^ +\/Conv_0 +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+$/m);
    assert.match(table, /^ +Total +[0-9.]+ +[0-9.]+ +[0-9.]+ +100\.0$/m);
    assert.match(table, /Layer times: GPU timestamps/);

    const trace = JSON.parse(readFileSync(path('profile.json'), 'utf8')) as {
      traceEvents: { name: string; ph: string; ts: number; dur: number }[];
      metadata: {
        iterations: number;
        layout: string;
        layers: { name: string; averageMs: number }[];
      };
    };
    const spans = trace.traceEvents.filter(event => event.ph === 'X');
    const layerCount = /^layers +(\d+) layers/m.exec(stdout);
    assert.ok(layerCount, stdout);
    assert.equal(spans.length, Number(layerCount[1]));
    assert.deepEqual(
      spans.map(span => span.name),
      trace.metadata.layers.map(layer => layer.name)
    );
    spans.forEach((span, i) => {
      assert.ok(span.dur >= 0, `${span.name}: duration ${span.dur}`);
      const previousEnd = i === 0 ? 0 : spans[i - 1].ts + spans[i - 1].dur;
      assert.ok(Math.abs(span.ts - previousEnd) < 1e-6, `${span.name} starts at ${span.ts}`);
    });
    assert.equal(trace.metadata.iterations, 5);
    assert.match(trace.metadata.layout, /starts where the previous one ended/);
    assert.ok(trace.metadata.layers.every(layer => layer.averageMs >= 0));
  });

  test('bad flags and files give one error line', () => {
    failsWith(['exec', '--onnx', MODEL, '--iterations', '0'], 2, /--iterations must be/);
    failsWith(['exec', '--loadEngine', path('x.wtrt'), '--fast'], 2, /unknown option/);
    failsWith(['exec', ...QUICK], 2, /give --onnx model\.onnx or --loadEngine/);
    for (const native of [[], ['--native']]) {
      const args = ['exec', '--onnx', MODEL, ...native];
      failsWith(args, 2, /give its shape with --shapes input:\?x3x32x32 \(see 'webtrt exec/);
    }
    failsWith(['exec', '--loadEngine', path('small_cnn.wtrt'), '--native'], 2, /--native/);
    failsWith(
      ['exec', '--onnx', MODEL, '--shapes', SHAPES, '--native', '--dumpProfile'],
      2,
      /--dumpProfile and --exportProfile time an engine's layers: not with --native/
    );
    failsWith(['exec', '--loadEngine', path('none.wtrt')], 1, /none\.wtrt.*no such file/);
    failsWith(['exec', '--loadEngine', MODEL, ...QUICK], 1, /small_cnn\.onnx: plan/);
  });
});

/** Resize by 2 (nearest): its kernel keeps a sample table, which counts as workspace. */
function resizeModel(): Uint8Array {
  const valueInfo = (name: string, dims: number[]) => ({
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map(dimValue => ({ dimValue })) }
      }
    }
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'resize',
      node: [{ opType: 'Resize', input: ['x', '', 'scales'], output: ['y'] }],
      initializer: [
        {
          name: 'scales',
          dataType: onnx.TensorProto.DataType.FLOAT,
          dims: [4],
          floatData: [1, 1, 2, 2]
        }
      ],
      input: [valueInfo('x', [1, 2, 64, 64])],
      output: [valueInfo('y', [1, 2, 128, 128])]
    }
  });
  return onnx.ModelProto.encode(model).finish();
}

interface LayerInfo {
  fusedNodes: string[];
  precision: string;
  inputs: { shape: number[] }[];
  tacticTimings?: unknown[];
}

describe('builder flags', () => {
  const PROFILE = [
    '--minShapes',
    'input:1x3x32x32',
    '--optShapes',
    'input:2x3x32x32',
    '--maxShapes',
    'input:4x3x32x32'
  ];

  test('an optimization profile builds at its opt shapes and prints the profile', () => {
    const stdout = succeeds([
      'build',
      MODEL,
      ...PROFILE,
      ...UNTUNED,
      '-o',
      path('profile.wtrt'),
      '--exportLayerInfo',
      path('profile-layers.json')
    ]);
    assert.match(stdout, /^profile +the engine is built for the opt shapes and runs at them$/m);
    assert.match(stdout, /^ {2}input +min 1x3x32x32 +opt 2x3x32x32 +max 4x3x32x32$/m);
    const layers = JSON.parse(readFileSync(path('profile-layers.json'), 'utf8')) as LayerInfo[];
    assert.deepEqual(layers[0].inputs[0].shape, [2, 3, 32, 32]);
    assert.ok(
      layers.every(layer => !layer.tacticTimings),
      '--builderOptimizationLevel 0 times none'
    );
  });

  test('exec runs at --optShapes given alone, and --shapes may repeat them', () => {
    const optOnly = ['--optShapes', 'input:1x3x32x32', '--shapes', 'input:1x3x32x32'];
    checkSummary(succeeds(['exec', '--onnx', MODEL, ...optOnly, ...UNTUNED, ...QUICK]));
  });

  test('--memPoolSize workspace:N (MiB or with a unit) caps the kernels’ workspace', () => {
    writeFileSync(path('resize.onnx'), resizeModel());
    for (const size of ['1', '0.5', '64K']) {
      const args = ['build', path('resize.onnx'), '-o', path('resize.wtrt')];
      succeeds([...args, '--memPoolSize', `workspace:${size}`]);
    }
    failsWith(
      ['build', path('resize.onnx'), '-o', path('resize.wtrt'), '--memPoolSize', 'workspace:100B'],
      1,
      /the kernels need \d+ bytes of workspace, more than maxWorkspaceBytes 100$/
    );
  });

  test('--layerPrecisions holds a layer of an FP16 engine to FP32', () => {
    const args = [
      'build',
      MODEL,
      '--shapes',
      SHAPES,
      '-o',
      path('mixed.wtrt'),
      '--fp16',
      ...UNTUNED
    ];
    succeeds([
      ...args,
      '--layerPrecisions',
      '/Conv_0:fp32',
      '--exportLayerInfo',
      path('mixed-layers.json')
    ]);
    const layers = JSON.parse(readFileSync(path('mixed-layers.json'), 'utf8')) as LayerInfo[];
    const conv = layers.filter(layer => layer.fusedNodes.includes('/Conv_0'));
    assert.equal(conv.length, 1);
    assert.equal(conv[0].precision, 'fp32');
    assert.ok(layers.some(layer => layer.precision === 'fp16'));
    failsWith([...args, '--layerPrecisions', '/NoSuchNode:fp32'], 1, /NoSuchNode/);
  });

  test('usage mistakes give one error line naming the flag', () => {
    const build = ['build', MODEL, '-o', path('x.wtrt')];
    const cases: [string[], RegExp][] = [
      [
        ['--minShapes', 'input:4x3x32x32', '--optShapes', SHAPES, '--maxShapes', 'input:8x3x32x32'],
        /input 'input' dim 0 must be min <= opt <= max, got 4, 2, 8/
      ],
      [
        ['--minShapes', 'input:1x3x32', '--optShapes', SHAPES, '--maxShapes', SHAPES],
        /input 'input' has shapes of different ranks/
      ],
      [
        ['--minShapes', 'other:1x3', '--optShapes', SHAPES, '--maxShapes', SHAPES],
        /--minShapes does not give 'input', which --optShapes gives: the three must name the same inputs/
      ],
      [['--minShapes', SHAPES, '--optShapes', SHAPES], /missing --maxShapes: give all three/],
      [['--minShapes', SHAPES, '--maxShapes', SHAPES], /need --optShapes/],
      [['--optShapes', 'input:2x3xx32'], /--optShapes 'input:2x3xx32' must be name:dims/],
      [
        ['--optShapes', SHAPES, '--shapes', 'input:1x3x32x32'],
        /--shapes input:1x3x32x32 differs from --optShapes input:2x3x32x32: the engine runs at its opt shapes/
      ],
      [
        ['--shapes', SHAPES, '--memPoolSize', 'dlaSRAM:1'],
        /--memPoolSize names trtexec's pool 'dlaSRAM': webtrt has one memory pool, 'workspace'/
      ],
      [
        ['--shapes', SHAPES, '--memPoolSize', 'workspace'],
        /--memPoolSize 'workspace' must be pool:size/
      ],
      [
        ['--shapes', SHAPES, '--memPoolSize', 'workspace:1,workspace:2'],
        /--memPoolSize gives 'workspace' twice/
      ],
      [
        ['--shapes', SHAPES, '--layerPrecisions', '/Conv_0:tf32'],
        /webtrt layers run in fp32, fp16 or int8, not 'tf32'/
      ],
      [
        ['--shapes', SHAPES, '--fp16', '--calib', path('small_cnn.calib')],
        /--calib gives INT8 scales: it needs --int8 or --best/
      ],
      [
        ['--shapes', SHAPES, '--int8', '--calib', path('missing.calib')],
        /--calib: cannot read '.*missing\.calib': ENOENT/
      ],
      [['--shapes', SHAPES, '--layerPrecisions', 'fp16'], /must be name:precision/],
      [
        ['--shapes', SHAPES, '--builderOptimizationLevel', '6'],
        /--builderOptimizationLevel must be from 0 to 5, got 6/
      ]
    ];
    for (const [flags, message] of cases) {
      failsWith([...build, ...flags], 2, message);
    }
    failsWith(
      ['exec', '--loadEngine', path('small_cnn.wtrt'), '--fp16'],
      2,
      /--fp16 configures a build: a loaded plan keeps the configuration it was built with \(see 'webtrt exec --help'\)/
    );
    failsWith(
      ['exec', '--onnx', MODEL, '--native', '--shapes', SHAPES, '--memPoolSize', 'workspace:1'],
      2,
      /--memPoolSize configures an engine's build: not with --native/
    );
  });

  test('--help says where an engine runs and lists the builder flags', () => {
    for (const command of ['build', 'exec']) {
      const help = succeeds([command, '--help']);
      for (const flag of [
        '--builderOptimizationLevel',
        '--minShapes',
        '--optShapes',
        '--maxShapes',
        '--memPoolSize',
        '--layerPrecisions',
        '--fp16',
        '--int8',
        '--best',
        '--calib'
      ]) {
        assert.match(help, new RegExp(`^ +${flag}\\b`, 'm'), `${command} --help: ${flag}`);
      }
      assert.match(help, /The engine is built and runs at the opt shapes/);
    }
  });
});
