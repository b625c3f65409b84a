import { isFloat } from '../ir/dtype';
import { Tensor } from '../ir/tensor';
import { latencySummary } from '../runtime/stats';
import type { OutputSummary, RunReport } from './types';

export interface OutputSummaryOptions {
  /** Scores listed for a classifier-like output (default 5; 0 lists none). */
  topK?: number;
  /** Leading elements kept (default 6). */
  head?: number;
}

/**
 * An output tensor in a few numbers: statistics over its finite elements (NaN and infinities
 * are counted apart), its first elements, and for a classifier-like output ([N, C] or [C]
 * floats with C > 1) the top-k scores of its first row.
 */
export function outputSummary(
  name: string,
  tensor: Tensor,
  options: OutputSummaryOptions = {}
): OutputSummary {
  const { topK = 5, head = 6 } = options;
  for (const [option, value] of Object.entries({ topK, head })) {
    if (!Number.isInteger(value) || value < 0) {
      throw new Error(`outputSummary: ${option} must be a non-negative integer, got ${value}`);
    }
  }
  const values = tensor.toNumbers();
  const scores = classifierRow(tensor, values);
  return {
    name,
    dtype: tensor.dtype,
    shape: [...tensor.shape],
    stats: finiteStats(values),
    head: Array.from(values.subarray(0, head)),
    ...(scores && topK > 0 && { topK: highest(scores, topK) })
  };
}

function finiteStats(values: Float64Array): OutputSummary['stats'] {
  let count = 0;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const value of values) {
    if (Number.isFinite(value)) {
      count++;
      min = Math.min(min, value);
      max = Math.max(max, value);
      sum += value;
    }
  }
  const nonFinite = values.length - count;
  if (count === 0) {
    return { min: NaN, max: NaN, mean: NaN, std: NaN, nonFinite };
  }
  const mean = sum / count;
  // Two passes: the squared deviations from the mean, which a single-pass sum of squares
  // loses to cancellation when the mean is large beside the spread.
  let squares = 0;
  for (const value of values) {
    if (Number.isFinite(value)) {
      squares += (value - mean) ** 2;
    }
  }
  return { min, max, mean, std: Math.sqrt(squares / count), nonFinite };
}

/** The scores of the first row of a [N, C] or [C] float tensor with C > 1, else undefined. */
function classifierRow(tensor: Tensor, values: Float64Array): Float64Array | undefined {
  const { shape } = tensor;
  const classes = shape[shape.length - 1];
  const classifier =
    isFloat(tensor.dtype) && (shape.length === 1 || shape.length === 2) && classes > 1;
  return classifier && values.length > 0 ? values.subarray(0, classes) : undefined;
}

/** The k highest scores, highest first (ties by index); NaN scores are never among them. */
function highest(scores: Float64Array, k: number): { index: number; score: number }[] {
  return Array.from(scores, (score, index) => ({ index, score }))
    .filter(entry => !Number.isNaN(entry.score))
    .sort((a, b) => b.score - a.score || a.index - b.index)
    .slice(0, k);
}

/** What one run was given and gave back, for runReport. */
export interface RunRecord {
  source: string;
  /** The adapter or executor it ran on, in words. */
  device: string;
  inputs: RunReport['inputs'];
  outputs: Record<string, Tensor>;
  /** Each timed run's latency, in ms (at least one). */
  timesMs: readonly number[];
  /** Where each output was written as .npy, by output name. */
  files?: Record<string, string>;
}

/** A run as a report: its inputs, a summary of each output and the latency of its runs. */
export function runReport(run: RunRecord, options: OutputSummaryOptions = {}): RunReport {
  return {
    kind: 'run',
    source: run.source,
    device: run.device,
    inputs: run.inputs.map(input => ({ ...input, shape: [...input.shape] })),
    outputs: Object.entries(run.outputs).map(([name, tensor]) => {
      const file = run.files?.[name];
      return { ...outputSummary(name, tensor, options), ...(file !== undefined && { file }) };
    }),
    latency: latencySummary(run.timesMs)
  };
}
