import { conversionReport, describeAdapter, encodeNpy, runReport, Tensor } from '../../../engine';
import { reportBundle } from '../../bundle';
import { defineCommand } from '../command';
import type { IMagicContext } from '../context';
import { segmentBuildProgress, workError } from '../engines';
import { MagicError } from '../errors';
import { INPUT_OPTIONS, IPreparedRun, prepareRun } from '../inputs';
import { integer, IOption, text } from '../options';

export const runCommand = defineCommand({
  name: 'run',
  summary: 'run a plan or an ONNX model on .npy or random inputs, and save the outputs as .npy',
  description:
    "Runs the engine of a plan (or of an ONNX model, built first at the inputs' shapes) and " +
    "shows each output's shape, dtype and statistics, the top scores of a classifier's " +
    'output, and the latency. Outputs are written as .npy files that numpy.load reads.',
  operands: [{ name: 'model', placeholder: 'model.wtrt|model.onnx' }],
  options: {
    ...INPUT_OPTIONS,
    output: {
      kind: text,
      short: 'o',
      placeholder: 'out.npy',
      help: 'write the output here (a model of one output)'
    } satisfies IOption<string>,
    'output-dir': {
      kind: text,
      placeholder: 'dir',
      help: 'write each output to <dir>/<output name>.npy (the folder must exist)'
    } satisfies IOption<string>,
    iterations: {
      kind: integer(1),
      placeholder: 'N',
      help: 'run N times and report the latency over them (default 1)'
    } satisfies IOption<number>
  },
  cellExample: '%%trt run small_cnn.wtrt\ninput: {input: x.npy}\noutput: logits.npy',
  async run({ operands: [path], options }, context) {
    const { output, 'output-dir': outputDir, iterations = 1 } = options;
    if (output !== undefined && outputDir !== undefined) {
      throw new MagicError('give -o or --output-dir, not both');
    }
    if (output !== undefined && !/\.npy$/i.test(output)) {
      throw new MagicError(`-o '${output}': outputs are written as .npy files`);
    }
    let files: Map<string, string> | undefined;
    const prepared = await prepareRun(context, path, options, graph => {
      const names = graph.outputs.map(o => o.name);
      files = outputFiles(names, output, outputDir, path);
    });
    const { inputs } = prepared;
    const runner = runnerOf(prepared, path, context);
    let outputs: Record<string, Tensor> = {};
    const timesMs: number[] = [];
    try {
      for (let i = 0; i < iterations; i++) {
        context.signal.throwIfAborted();
        if (iterations > 1) {
          context.progress({ title: `Running ${path}`, done: i, total: iterations });
        }
        const started = performance.now();
        outputs = await runner.execute(inputs.feeds);
        timesMs.push(performance.now() - started);
      }
    } finally {
      runner.finish();
    }
    // Written last: an interrupted or failed command leaves no file behind.
    context.signal.throwIfAborted();
    for (const [name, file] of files ?? []) {
      await context.files.write(file, encodeNpy(outputs[name]));
    }
    const report = runReport({
      source: path,
      device: describeAdapter(runner.device.adapterInfo),
      inputs: inputs.described,
      outputs,
      timesMs,
      ...(files && { files: Object.fromEntries(files) })
    });
    context.display(reportBundle(report));
  }
});

interface IRunner {
  device: GPUDevice;
  execute(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>>;
  /** Called once the runs are over, done or failed. */
  finish(): void;
}

/**
 * Runs an engine in an execution context of its own; runs a converted model with its
 * engine caches (a new input shape builds an engine, with progress), and once done gives
 * the session its report with the caches' new counts.
 */
function runnerOf(prepared: IPreparedRun, path: string, context: IMagicContext): IRunner {
  if ('engine' in prepared) {
    const execution = prepared.engine.createContext();
    return {
      device: prepared.engine.device,
      execute: feeds => execution.execute(feeds),
      finish: () => execution.destroy()
    };
  }
  const entry = prepared.converted;
  const { converted, report } = entry;
  const options = {
    signal: context.signal,
    onBuildProgress: segmentBuildProgress(context, path, converted)
  };
  return {
    device: converted.device,
    execute: feeds =>
      converted.run(feeds, options).catch((error: unknown) => {
        throw workError(`${path} does not run`, error);
      }),
    finish: () =>
      context.session.add({
        ...entry,
        report: conversionReport(converted, report.source, report.plan && { plan: report.plan })
      })
  };
}

/**
 * Where each output goes: `output` for a model of one output, `<outputDir>/<name>.npy` for
 * each, or nowhere. Tensor names may hold '/' or ':' ("/model/Add_output_0", "logits:0"):
 * those become '_' in file names, and a clash gets the output's index appended.
 */
function outputFiles(
  names: readonly string[],
  output: string | undefined,
  outputDir: string | undefined,
  source: string
): Map<string, string> | undefined {
  if (output !== undefined) {
    if (names.length !== 1) {
      throw new MagicError(
        `${source} has ${names.length} outputs (${names.join(', ')}): -o writes one; give --output-dir for all`
      );
    }
    return new Map([[names[0], output]]);
  }
  if (outputDir === undefined) {
    return undefined;
  }
  const used = new Set<string>();
  const directory = outputDir.replace(/\/+$/, '');
  return new Map(
    names.map((name, index) => {
      let base = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_') || 'output';
      if (used.has(base)) {
        base = `${base}_${index}`;
      }
      used.add(base);
      return [name, `${directory}/${base}.npy`];
    })
  );
}
