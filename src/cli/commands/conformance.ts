import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { choiceFlag, numberFlag, positionalArgs, stringFlag } from '../args';
import { Backend, BACKENDS, createRunner, Runner } from '../backends';
import { Command } from '../command';
import { field, formatMs } from '../engine';
import { writeBytes } from '../files';
import { findTestCases, LoadedCase, loadTestCase, TestCase } from '../onnx-tests/cases';
import { ONNX_TOLERANCE } from '../onnx-tests/compare';
import { describeTimes, renderReport, RunInfo } from '../onnx-tests/report';
import { loadFailure, Outcome, runOnBackend } from '../onnx-tests/run';
import {
  gateFailures,
  LISTED_OPS,
  OpSummary,
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

Exits with 1 when, on a backend, one of the ${LISTED_OPS.length} listed ops (Conv, Relu, MatMul, ...)
passes fewer than --min-pass-rate of the tests that backend computed itself (passed or
failed; unsupported and cpu-fallback tests are reported, not gated), so CI catches
wrong results.

Options:
  --backend cpu|webgpu|both   backends to run (default both)
  --filter substr             only tests whose directory name holds substr
  --output file.md            write the report there (e.g. docs/conformance.md)
  --data-dir dir              the node tests (default ${DEFAULT_DATA_DIR})
  --min-pass-rate r           the gate, 0 to 1 (default ${DEFAULT_MIN_PASS_RATE})
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
    const suite = new Suite(backends);
    await suite.runAll(cases);

    const summaries = summarizeOps(suite.results);
    const info: RunInfo = {
      date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
      command: [
        `webtrt conformance --backend ${choice}`,
        ...(filter ? [`--filter ${filter}`] : []),
        ...(output ? [`--output ${output}`] : []),
        `--data-dir ${dataDir} --min-pass-rate ${minPassRate}`
      ].join(' '),
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
    const failures = gateFailures(summaries, backends, minPassRate);
    const rates = (summary: OpSummary) =>
      backends
        .map(
          b => `${b} ${summary.counts[b].pass}/${summary.tests} (${percent(passRate(summary, b))})`
        )
        .join(', ');
    const listed = summaries.filter(s => s.listed);
    const lines = [
      field('tests', `${cases.length} from ${dataDir}`),
      field('time', describeTimes(info)),
      field('listed ops', rates(total(listed, 'listed'))),
      field('all tests', rates(total(summaries, 'all'))),
      ...(output ? [field('report', output)] : []),
      ...failures.map(failure => field('below gate', failure))
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    if (failures.length) {
      throw new Error(
        `${failures.length} listed op/backend pairs pass fewer than ${percent(minPassRate)} of the tests they computed`
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

  /** Runs the tests one after the other, with a progress line on stderr now and then. */
  async runAll(cases: readonly TestCase[]): Promise<void> {
    try {
      for (const backend of this.backends) {
        const runner = await createRunner(backend);
        this.runners.set(backend, runner);
        this.descriptions[backend] = runner.description;
      }
      const started = performance.now();
      for (const [index, testCase] of cases.entries()) {
        await this.run(testCase);
        if ((index + 1) % PROGRESS_EVERY === 0) {
          const elapsed = formatMs(performance.now() - started);
          process.stderr.write(`conformance: ${index + 1} of ${cases.length} tests, ${elapsed}\n`);
        }
      }
    } finally {
      this.runners.forEach(runner => runner.dispose());
    }
  }

  private async run(testCase: TestCase): Promise<void> {
    const { name, op } = testCase;
    const start = performance.now();
    let loaded: LoadedCase;
    try {
      loaded = loadTestCase(testCase);
    } catch (error) {
      // A model or data the engine cannot read: the same outcome on every backend.
      const failure = loadFailure(error);
      this.results.push({
        name,
        op,
        outcomes: Object.fromEntries(this.backends.map(backend => [backend, failure]))
      });
      return;
    } finally {
      this.loadMs += performance.now() - start;
    }
    const outcomes: Partial<Record<Backend, Outcome>> = {};
    for (const [backend, runner] of this.runners) {
      const outcome = await runOnBackend(loaded, runner, ONNX_TOLERANCE);
      outcomes[backend] = outcome;
      this.backendMs[backend] = (this.backendMs[backend] ?? 0) + outcome.ms;
      await this.replaceIfLost(runner, testCase);
    }
    this.results.push({ name, op, outcomes });
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
