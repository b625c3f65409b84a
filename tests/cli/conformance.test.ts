/**
 * `webtrt conformance` on a small data directory built from ONNX's own node tests, with
 * one test made to fail and one the engine cannot run, so that every class is exercised.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { onnx } from 'onnx-proto';

const NODE_TESTS = '/usr/share/libonnx-testdata/data/node';

let dir: string;

function conformance(...args: string[]) {
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'src/cli/conformance.ts', '--data-dir', dir, ...args],
    { encoding: 'utf8' }
  );
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The row of `test` in the report's table of tests not passing. */
function reportRow(report: string, name: string): string {
  const row = report.split('\n').find(line => line.startsWith(`| ${name} |`));
  assert.ok(row, `no row for ${name}`);
  return row;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'webtrt-conformance-'));
  for (const name of ['test_relu', 'test_pow_types_int32_int32', 'test_identity_sequence']) {
    cpSync(join(NODE_TESTS, name), join(dir, name), { recursive: true });
  }
  // test_relu with one expected element changed by 1: a mismatch on every backend.
  const wrong = join(dir, 'test_relu_wrong_expected');
  cpSync(join(NODE_TESTS, 'test_relu'), wrong, { recursive: true });
  const outputPath = join(wrong, 'test_data_set_0', 'output_0.pb');
  const output = onnx.TensorProto.decode(readFileSync(outputPath));
  const values = new Float32Array(new Uint8Array(output.rawData).slice().buffer);
  values[7] += 1;
  output.rawData = new Uint8Array(values.buffer);
  writeFileSync(outputPath, onnx.TensorProto.encode(output).finish());
  // A directory without model.onnx is not a test.
  mkdirSync(join(dir, 'not_a_test'));
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('classifies pass, fail, cpu-fallback and unsupported, and writes the report', () => {
  const reportPath = join(dir, 'report.md');
  // A gate of 0 lets every op through, so the run succeeds and the gate column says ok.
  const result = conformance('--output', reportPath, '--min-pass-rate', '0');
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /^tests +4 from /m);
  // Relu: 1 of 2 pass on both backends; Pow (int32 base) passes on the CPU only.
  assert.match(result.stdout, /^listed ops +cpu 2\/4 \(50\.0%\), webgpu 1\/4 \(25\.0%\)$/m);

  const report = readFileSync(reportPath, 'utf8');
  assert.match(report, /^\| command \| `webtrt conformance --backend both /m);
  assert.match(report, /^\| backend webgpu \| .+ \|$/m);
  assert.match(report, /^\| Relu \| 2 \| 1 \| 1 \| 0 \| 1 \| 1 \| 0 \| 0 \| ok \|$/m);
  assert.match(
    report,
    /^\| Pow \| 1 \| 1 \| 0 \| 0 \| 0 \| 0 \| 1 \| 0 \| none computed on webgpu \|$/m
  );
  assert.match(report, /^\| Gelu \| 0 \| .* \| no tests \|$/m);

  const wrong = reportRow(report, 'test_relu_wrong_expected');
  assert.match(
    wrong,
    /\*\*fail\*\*: output 'y': 1 of 60 elements differ \(rtol 0\.001, atol 1e-7\); max abs error 1 at \[0, 1, 2\]/
  );
  assert.match(
    reportRow(report, 'test_pow_types_int32_int32'),
    /^\| test_pow_types_int32_int32 \| Pow \| pass \| \*\*cpu-fallback\*\*: Pow ran on the CPU: int32 /
  );
  assert.match(
    reportRow(report, 'test_identity_sequence'),
    /\| \*\*unsupported\*\*: .*is a sequence, which is not supported \|/
  );
  assert.ok(!/^\| test_relu \|/m.test(report), 'test_relu passes and is not listed');
});

test('exits 1 when a listed op passes fewer than --min-pass-rate of the tests it computed', () => {
  const result = conformance('--backend', 'cpu', '--filter', 'relu', '--min-pass-rate', '0.9');
  assert.equal(result.status, 1);
  assert.match(
    result.stdout,
    /^below gate +Relu on cpu: 1 of the 2 tests it computed pass \(50\.0%, below 90\.0%\)$/m
  );
  const errors = result.stderr.split('\n').filter(line => line);
  assert.deepEqual(errors, [
    'webtrt: error: 1 listed op/backend pairs pass fewer than 90.0% of the tests they computed'
  ]);
});

test('the gate leaves out tests a backend did not compute itself', () => {
  // Pow of int32 runs on the CPU under --backend webgpu: reported as cpu-fallback, not gated.
  const result = conformance('--backend', 'webgpu', '--filter', 'pow', '--min-pass-rate', '1');
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /^listed ops +webgpu 0\/1 \(0\.0%\)$/m);
});

test('a filter that matches nothing is an error, not an empty success', () => {
  const result = conformance('--filter', 'no_such_test');
  assert.equal(result.status, 1);
  assert.match(result.stderr, /^webtrt: error: no node tests in .* match 'no_such_test'\n$/);
});
