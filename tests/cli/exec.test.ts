/**
 * `webtrt build` and `webtrt exec`, run as a user runs them: a child process on the
 * TypeScript sources through tsx, on small_cnn at a small shape (SwiftShader is slow).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

const MODEL = 'examples/models/small_cnn.onnx';
const SHAPES = 'input:2x3x32x32';
/** Short runs: the tests check the report, not the speed. */
const QUICK = ['--iterations', '5', '--warmUp', '0'];

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

function webtrt(args: string[]): Result {
  const env = { ...process.env };
  delete env.WEBTRT_DEBUG;
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    encoding: 'utf8',
    env
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function succeeds(args: string[]): string {
  const result = webtrt(args);
  assert.equal(result.status, 0, `webtrt ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/** Exit code 2 or 1 and exactly one error line on stderr, matching `message`. */
function failsWith(args: string[], status: number, message: RegExp): void {
  const result = webtrt(args);
  assert.equal(result.status, status, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
  const errors = result.stderr.split('\n').filter(line => line.startsWith('webtrt: error:'));
  assert.equal(errors.length, 1, result.stderr);
  assert.match(errors[0], message);
}

/** A number after `label` in the report, e.g. "Throughput: 12.3 qps". */
function printed(stdout: string, label: string): number {
  const match = new RegExp(`${label.replace(/[()%]/g, '\\$&')}:? =? ?([0-9.e+-]+)`).exec(stdout);
  assert.ok(match, `no '${label}' in:\n${stdout}`);
  const value = Number(match[1]);
  assert.ok(Number.isFinite(value), `'${label}' is ${match[1]}`);
  return value;
}

/** The performance summary's numbers, checked to be consistent with one another. */
function checkSummary(stdout: string): void {
  assert.match(stdout, /=== Performance summary ===/);
  assert.ok(printed(stdout, 'Throughput') > 0);
  const [min, max, mean, median, p90, p95, p99] = [
    'min',
    'max',
    'mean',
    'median',
    'percentile(90%)',
    'percentile(95%)',
    'percentile(99%)'
  ].map(label => printed(stdout, ` ${label}`));
  assert.ok(min > 0 && min <= median && median <= p90 && p90 <= p95 && p95 <= p99, stdout);
  assert.ok(p99 <= max && min <= mean && mean <= max, stdout);
  assert.ok(printed(stdout, 'First run') > 0);
  assert.match(stdout, /\(5 executions\)/);
}

let dir: string;
const path = (name: string) => join(dir, name);

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'webtrt-exec-'));
});

after(() => rmSync(dir, { recursive: true, force: true }));

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
    }[];
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
    assert.ok(printed(stdout, 'Load time') > 0);
    const times = JSON.parse(readFileSync(path('times.json'), 'utf8')) as {
      startMs: number;
      latencyMs: number;
    }[];
    assert.equal(times.length, 5);
    assert.ok(times.every(t => t.latencyMs > 0 && t.startMs >= 0));
  });

  test('--onnx builds the engine first', () => {
    const stdout = succeeds(['exec', '--onnx', MODEL, '--shapes', SHAPES, ...QUICK]);
    checkSummary(stdout);
    assert.ok(printed(stdout, 'Build time') > 0);
  });

  test('--native times the op-by-op executor', () => {
    const stdout = succeeds(['exec', '--onnx', MODEL, '--shapes', SHAPES, '--native', ...QUICK]);
    checkSummary(stdout);
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
    const layerCount = /: (\d+) layers/.exec(stdout);
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
