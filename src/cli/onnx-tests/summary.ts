/** Counts per op and backend, pass rates, and the regression gate. */
import { Backend } from '../backends';
import { FUNCTION_EXPANDED } from './cases';
import { Outcome, Status, STATUSES } from './run';

/** The ops the conformance gate watches: those the first models need. */
export const LISTED_OPS: readonly string[] = [
  'Conv',
  'ConvTranspose',
  'BatchNormalization',
  'Relu',
  'LeakyRelu',
  'Clip',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Tanh',
  'Erf',
  'Gelu',
  'Softmax',
  'LogSoftmax',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Pow',
  'Sqrt',
  'Reciprocal',
  'Neg',
  'Exp',
  'Log',
  'Abs',
  'Min',
  'Max',
  'MatMul',
  'Gemm',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'ReduceMean',
  'ReduceSum',
  'ReduceMax',
  'LayerNormalization',
  'Flatten',
  'Reshape',
  'Transpose',
  'Concat',
  'Split',
  'Slice',
  'Gather',
  'Squeeze',
  'Unsqueeze',
  'Expand',
  'Shape',
  'ConstantOfShape',
  'Cast',
  'Where',
  'Equal',
  'Less',
  'Greater',
  'Not',
  'Pad',
  'Resize',
  'Identity',
  'Dropout'
];

export interface TestResult {
  name: string;
  op: string;
  outcomes: Partial<Record<Backend, Outcome>>;
}

export type StatusCounts = Record<Status, number>;

export interface OpSummary {
  op: string;
  listed: boolean;
  tests: number;
  counts: Record<Backend, StatusCounts>;
}

function emptyCounts(): StatusCounts {
  return Object.fromEntries(STATUSES.map(status => [status, 0])) as StatusCounts;
}

function tally(results: readonly TestResult[], op: string, listed: boolean): OpSummary {
  const summary: OpSummary = {
    op,
    listed,
    tests: results.length,
    counts: { webgpu: emptyCounts(), cpu: emptyCounts() }
  };
  for (const result of results) {
    for (const [backend, outcome] of Object.entries(result.outcomes) as [Backend, Outcome][]) {
      summary.counts[backend][outcome.status]++;
    }
  }
  return summary;
}

/** One row per listed op (in the list's order, with or without tests), then the other ops. */
export function summarizeOps(results: readonly TestResult[]): OpSummary[] {
  const byOp = new Map<string, TestResult[]>();
  for (const result of results) {
    byOp.set(result.op, [...(byOp.get(result.op) ?? []), result]);
  }
  const listed = LISTED_OPS.map(op => tally(byOp.get(op) ?? [], op, true));
  const others = [...byOp.keys()]
    .filter(op => !LISTED_OPS.includes(op))
    .sort((a, b) =>
      a === FUNCTION_EXPANDED ? 1 : b === FUNCTION_EXPANDED ? -1 : a.localeCompare(b)
    )
    .map(op => tally(byOp.get(op)!, op, false));
  return [...listed, ...others];
}

/** The sum of several ops' counts, e.g. over all listed ops. */
export function total(summaries: readonly OpSummary[], op: string): OpSummary {
  const sum = tally([], op, false);
  for (const summary of summaries) {
    sum.tests += summary.tests;
    for (const backend of Object.keys(sum.counts) as Backend[]) {
      for (const status of STATUSES) {
        sum.counts[backend][status] += summary.counts[backend][status];
      }
    }
  }
  return sum;
}

/** Passes over all tests of the op (failures, fallbacks and unsupported tests count against). */
export function passRate(summary: OpSummary, backend: Backend): number {
  return summary.tests ? summary.counts[backend].pass / summary.tests : 1;
}

/**
 * What the regression gate checks: of the tests a backend computed itself (pass or fail),
 * the share that passed; undefined when it computed none. Unsupported tests are the
 * engine's declared limits and cpu-fallback tests ran on the CPU reference ops, so
 * neither says whether the backend's own results are right; the report counts them.
 */
export function gateRate(summary: OpSummary, backend: Backend): number | undefined {
  const { pass, fail } = summary.counts[backend];
  return pass + fail ? pass / (pass + fail) : undefined;
}

export function isBelowGate(summary: OpSummary, backend: Backend, minRate: number): boolean {
  const rate = gateRate(summary, backend);
  return rate !== undefined && rate < minRate;
}

/** The listed ops below the gate on a backend, one line each. */
export function gateFailures(
  summaries: readonly OpSummary[],
  backends: readonly Backend[],
  minRate: number
): string[] {
  const failures: string[] = [];
  for (const summary of summaries.filter(s => s.listed)) {
    for (const backend of backends) {
      if (isBelowGate(summary, backend, minRate)) {
        const { pass, fail } = summary.counts[backend];
        const rate = percent(gateRate(summary, backend)!);
        failures.push(
          `${summary.op} on ${backend}: ${pass} of the ${pass + fail} tests it computed ` +
            `pass (${rate}, below ${percent(minRate)})`
        );
      }
    }
  }
  return failures;
}

export function percent(rate: number): string {
  return `${(rate * 100).toFixed(1)}%`;
}
