/**
 * Text formatting of reports: numbers, sizes, durations, labelled fields and aligned columns.
 * Plain text that reads the same in a terminal and in a saved notebook's text/plain output.
 */

/** A value in at most 6 significant digits, integers in full ("3", "0.333333", "1.5e-08"). */
export function formatValue(value: number): string {
  if (!Number.isFinite(value) || (Number.isInteger(value) && Math.abs(value) < 1e15)) {
    return String(value);
  }
  return String(Number(value.toPrecision(6)));
}

/** An integer with thousands separators: "133,665". */
export function formatCount(count: number): string {
  return count.toLocaleString('en-US');
}

/** "1 node", "3 nodes"; `plural` where adding an s does not make it ("dispatches"). */
export function counted(count: number, noun: string, plural = `${noun}s`): string {
  return `${formatCount(count)} ${count === 1 ? noun : plural}`;
}

export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
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

/** Width of the labels of `field`: the longest label ("parameters", "partitions") fits. */
const LABEL_WIDTH = 10;

/** A labelled line of a report, values aligned: "model      x.onnx". */
export function field(label: string, value: string): string {
  return `${label.padEnd(LABEL_WIDTH)} ${value}`;
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
