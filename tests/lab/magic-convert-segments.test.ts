/**
 * `%trt convert` of a model that does not go into one engine (TF-TRT's workflow), on real
 * WebGPU: cast_in_middle.onnx with Cast denied converts into two engines around a CPU
 * fallback; run, inspect and profile then work on its converted plan.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';

import {
  ConversionReport,
  encodeNpy,
  EngineReport,
  importOnnx,
  ModelReport,
  parseNpy,
  planKind,
  reportMimeType,
  runReference,
  RunReport,
  Tensor
} from '../../src/engine';
import type { Report } from '../../src/engine';
import { isConverted, ISessionConverted } from '../../src/lab/magics/context';
import { runMagic } from '../../src/lab/magics/index';
import { errorStats } from '../helpers/compare';
import { magicError, TestContext, testContext } from '../helpers/magic-context';
import { MemoryFiles } from '../helpers/memory-files';
import { randomTensor } from '../helpers/random';

/** Input [batch, 3, 16, 16]: conv-relu ×2, Cast to float16 and back, conv-relu, pool, Gemm. */
const CAST_IN_MIDDLE = readFileSync('examples/models/cast_in_middle.onnx');
/** Swish of the custom domain com.example in the middle: an op nobody defines. */
const CUSTOM_OP = readFileSync('examples/models/custom_op.onnx');
const CONVERT =
  '%trt convert cast_in_middle.onnx --shapes input:1x3x16x16 --deny-ops Cast --optimization-level 0';
const PLAN = 'cast_in_middle.wtrt';
const REFERENCE_TOLERANCE = 1e-4;

function files(extra: Record<string, Uint8Array> = {}): MemoryFiles {
  return new MemoryFiles({ 'cast_in_middle.onnx': CAST_IN_MIDDLE, ...extra });
}

/** The last output of a command, as a report of `kind`. */
function lastReport<R extends Report>(context: TestContext, kind: R['kind']): R {
  const bundle = context.outputs.at(-1);
  const report = bundle?.[reportMimeType(kind)] as R | undefined;
  assert.ok(report, `a ${kind} report, got ${Object.keys(bundle ?? {}).join(', ')}`);
  return report;
}

function heldConverted(context: TestContext): ISessionConverted {
  const held = context.session.find(PLAN);
  assert.ok(held && isConverted(held), `${PLAN} is a converted model in the session`);
  return held;
}

function cacheCounts(report: ConversionReport): { hits: number; misses: number }[] {
  return report.engines.map(({ cache }) => ({ hits: cache!.hits, misses: cache!.misses }));
}

describe('%trt convert into segments', () => {
  test('with Cast denied: two engines built with progress, the fallback Cast, the converted plan written', async () => {
    const context = testContext({ files: files() });
    await runMagic(CONVERT, context);

    assert.deepEqual(context.files.writes, [PLAN]);
    const plan = context.files.files.get(PLAN)!;
    assert.equal(planKind(plan), 'converted');
    const held = heldConverted(context);
    const report = lastReport<ConversionReport>(context, 'conversion');
    assert.equal(report, held.report);
    assert.equal(context.outputs.length, 1);
    assert.equal(typeof context.outputs[0]['text/plain'], 'string');

    const graph = importOnnx(CAST_IN_MIDDLE);
    assert.deepEqual(
      report.engines.map(row => row.segment),
      ['engine 0', 'engine 2']
    );
    assert.deepEqual(report.unconverted, [
      { op: 'Cast', count: 2, reasons: ['Cast is in denyOps'] }
    ]);
    assert.deepEqual(report.converted, {
      nodes: graph.nodes.length - 2,
      total: graph.nodes.length
    });
    assert.deepEqual(report.denyOps, ['Cast']);
    assert.deepEqual(report.plan, { path: PLAN, bytes: plan.byteLength });
    const fallbackNodes = report.partitions.nodes.filter(node =>
      node.segment?.startsWith('fallback')
    );
    assert.deepEqual(
      fallbackNodes.map(node => node.opType),
      ['Cast', 'Cast']
    );
    // Built ahead of time at the shapes given: one miss and one engine per segment.
    for (const { cache } of report.engines) {
      assert.equal(cache?.misses, 1);
      assert.equal(cache?.builds, 1);
      assert.equal(cache?.entries.length, 1);
    }
    assert.deepEqual(report.engines[0].cache?.entries[0].shapes, { input: [1, 3, 16, 16] });

    // Each engine's build shows its own progress, engine by engine, ending at its total.
    const titles = [...new Set(context.progressUpdates.map(update => update.title))];
    assert.deepEqual(titles, [
      'Building cast_in_middle.onnx: engine 0 (1 of 2)',
      'Building cast_in_middle.onnx: engine 2 (2 of 2)'
    ]);
    for (const title of titles) {
      const last = context.progressUpdates.filter(update => update.title === title).at(-1)!;
      assert.equal(last.done, last.total);
    }
    context.session.releaseEngines();
  });

  test('%%trt takes the same options as YAML keys; without denied ops the model is one engine', async () => {
    const context = testContext({ files: files() });
    await runMagic(
      [
        '%%trt convert cast_in_middle.onnx',
        'shapes: {input: [1, 3, 16, 16]}',
        'deny-ops: [Cast]',
        'minimum-segment-size: 2',
        'maximum-cached-engines: 2',
        'optimization-level: 0'
      ].join('\n'),
      context
    );
    const report = lastReport<ConversionReport>(context, 'conversion');
    assert.equal(report.maximumCachedEngines, 2);
    assert.equal(report.minimumSegmentSize, 2);
    assert.equal(report.engines[0].cache?.capacity, 2);

    await runMagic(CONVERT.replace(' --deny-ops Cast', ''), context);
    const engine = lastReport<EngineReport>(context, 'engine');
    assert.deepEqual(
      engine.partitions.segments.map(segment => segment.kind),
      ['engine']
    );
    assert.equal(planKind(context.files.files.get(PLAN)!), 'engine');
    assert.ok(context.session.findEngine(PLAN), 'the engine replaced the converted model');
    context.session.releaseEngines();
  });

  test('an interrupt during an engine build rejects with the abort and writes nothing', async () => {
    const controller = new AbortController();
    const reason = new DOMException('interrupted', 'AbortError');
    const context = testContext({
      files: files(),
      signal: controller.signal,
      onProgress: update => update.title.includes('(2 of 2)') && controller.abort(reason)
    });
    await assert.rejects(runMagic(CONVERT, context), error => error === reason);
    assert.deepEqual(context.files.writes, []);
    assert.equal(context.session.models.length, 0);
  });

  test('a model with an op nobody defines is one MagicError naming the node and op', async () => {
    const context = testContext({ files: new MemoryFiles({ 'custom_op.onnx': CUSTOM_OP }) });
    const message = await magicError(
      '%trt convert custom_op.onnx --shapes input:1x3x16x16 --optimization-level 0',
      context
    );
    assert.match(message, /^custom_op\.onnx uses an op that webtrt does not define/);
    assert.match(message, /com\.example::Swish/);
    assert.deepEqual(context.files.writes, []);
  });
});

describe('a converted plan', () => {
  test('%trt run matches the CPU reference and counts cache hits and misses as the batch varies', async () => {
    const converting = testContext({ files: files() });
    await runMagic(CONVERT, converting);
    const plan = converting.files.files.get(PLAN)!;
    converting.session.releaseEngines();

    const input = randomTensor([1, 3, 16, 16], { seed: 5 });
    const context = testContext({ files: files({ [PLAN]: plan, 'x.npy': encodeNpy(input) }) });
    await runMagic(`%trt run ${PLAN} --input input=x.npy -o y.npy`, context);
    const written = parseNpy(context.files.files.get('y.npy')!, 'y.npy');
    const expected: Tensor = runReference(importOnnx(CAST_IN_MIDDLE), { input }).logits;
    const { maxRel } = errorStats(written, expected);
    assert.ok(maxRel <= REFERENCE_TOLERANCE, `relative error ${maxRel} against the CPU reference`);
    // Loaded from the plan: the engines built at batch 1 serve batch 1.
    const counts = () => cacheCounts(heldConverted(context).report);
    assert.deepEqual(counts(), [
      { hits: 1, misses: 0 },
      { hits: 1, misses: 0 }
    ]);

    // Batch 2 is new: each segment builds (a miss) and, keeping one engine, evicts batch 1's;
    // batch 1 again runs on the batch-2 engine, padded (a hit).
    await runMagic(`%trt run ${PLAN} --shapes input:2x3x16x16`, context);
    const run = lastReport<RunReport>(context, 'run');
    assert.deepEqual(run.outputs[0].shape, [2, 10]);
    assert.ok(context.progressUpdates.some(update => update.title.endsWith('engine 0 (1 of 2)')));
    assert.deepEqual(counts(), [
      { hits: 1, misses: 1 },
      { hits: 1, misses: 1 }
    ]);
    await runMagic(`%trt run ${PLAN} --input input=x.npy -o y1.npy`, context);
    const padded = parseNpy(context.files.files.get('y1.npy')!, 'y1.npy');
    assert.ok(errorStats(padded, expected).maxRel <= REFERENCE_TOLERANCE);
    const { report } = heldConverted(context);
    assert.deepEqual(counts(), [
      { hits: 2, misses: 1 },
      { hits: 2, misses: 1 }
    ]);
    for (const { cache } of report.engines) {
      assert.equal(cache?.evictions, 1);
      assert.deepEqual(
        cache?.entries.map(entry => entry.hits),
        [1]
      );
    }
    context.session.releaseEngines();
  });

  test('%trt inspect shows its conversion summary; --deny-ops splits a model, not a plan', async () => {
    const converting = testContext({ files: files() });
    await runMagic(CONVERT, converting);
    const context = testContext({ files: converting.files, session: converting.session });

    await runMagic(`%trt inspect ${PLAN}`, context);
    assert.equal(lastReport<ConversionReport>(context, 'conversion').engines.length, 2);

    await runMagic('%trt inspect cast_in_middle.onnx --deny-ops Cast', context);
    const model = lastReport<ModelReport>(context, 'model');
    assert.deepEqual(
      model.partitions.segments.map(segment => segment.kind),
      ['engine', 'fallback', 'engine']
    );

    const message = await magicError(`%trt inspect ${PLAN} --deny-ops Cast`, context);
    assert.match(message, /--deny-ops splits an ONNX model/);
    context.session.releaseEngines();
  });

  test('%trt profile says that per-layer profiles need one engine', async () => {
    const context = testContext({ files: files() });
    await runMagic(CONVERT, context);
    const message = await magicError(`%trt profile ${PLAN}`, context);
    assert.match(message, /is a converted model \(2 engine segments and 1 fallback segment\)/);
    assert.match(message, /per-layer profiles/);
    assert.deepEqual(context.files.writes, [PLAN]);
    context.session.releaseEngines();
  });
});
