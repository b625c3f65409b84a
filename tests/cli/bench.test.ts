/**
 * The benchmark harness's parts that run without a GPU machine: the markdown table from
 * recorded runs (scripts/bench/table.ts) and run.sh's refusal of bad options.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'webtrt-bench-'));
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** An --exportTimes file of these latencies (and GPU compute times, for an engine). */
function times(file: string, latenciesMs: number[], rest: object): string {
  const executions = latenciesMs.map((latencyMs, i) => ({ startMs: i * 10, latencyMs }));
  mkdirSync(join(dir, 'times'), { recursive: true });
  writeFileSync(join(dir, 'times', file), JSON.stringify({ ...rest, executions }));
  return `times/${file}`;
}

describe('scripts/bench/table.ts', () => {
  test('one row per run: first run, median, p90, GPU compute, speed-up; failures listed', () => {
    // Each phase-timed execution's compute is slower than the back-to-back passes': the
    // table takes the latter.
    const phases = (computeMs: number[]) => ({
      executions: computeMs.map(ms => ({ startMs: 0, h2dMs: 0.1, computeMs: 2 * ms, d2hMs: 0.2 })),
      compute: { clock: 'gpu', timesMs: computeMs }
    });
    const runs = [
      ['cnn', '8', 'native', times('native.json', [6, 4, 5], { firstRunMs: 500 })],
      [
        'cnn',
        '8',
        'fp32',
        times('fp32.json', [2, 1, 2, 1], {
          setup: { label: 'Build time', ms: 1500 },
          firstRunMs: 100,
          phases: phases([0.5, 0.9, 0.7])
        })
      ],
      ['cnn', '8', 'fp16', 'failed: webtrt: error: no kernel | for this'],
      [
        'cnn',
        '8',
        'ort-web',
        times('ort.json', [10], { setup: { label: 'Session create', ms: 30000 }, firstRunMs: 2000 })
      ],
      ['bert', '1', 'native', 'failed: timed out after 300 s'],
      ['bert', '1', 'fp32', times('bert.json', [3], { firstRunMs: 1000 })]
    ];
    writeFileSync(join(dir, 'runs.tsv'), runs.map(run => `${run.join('\t')}\n`).join(''));

    const result = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/bench/table.ts', dir], {
      encoding: 'utf8'
    });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(
      result.stdout,
      [
        '| model | batch | mode | first run s | median ms | p90 ms | GPU compute median ms | speed-up vs native |',
        '| --- | --- | --- | --- | --- | --- | --- | --- |',
        '| cnn | 8 | webtrt native (op by op) | 0.50 | 5.00 | 6.00 | — | 1.00× |',
        '| cnn | 8 | webtrt engine FP32 | 1.60 | 1.50 | 2.00 | 0.700 | 3.33× |',
        '| cnn | 8 | webtrt engine FP16 | failed | — | — | — | — |',
        '| cnn | 8 | onnxruntime-web WebGPU | 32.00 | 10.0 | 10.0 | — | 0.50× |',
        '| bert | 1 | webtrt native (op by op) | failed | — | — | — | — |',
        '| bert | 1 | webtrt engine FP32 | 1.00 | 3.00 | 3.00 | — | — |',
        '',
        'Failed runs:',
        '',
        '- cnn, batch 8, webtrt engine FP16: webtrt: error: no kernel | for this',
        '- bert, batch 1, webtrt native (op by op): timed out after 300 s',
        ''
      ].join('\n')
    );
  });
});

describe('scripts/bench/run.sh', () => {
  test('refuses unknown options and modes before doing anything', () => {
    for (const [args, message] of [
      [['--fast'], /unknown option '--fast'/],
      [['--modes', 'native,tensorrt'], /unknown mode 'tensorrt'/],
      [['--models'], /--models needs a value/]
    ] as const) {
      const result = spawnSync('scripts/bench/run.sh', [...args], { encoding: 'utf8' });
      assert.equal(result.status, 2, result.stderr);
      assert.match(result.stderr, message);
    }
  });
});
