/**
 * The benchmark's markdown table, from what scripts/bench/run.sh recorded: one row per
 * model, batch and mode with the first run, the latency median and p90 (trtexec's
 * statistics, latencySummary), the engine's GPU compute median, and the speed-up over the
 * native executor on the same model and batch. Failed runs are rows too, with the error
 * line below the table. Bundled to lib/bench/table.mjs by scripts/bench/prepare.sh.
 *
 * Usage: node lib/bench/table.mjs <results dir>   (reads <dir>/runs.tsv, prints markdown)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExportedTimes } from '../../src/cli/commands/exec';
import { latencySummary } from '../../src/engine/runtime/stats';

const MODES: Record<string, string> = {
  native: 'webtrt native (op by op)',
  fp32: 'webtrt engine FP32',
  fp16: 'webtrt engine FP16',
  int8: 'webtrt engine INT8 (+FP16)',
  'ort-web': 'onnxruntime-web WebGPU'
};

/** One line of runs.tsv: a run's times file (relative to the results), or why it failed. */
interface Run {
  model: string;
  batch: string;
  mode: string;
  times?: ExportedTimes;
  failure?: string;
}

function readRuns(dir: string): Run[] {
  const lines = readFileSync(join(dir, 'runs.tsv'), 'utf8').split('\n');
  return lines
    .filter(line => line.trim())
    .map(line => {
      const [model, batch, mode, result] = line.split('\t');
      if (!(mode in MODES)) {
        throw new Error(`runs.tsv: unknown mode '${mode}' in '${line}'`);
      }
      return result.startsWith('failed: ')
        ? { model, batch, mode, failure: result.slice('failed: '.length) }
        : {
            model,
            batch,
            mode,
            times: JSON.parse(readFileSync(join(dir, result), 'utf8')) as ExportedTimes
          };
    });
}

/** 3 significant digits: "0.264", "16.1", "141". */
function ms(value: number): string {
  return value >= 1000 ? value.toFixed(0) : value.toPrecision(3);
}

function medianLatency(times: ExportedTimes): number {
  return latencySummary(times.executions.map(execution => execution.latencyMs)).median;
}

function row(run: Run, nativeMedian: number | undefined): string[] {
  const cells = [run.model, run.batch, MODES[run.mode]];
  if (!run.times) {
    return [...cells, 'failed', '—', '—', '—', '—'];
  }
  const { setup, firstRunMs, executions, phases } = run.times;
  const latency = latencySummary(executions.map(execution => execution.latencyMs));
  const compute = phases && latencySummary(phases.compute.timesMs);
  return [
    ...cells,
    (((setup?.ms ?? 0) + firstRunMs) / 1000).toFixed(2),
    ms(latency.median),
    ms(latency.p90),
    compute ? ms(compute.median) : '—',
    nativeMedian === undefined ? '—' : `${(nativeMedian / latency.median).toFixed(2)}×`
  ];
}

function markdownTable(runs: readonly Run[]): string {
  const header = [
    'model',
    'batch',
    'mode',
    'first run s',
    'median ms',
    'p90 ms',
    'GPU compute median ms',
    'speed-up vs native'
  ];
  const nativeMedians = new Map(
    runs
      .filter(run => run.mode === 'native' && run.times)
      .map(run => [`${run.model}\t${run.batch}`, medianLatency(run.times!)])
  );
  const rows = runs.map(run => row(run, nativeMedians.get(`${run.model}\t${run.batch}`)));
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  const lines = [line(header), line(header.map(() => '---')), ...rows.map(line)];
  const failures = runs.filter(run => run.failure);
  if (failures.length > 0) {
    lines.push('', 'Failed runs:', '');
    for (const { model, batch, mode, failure } of failures) {
      lines.push(`- ${model}, batch ${batch}, ${MODES[mode]}: ${failure}`);
    }
  }
  return lines.join('\n') + '\n';
}

const [dir] = process.argv.slice(2);
if (!dir) {
  throw new Error('usage: node lib/bench/table.mjs <results dir>');
}
process.stdout.write(markdownTable(readRuns(dir)));
