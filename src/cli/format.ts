/** Text formatting shared by the commands: numbers, sizes, durations, aligned columns. */
import { Tensor } from './engine';

/** A value in at most 6 significant digits, integers in full ("3", "0.333333", "1.5e-08"). */
export function formatValue(value: number): string {
  if (!Number.isFinite(value) || (Number.isInteger(value) && Math.abs(value) < 1e15)) {
    return String(value);
  }
  return String(Number(value.toPrecision(6)));
}

export function formatCount(count: number): string {
  return count.toLocaleString('en-US');
}

export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

export function formatMs(ms: number): string {
  if (ms >= 1000) {
    return `${(ms / 1000).toFixed(2)} s`;
  }
  return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** A labelled line of a report, values aligned: "model      x.onnx". */
export function field(label: string, value: string): string {
  return `${label.padEnd(10)} ${value}`;
}

/** Rows of cells as text with each column padded to its widest cell. */
export function columns(rows: readonly (readonly string[])[], indent = '  '): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  }
  return rows.map(row =>
    (
      indent + row.map((cell, i) => (i < row.length - 1 ? cell.padEnd(widths[i]) : cell)).join('  ')
    ).trimEnd()
  );
}

export interface TensorStats {
  min: number;
  max: number;
  mean: number;
  /** NaN elements, left out of min / max / mean. */
  nans: number;
}

/** Min, max and mean over a tensor's values (NaN when it is empty or all NaN). */
export function tensorStats(tensor: Tensor): TensorStats {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let nans = 0;
  for (const value of tensor.toNumbers()) {
    if (Number.isNaN(value)) {
      nans++;
      continue;
    }
    min = Math.min(min, value);
    max = Math.max(max, value);
    sum += value;
  }
  const counted = tensor.size - nans;
  return counted === 0
    ? { min: NaN, max: NaN, mean: NaN, nans }
    : { min, max, mean: sum / counted, nans };
}

/** "min 0.1 max 0.9 mean 0.5", with the NaN count when there are any. */
export function formatStats(stats: TensorStats): string {
  const parts = [
    `min ${formatValue(stats.min)}`,
    `max ${formatValue(stats.max)}`,
    `mean ${formatValue(stats.mean)}`
  ];
  if (stats.nans) {
    parts.push(`${stats.nans} NaN`);
  }
  return parts.join('  ');
}

/** The first `count` values: "[0.1, 0.2, 0.3, ...]". */
export function formatFirstValues(tensor: Tensor, count = 6): string {
  const values = Array.from(tensor.toNumbers().subarray(0, count), formatValue);
  return `[${values.join(', ')}${tensor.size > count ? ', ...' : ''}]`;
}
