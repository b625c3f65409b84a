/**
 * Timing reports as trtexec gives them: the latency summary, the --dumpProfile table, and a
 * Chrome trace event file (opened by Perfetto and chrome://tracing) for the timeline.
 */

export interface LatencySummary {
  count: number;
  min: number;
  max: number;
  mean: number;
  median: number;
  p90: number;
  p95: number;
  p99: number;
}

function sum(values: readonly number[]): number {
  return values.reduce((total, t) => total + t, 0);
}

/** Sorted ascending, in a copy. */
function ascending(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/** The middle sample, or the mean of the two middle ones (trtexec's findMedian). */
function median(sorted: readonly number[]): number {
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * trtexec's percentile (findPercentile in sampleReporting.cpp): of n ascending samples, leave
 * out the floor((1 - p/100) * n) largest and take the largest left; no interpolation. trtexec
 * computes the count in float32, which decides the index at exact multiples (its p99 of 100
 * samples is the maximum, where float64 would give the second largest), so this does too.
 */
function percentile(sorted: readonly number[], p: number): number {
  const f32 = Math.fround;
  const leftOut = Math.trunc(f32(f32(1 - f32(p / 100)) * sorted.length));
  return sorted[Math.max(sorted.length - 1 - leftOut, 0)];
}

/** Summary of latency samples in ms, as trtexec's performance summary computes it. */
export function latencySummary(samplesMs: readonly number[]): LatencySummary {
  if (samplesMs.length === 0) {
    throw new Error('latencySummary: no latency samples to summarize');
  }
  const sorted = ascending(samplesMs);
  return {
    count: sorted.length,
    min: sorted[0],
    max: sorted[sorted.length - 1],
    mean: sum(sorted) / sorted.length,
    median: median(sorted),
    p90: percentile(sorted, 90),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99)
  };
}

export interface TimelineEvent {
  name: string;
  /** Events of one category share a track (a thread in the trace). */
  category: string;
  startMs: number;
  durationMs: number;
  args?: Record<string, unknown>;
}

export interface CompleteEvent {
  name: string;
  cat: string;
  ph: 'X';
  /** Microseconds. */
  ts: number;
  dur: number;
  pid: number;
  tid: number;
  args?: Record<string, unknown>;
}

export interface NameMetadataEvent {
  name: 'process_name' | 'thread_name';
  ph: 'M';
  pid: number;
  tid: number;
  args: { name: string };
}

export interface ChromeTrace {
  traceEvents: (CompleteEvent | NameMetadataEvent)[];
  displayTimeUnit: 'ms';
}

const TRACE_PID = 1;
const MICROSECONDS_PER_MS = 1000;

/**
 * The Chrome trace event format (JSON object form): one process named `processName`, one
 * named thread per event category in order of first appearance, and each event as a complete
 * ('X') event with its times in microseconds.
 */
export function chromeTrace(events: readonly TimelineEvent[], processName: string): ChromeTrace {
  const threadIds = new Map<string, number>();
  for (const { category } of events) {
    if (!threadIds.has(category)) {
      threadIds.set(category, threadIds.size + 1);
    }
  }
  const metadata: NameMetadataEvent[] = [
    { name: 'process_name', ph: 'M', pid: TRACE_PID, tid: 0, args: { name: processName } },
    ...Array.from(threadIds, ([category, tid]): NameMetadataEvent => ({
      name: 'thread_name',
      ph: 'M',
      pid: TRACE_PID,
      tid,
      args: { name: category }
    }))
  ];
  const spans = events.map(({ name, category, startMs, durationMs, args }): CompleteEvent => ({
    name,
    cat: category,
    ph: 'X',
    ts: startMs * MICROSECONDS_PER_MS,
    dur: durationMs * MICROSECONDS_PER_MS,
    pid: TRACE_PID,
    tid: threadIds.get(category) as number,
    ...(args && { args })
  }));
  return { traceEvents: [...metadata, ...spans], displayTimeUnit: 'ms' };
}

export interface LayerTimes {
  name: string;
  /** One time per iteration, every layer timed over the same iterations. */
  timesMs: readonly number[];
}

/**
 * trtexec's --dumpProfile table (Profiler::print in sampleReporting.cpp), column for column:
 * layer names right-aligned, layers that took no time left out, and a Total row whose median
 * is the median of the per-iteration totals.
 */
export function profileTable(layers: readonly LayerTimes[]): string {
  const iterations = layers.length > 0 ? layers[0].timesMs.length : 0;
  if (iterations === 0) {
    throw new Error('profileTable: no layer times to report');
  }
  const uneven = layers.find(layer => layer.timesMs.length !== iterations);
  if (uneven) {
    throw new Error(
      `profileTable: layer '${uneven.name}' has ${uneven.timesMs.length} times, '${layers[0].name}' has ${iterations}: every layer must be timed over the same iterations`
    );
  }

  const headers = [
    'Layer',
    '   Time (ms)',
    '   Avg. Time (ms)',
    '   Median Time (ms)',
    '   Time %'
  ];
  const nameWidth = Math.max(...layers.map(layer => layer.name.length + 1), headers[0].length);
  const widths = [nameWidth, ...headers.slice(1).map(header => header.length)];
  const row = (cells: string[]) => cells.map((cell, i) => cell.padStart(widths[i])).join('');

  const totalMs = sum(layers.map(layer => sum(layer.timesMs)));
  const iterationTotals = Array.from({ length: iterations }, (_, i) =>
    sum(layers.map(layer => layer.timesMs[i]))
  );
  const lines = [`=== Profile (${iterations} iterations ) ===`, row(headers)];
  for (const { name, timesMs } of layers) {
    const layerMs = sum(timesMs);
    if (layerMs === 0) {
      continue;
    }
    lines.push(
      row([
        name,
        layerMs.toFixed(2),
        (layerMs / iterations).toFixed(4),
        median(ascending(timesMs)).toFixed(4),
        ((layerMs / totalMs) * 100).toFixed(1)
      ])
    );
  }
  lines.push(
    row([
      'Total',
      totalMs.toFixed(2),
      (totalMs / iterations).toFixed(4),
      median(ascending(iterationTotals)).toFixed(4),
      (100).toFixed(1)
    ])
  );
  return lines.join('\n') + '\n';
}
