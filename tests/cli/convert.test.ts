/**
 * `webtrt summary`, and `webtrt build` / `webtrt exec` on models that convert into engines
 * and CPU fallback (TF-TRT's workflow), run as a user runs them: a child process on the
 * TypeScript sources through tsx. The converted plan is then loaded here as well, on the
 * test device, to compare its outputs with the CPU reference's.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { ConvertedModel, importOnnx, planKind, runReference } from '../../src/engine/index';
import { errorStats } from '../helpers/compare';
import { testDevice } from '../helpers/gpu';
import { failsWith, succeeds } from '../helpers/cli';
import { randomTensor } from '../helpers/random';
import { temporaryDirectory } from '../helpers/temporary';

const CAST_MODEL = 'examples/models/cast_in_middle.onnx';
const CNN_MODEL = 'examples/models/small_cnn.onnx';
/** A model with com.example::Swish, an op webtrt does not define. */
const CUSTOM_OP_MODEL = 'examples/models/custom_op.onnx';
const SHAPE = [2, 3, 16, 16];
const SHAPES = `input:${SHAPE.join('x')}`;
/** Builds that take each kernel's default tactic (SwiftShader would time every candidate). */
const UNTUNED = ['--builderOptimizationLevel', '0'];
const QUICK = ['--iterations', '5', '--warmUp', '0'];

/** TF-TRT's summary lines of cast_in_middle with Cast denied: two engines around the Casts. */
function checkCastSummary(stdout: string): void {
  assert.match(stdout, /^\[\*\] Total number of engines: 2$/m);
  assert.match(stdout, /^\[\*\] % of ops converted: 81\.82% \[9\/11\]$/m);
  assert.match(stdout, /^ {4}- Cast: 2x \(Cast is in denyOps\)$/m);
  assert.match(stdout, /^engine 0 +4 +1 +1 +float32 +float32/m);
  assert.match(stdout, /^engine 2 +5 +1 +1 +float32 +float32/m);
}

const path = temporaryDirectory('webtrt-convert-');

describe('webtrt summary', () => {
  test('prints the conversion summary with Cast denied, without a GPU', () => {
    const stdout = succeeds(['summary', CAST_MODEL, '--denyOps', 'Cast']);
    checkCastSummary(stdout);
    assert.match(stdout, /^params +precision fp32, minimum_segment_size 3, .*denyOps Cast$/m);
    assert.doesNotMatch(stdout, /^device/m);
  });

  test('converts every op of a supported model into one engine', () => {
    const stdout = succeeds(['summary', CAST_MODEL]);
    assert.match(stdout, /^\[\*\] Total number of engines: 1$/m);
    assert.match(stdout, /^\[\*\] % of ops converted: 100\.00% \[11\/11\]$/m);
  });

  test('the segmentation flags: a large minimum segment size and no engines allowed', () => {
    const large = succeeds([
      'summary',
      CAST_MODEL,
      '--denyOps',
      'Cast',
      '--minimumSegmentSize',
      '5'
    ]);
    assert.match(large, /^\[\*\] Total number of engines: 1$/m);
    assert.match(large, /4 nodes < minimum_segment_size 5/);
    const none = succeeds(['summary', CAST_MODEL, '--maxAllowedEngines', '0', '--fp16']);
    assert.match(none, /^\[\*\] Total number of engines: 0$/m);
    assert.match(none, /more engines than maxAllowedEngines 0/);
    assert.match(none, /^params +precision fp16,/m);
  });

  test('names a domain-qualified op type in --denyOps', () => {
    const stdout = succeeds(['summary', CUSTOM_OP_MODEL, '--denyOps', 'com.example::Swish']);
    assert.match(stdout, /^ {4}- com\.example::Swish: 1x \(com\.example::Swish is in denyOps\)$/m);
  });
});

describe('bad conversion flags', () => {
  const cases: { args: string[]; message: RegExp }[] = [
    {
      args: ['summary', CAST_MODEL, '--minimumSegmentSize', '0'],
      message: /--minimumSegmentSize must be an integer of at least 1, got '0'/
    },
    {
      args: ['build', CAST_MODEL, '-o', 'never.wtrt', '--maximumCachedEngines', 'x'],
      message: /--maximumCachedEngines must be an integer of at least 1, got 'x'/
    },
    {
      args: ['summary', CAST_MODEL, '--maxAllowedEngines=-1'],
      message: /--maxAllowedEngines must be an integer of at least 0, got '-1'/
    },
    {
      args: ['exec', '--onnx', CAST_MODEL, '--denyOps', 'Cast,Not An Op'],
      message: /--denyOps 'Not An Op' is not an op type/
    }
  ];
  for (const { args, message } of cases) {
    test(args.slice(-2).join(' '), () => failsWith(args, 2, message));
  }
});

describe('converted models', () => {
  test('build --denyOps Cast writes a converted plan whose outputs match the CPU reference', async () => {
    const plan = path('cast.wtrt');
    const stdout = succeeds([
      'build',
      CAST_MODEL,
      '-o',
      plan,
      '--shapes',
      SHAPES,
      '--denyOps',
      'Cast',
      ...UNTUNED
    ]);
    checkCastSummary(stdout);
    assert.match(stdout, /^ {2}engine 0: 1 engine of 1, 0 hits, 1 miss, 0 evictions/m);
    assert.match(stdout, /^ {2}engine 2: 1 engine of 1, 0 hits, 1 miss, 0 evictions/m);
    assert.match(stdout, new RegExp(`^plan +${plan}: `, 'm'));

    const bytes = new Uint8Array(readFileSync(plan));
    assert.equal(planKind(bytes), 'converted');
    const converted = await ConvertedModel.deserialize(bytes, await testDevice());
    try {
      const feeds = { input: randomTensor(SHAPE, { seed: 5 }) };
      const outputs = await converted.run(feeds);
      const graph = importOnnx(new Uint8Array(readFileSync(CAST_MODEL)));
      const expected = runReference(graph, feeds);
      for (const [name, tensor] of Object.entries(expected)) {
        const { maxAbs } = errorStats(outputs[name], tensor);
        assert.ok(maxAbs <= 1e-4, `${name}: max abs error ${maxAbs}`);
      }
      // Both engines were loaded from the plan: the run built nothing.
      for (const segment of converted.engineSegments) {
        const stats = converted.cache(segment.id).stats();
        assert.deepEqual([stats.hits, stats.misses], [1, 0], segment.id);
      }
    } finally {
      converted.destroy();
    }
  });

  test('exec --loadEngine runs the converted plan and prints its engine caches', () => {
    const stdout = succeeds(['exec', '--loadEngine', path('cast.wtrt'), ...QUICK]);
    checkCastSummary(stdout);
    assert.match(stdout, /^Throughput: [0-9.]+ qps$/m);
    assert.match(stdout, /^Load time: [0-9.]+ ms$/m);
    assert.match(stdout, /^H2D, GPU compute and D2H are not timed apart for a converted model/m);
    assert.doesNotMatch(stdout, /^GPU Compute Time:/m);
    // 1 first run and 5 timed: every run a hit, the engines having come with the plan.
    assert.match(stdout, /^=== Engine caches ===$/m);
    assert.match(stdout, /^engine 0: 1 engine of 1, 6 hits, 0 misses, 0 evictions, 1 build in /m);
    assert.match(stdout, /^engine 2: 1 engine of 1, 6 hits, 0 misses, 0 evictions, 1 build in /m);
  });

  test('exec --onnx converts the model: each engine built once (a miss), then hit', () => {
    const stdout = succeeds([
      'exec',
      '--onnx',
      CAST_MODEL,
      '--denyOps',
      'Cast',
      '--shapes',
      'input:1x3x16x16',
      ...UNTUNED,
      ...QUICK
    ]);
    assert.match(stdout, /^Build time: [0-9.]+ ms$/m);
    // The build runs once (a miss), then the first run and 5 timed ones hit.
    assert.match(stdout, /^engine 0: 1 engine of 1, 6 hits, 1 miss, 0 evictions, 1 build in /m);
  });

  test('--dumpProfile on a converted plan says it is not available', () => {
    failsWith(
      ['exec', '--loadEngine', path('cast.wtrt'), '--dumpProfile', ...QUICK],
      2,
      /not available for converted models: .*cast\.wtrt is the plan of a converted model/
    );
  });

  test('an op webtrt does not define fails the build, naming the node and op', () => {
    failsWith(
      ['build', CUSTOM_OP_MODEL, '-o', path('custom.wtrt'), '--shapes', SHAPES],
      1,
      /examples\/models\/custom_op\.onnx uses an op that webtrt does not define, so neither an engine nor the CPU fallback can run it: '\/Swish_0' \(com\.example::Swish\)/
    );
  });

  test('the fully supported small_cnn still builds a plain engine plan', () => {
    const plan = path('cnn.wtrt');
    const stdout = succeeds([
      'build',
      CNN_MODEL,
      '-o',
      plan,
      '--shapes',
      'input:1x3x32x32',
      ...UNTUNED
    ]);
    assert.doesNotMatch(stdout, /Total number of engines/);
    assert.equal(planKind(new Uint8Array(readFileSync(plan))), 'engine');
  });
});
