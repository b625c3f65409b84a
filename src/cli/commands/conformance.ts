import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { choiceFlag, numberFlag, positionalArgs, stringFlag } from '../args';
import { Backend, BACKENDS, createRunner, Runner } from '../backends';
import { Command } from '../command';
import { writeBytes } from '../files';
import { formatMs } from '../format';
import { findTestCases, LoadedCase, loadTestCase, TestCase } from '../onnx-tests/cases';
import { ONNX_TOLERANCE } from '../onnx-tests/compare';
import { renderReport, RunInfo } from '../onnx-tests/report';
import { loadFailure, Outcome, runOnBackend } from '../onnx-tests/run';
import {
  gateFailures,
  LISTED_OPS,
  passRate,
  percent,
  summarizeOps,
  TestResult,
  total
} from '../onnx-tests/summary';

const DEFAULT_DATA_DIR = '/usr/share/libonnx-testdata/data/node';
const DEFAULT_MIN_PASS_RATE = 0.9;
const PROGRESS_EVERY = 100;

export const conformanceCommand: Command = {
  name: 'conformance',
  summary: "run ONNX's backend node tests and report pass rates per op and backend",
  help: `Usage: webtrt conformance [options]

Runs every ONNX backend node test (<data-dir>/<test>/model.onnx with its
test_data_set_*) on the chosen backends and compares the outputs as ONNX does (rtol 1e-3,
atol 1e-7; integers and booleans exact). Each test is pass, fail, unsupported, or on
webgpu cpu-fallback (matched, but some node ran on the CPU). Prints the pass rates;
--output writes the full report (per-op table, every test not passing with its reason).

Exits with 1 when one of the ${LISTED_OPS.length} listed ops (Conv, Relu, MatMul, ...) passes fewer
than --min-pass-rate of its tests on a backend, so CI catches regressions.

Options:
  --backend cpu|webgpu|both   backends to run (default both)
  --filter substr             only tests whose directory name holds substr
  --output file.md            write the report there (e.g. docs/conformance.md)
  --data-dir dir              the node tests (default ${DEFAULT_DATA_DIR})
  --min-pass-rate r           gate for each listed op, 0 to 1 (default ${DEFAULT_MIN_PASS_RATE})
  -h, --help                  show this help`,
  options: {
    backend: { type: 'string' },
    filter: { type: 'string' },
    output: { type: 'string' },
    'data-dir': { type: 'string' },
    'min-pass-rate': { type: 'string' }
  },
  async run(args) {
    positionalArgs(args, []);
    const choice = choiceFlag(args, 'backend', ['both', ...BACKENDS], 'both');
    const backends: Backend[] = choice === 'both' ? ['cpu', 'webgpu'] : [choice];
    const filter = stringFlag(args, 'filter');
    const output = stringFlag(args, 'output');
    const dataDir = stringFlag(args, 'data-dir') ?? DEFAULT_DATA_DIR;
    const minPassRate = numberFlag(args, 'min-pass-rate', [0, 1]) ?? DEFAULT_MIN_PASS_RATE;

    const cases = findTestCases(dataDir, filter);
    if (!cases.length) {
      throw new Error(`no node tests in ${dataDir}${filter ? ` match '${filter}'` : ''}`);
    }
    const command = [
      'webtrt conformance',
      `--backend ${choice}`,
      filter ? `--filter ${filter}` : '',
      output ? `--output ${output}` : '',
      `--data-dir ${dataDir}`,
      `--min-pass-rate ${minPassRate}`
    ].filter(part => part);
    const suite = new Suite(backends);
    try {
      await suite.start();
      const started = performance.now();
      for (const [index, testCase] of cases.entries()) {
        await suite.run(testCase);
        if ((index + 1) % PROGRESS_EVERY === 0) {
          const elapsed = formatMs(performance.now() - started);
          process.stderr.write(`conformance: ${index + 1} of ${cases.length} tests, ${elapsed}\n`);
        }
      }
    } finally {
      suite.dispose();
    }

    const summaries = summarizeOps(suite.results);
    const info: RunInfo = {
      date: new Date()
        .toISOString()
        .replace(/:\d\d\.\d+Z$/, ' UTC')
        .replace('T', ' '),
      command: command.join(' '),
      commit: describeCommit(),
      node: process.version,
      dataDir,
      backends,
      runners: suite.descriptions,
      backendMs: suite.backendMs,
      loadMs: suite.loadMs,
      tolerance: ONNX_TOLERANCE,
      minPassRate,
      deviceResets: suite.deviceResets
    };
    if (output) {
      writeBytes(output, renderReport(info, suite.results, summaries));
    }
    const listed = total(
      summaries.filter(s => s.listed),
      'listed'
    );
    const all = total(summaries, 'all');
    const rate = (summary: typeof all, backend: Backend) =>
      `${backend} ${summary.counts[backend].pass}/${summary.tests} (${percent(passRate(summary, backend))})`;
    const failures = gateFailures(summaries, backends, minPassRate);
    process.stdout.write(
      [
        `tests        ${cases.length} from ${dataDir}`,
        `time         loading ${formatMs(suite.loadMs)}, ${backends.map(b => `${b} ${formatMs(suite.backendMs[b] ?? 0)}`).join(', ')}`,
        `listed ops   ${backends.map(b => rate(listed, b)).join(', ')}`,
        `all tests    ${backends.map(b => rate(all, b)).join(', ')}`,
        ...(output ? [`report       ${output}`] : []),
        ...failures.map(line => `below gate   ${line}`)
      ].join('\n') + '\n'
    );
    if (failures.length) {
      throw new Error(
        `${failures.length} listed op/backend pairs pass fewer than ${percent(minPassRate)} of their tests`
      );
    }
  }
};

/** The runners of the chosen backends and what they have produced so far. */
class Suite {
  readonly results: TestResult[] = [];
  readonly backendMs: Partial<Record<Backend, number>> = {};
  readonly descriptions: Partial<Record<Backend, string>> = {};
  readonly deviceResets: string[] = [];
  loadMs = 0;
  private readonly runners = new Map<Backend, Runner>();

  constructor(private readonly backends: readonly Backend[]) {}

  async start(): Promise<void> {
    for (const backend of this.backends) {
      const runner = await createRunner(backend);
      this.runners.set(backend, runner);
      this.descriptions[backend] = runner.description;
      this.backendMs[backend] = 0;
    }
  }

  async run(testCase: TestCase): Promise<void> {
    const outcomes: Partial<Record<Backend, Outcome>> = {};
    const start = performance.now();
    let loaded: LoadedCase | undefined;
    try {
      loaded = loadTestCase(testCase);
    } catch (error) {
      const failure = loadFailure(error, 0);
      this.backends.forEach(backend => (outcomes[backend] = failure));
    }
    this.loadMs += performance.now() - start;
    for (const backend of loaded ? this.backends : []) {
      const runner = this.runners.get(backend)!;
      outcomes[backend] = await runOnBackend(loaded!, runner, ONNX_TOLERANCE);
      this.backendMs[backend]! += outcomes[backend]!.ms;
      await this.replaceIfLost(runner, testCase);
    }
    this.results.push({ name: testCase.name, op: testCase.op, outcomes });
  }

  /** A lost GPU device fails the test that lost it, not every test after it. */
  private async replaceIfLost(runner: Runner, testCase: TestCase): Promise<void> {
    const reason = runner.lostReason();
    if (reason) {
      this.deviceResets.push(`after ${testCase.name}: ${reason}`);
      runner.dispose();
      this.runners.set(runner.backend, await createRunner(runner.backend));
    }
  }

  dispose(): void {
    this.runners.forEach(runner => runner.dispose());
  }
}

/** The commit the report describes, marked when the working tree differs from it. */
function describeCommit(): string {
  const git = (...args: string[]) =>
    execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    const commit = git('rev-parse', '--short', 'HEAD');
    const dirty = git('status', '--porcelain', '--untracked-files=no') !== '';
    return dirty ? `${commit} (with uncommitted changes to tracked files)` : commit;
  } catch {
    return 'unknown (not a git checkout)';
  }
}
