import {
  booleanFlag,
  choiceFlag,
  integerFlag,
  numberFlag,
  ParsedArgs,
  positionalArgs,
  stringFlag,
  stringListFlag
} from '../args';
import { BUILDER_HELP, BUILDER_OPTIONS, givenBuildFlag, parseBuilderFlags } from '../builder-flags';
import { calibrationData } from '../calibration-data';
import { Command } from '../command';
import {
  AccuracyReport,
  build,
  BuilderConfig,
  compareAccuracy,
  computedByOneEngine,
  counted,
  DEFAULT_TOLERANCES,
  Engine,
  failedOutputs,
  fallbackWorstInt8Layers,
  field,
  formatValue,
  dataInputSets,
  fp32ReferenceConfig,
  Graph,
  InputSets,
  randomInputSets,
  reportText
} from '../engine';
import { UsageError } from '../errors';
import { readBytes } from '../files';
import { requestNodeDevice } from '../gpu';
import { loadModel } from '../model';
import { checkShapesGiven } from './build';

const REFERENCES = ['fp32', 'cpu'] as const;

export const compareCommand: Command = {
  name: 'compare',
  summary: "compare an engine's outputs and layers with the FP32 engine's, as Polygraphy does",
  help: `Usage: webtrt compare <model.onnx> [candidate.wtrt] [options]

Runs an engine and a reference on the same inputs and compares them, as Polygraphy's
run --onnxrt --trt does: for each output its max and mean absolute and relative error
(|a - b| / |b|, b the reference), the smallest atol (rtol 0) and rtol (atol 0) it passes
at, and PASSED or FAILED against --atol and --rtol (an element passes when
|a - b| <= atol + rtol * |b|, as numpy's allclose); for classifier outputs, how often
the top-1 class agrees and the reference's top-1 is in the candidate's top 5. Then
every layer output both compute (Polygraphy's --trt-outputs mark all), worst first,
with the precision the candidate's layer runs in: where FP16 or INT8 hurts.

The candidate is the plan given (webtrt build wrote it), or an engine of the model
built with the flags below (--fp16, --int8 --calib model.calib, ...). The reference is
the model's FP32 engine at the same shapes, or with --reference cpu the model on the
CPU reference ops. Exits with 1, naming the outputs, when an output fails.

Options:
  --reference fp32|cpu        what to compare against (default fp32)
  --atol a                    absolute tolerance (default ${DEFAULT_TOLERANCES.atol})
  --rtol r                    relative tolerance (default ${DEFAULT_TOLERANCES.rtol})
  --data dir                  the input sets: a directory of .npy files as webtrt
                              calibrate reads it, each batch one iteration (by
                              default, random inputs)
  --iterations N              how many input sets: random ones (default 1), or the
                              first N batches of --data (default all)
  --topK out,other            the outputs whose top-1 / top-5 agreement is counted,
                              their last axis the classes (default: float outputs of
                              shape [batch, classes])
  --outputsOnly               compare the outputs only, not every layer
  --fallbackWorst N           then hold the N INT8 layers of largest error to FP16
                              (their ONNX nodes in --layerPrecisions), rebuild, and
                              compare the rebuilt engine too: its report follows,
                              with the --layerPrecisions flag that builds it with
                              webtrt build. The exit code is the rebuilt engine's
${BUILDER_HELP}
  -h, --help                  show this help`,
  options: {
    reference: { type: 'string' },
    atol: { type: 'string' },
    rtol: { type: 'string' },
    data: { type: 'string' },
    iterations: { type: 'string' },
    topK: { type: 'string', multiple: true },
    outputsOnly: { type: 'boolean' },
    fallbackWorst: { type: 'string' },
    ...BUILDER_OPTIONS
  },
  async run(args) {
    const [modelPath, planPath] =
      args.positionals.length === 2
        ? positionalArgs(args, ['<model.onnx>', '[candidate.wtrt]'])
        : positionalArgs(args, ['<model.onnx>']);
    const buildFlag = givenBuildFlag(args);
    if (planPath !== undefined && buildFlag) {
      throw new UsageError(
        `${buildFlag} configures a build: the plan ${planPath} keeps the configuration it was built with`,
        args.command
      );
    }
    const options = parseCompareFlags(args);
    const flags = parseBuilderFlags(args);
    const model = loadModel(modelPath);
    if (planPath === undefined && !computedByOneEngine(model.graph, flags.conversion)) {
      throw new UsageError(
        `${modelPath} does not build into one engine (see webtrt summary): compare needs one`,
        args.command
      );
    }
    const data =
      options.data === undefined
        ? undefined
        : await dataSets(model.graph, options.data, options, args);
    const device = await requestNodeDevice();
    try {
      const candidate = planPath
        ? await loadPlan(planPath, device)
        : await buildFromFlags(model.graph, flags.config, data, device, args.command);
      const compare = async (engine: Engine, name: string) => {
        const reference =
          options.reference === 'cpu'
            ? model.graph
            : await build(model.graph, fp32ReferenceConfig(engine.config), device);
        try {
          const inputs = data ?? randomInputSets(engine.graph, options.iterations ?? 1);
          return await compareAccuracy(engine, reference, inputs.sets, {
            source: modelPath,
            candidate: name,
            inputs: inputs.description,
            ...options.accuracy
          });
        } finally {
          if (reference instanceof Engine) {
            reference.destroy();
          }
        }
      };
      const name = planPath
        ? `${planPath} (${candidate.config.precision} engine)`
        : `${candidate.config.precision} engine`;
      let report = await compare(candidate, name);
      print(reportText(report));
      if (options.fallbackWorst !== undefined) {
        report = await compareFallback(
          report,
          candidate,
          options.fallbackWorst,
          model.graph,
          compare
        );
      }
      failIfOutputsDiffer(report);
    } finally {
      device.destroy();
    }
  }
};

interface CompareFlags {
  reference: (typeof REFERENCES)[number];
  data?: string;
  iterations?: number;
  fallbackWorst?: number;
  accuracy: { atol?: number; rtol?: number; classifierOutputs?: string[]; perLayer: boolean };
}

function parseCompareFlags(args: ParsedArgs): CompareFlags {
  const tolerance = (name: string) => numberFlag(args, name, [0, Infinity]);
  const topK = stringListFlag(args, 'topK').flatMap(value => value.split(',').filter(Boolean));
  return {
    reference: choiceFlag(args, 'reference', REFERENCES, 'fp32'),
    data: stringFlag(args, 'data'),
    iterations: integerFlag(args, 'iterations', 1),
    fallbackWorst: integerFlag(args, 'fallbackWorst', 1),
    accuracy: {
      atol: tolerance('atol'),
      rtol: tolerance('rtol'),
      ...(topK.length > 0 && { classifierOutputs: topK }),
      perLayer: !booleanFlag(args, 'outputsOnly')
    }
  };
}

function print(...lines: string[]): void {
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** The first --iterations batches of --data (all by default), read before anything is built. */
async function dataSets(
  graph: Graph,
  directory: string,
  options: CompareFlags,
  args: ParsedArgs
): Promise<InputSets> {
  try {
    return await dataInputSets(
      await calibrationData(graph, directory),
      directory,
      options.iterations
    );
  } catch (error) {
    // The data's layout is calibrate's; the mistake is in this command's --data.
    throw error instanceof UsageError ? new UsageError(error.message, args.command) : error;
  }
}

/** The candidate from the build flags, at --shapes or else at the shapes of --data's first batch. */
function buildFromFlags(
  graph: Graph,
  config: BuilderConfig,
  data: InputSets | undefined,
  device: GPUDevice,
  command: string
): Promise<Engine> {
  const batchShapes = Object.entries(data?.sets[0] ?? {}).map(
    ([name, tensor]): [string, number[]] => [name, [...tensor.shape]]
  );
  const shapes = { ...Object.fromEntries(batchShapes), ...config.shapes };
  checkShapesGiven(graph, new Map(Object.entries(shapes)), command);
  return build(graph, { ...config, shapes }, device);
}

async function loadPlan(path: string, device: GPUDevice): Promise<Engine> {
  const bytes = readBytes(path);
  try {
    return await Engine.deserialize(bytes, device);
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`);
  }
}

/**
 * --fallbackWorst: the candidate rebuilt with its worst INT8 layers held to FP16 and
 * compared again; prints what was held and the rebuilt engine's report, and returns it.
 */
async function compareFallback(
  report: AccuracyReport,
  candidate: Engine,
  count: number,
  graph: Graph,
  compare: (engine: Engine, name: string) => Promise<AccuracyReport>
): Promise<AccuracyReport> {
  const { layers, layerPrecisions: held } = fallbackWorstInt8Layers(report, count);
  if (layers.length === 0) {
    print('', field('fallback', `${report.candidate} has no INT8 layer to hold to FP16`));
    return report;
  }
  const layerPrecisions = { ...candidate.config.layerPrecisions, ...held };
  const rebuilt = await build(graph, { ...candidate.config, layerPrecisions }, candidate.device);
  try {
    const flag = Object.entries(layerPrecisions)
      .map(([node, precision]) => `${node}:${precision}`)
      .join(',');
    print(
      '',
      field(
        'fallback',
        `${counted(layers.length, 'INT8 layer')} of largest error held to FP16: ${layers.join(', ')}`
      ),
      field('build', `webtrt build with --layerPrecisions ${flag}`),
      ''
    );
    const fallback = await compare(
      rebuilt,
      `${report.candidate}, ${counted(layers.length, 'INT8 layer')} held to FP16`
    );
    print(reportText(fallback));
    return fallback;
  } finally {
    rebuilt.destroy();
  }
}

/** Polygraphy's verdict: a failed output is a failed command, its line naming each output. */
function failIfOutputsDiffer(report: AccuracyReport): void {
  const failed = failedOutputs(report);
  if (failed.length > 0) {
    const { atol, rtol } = report.tolerances;
    const each = failed.map(
      ({ name, error }) =>
        `'${name}' (${error.mismatches} of ${error.elements} elements; max abs ${formatValue(error.maxAbsolute)}, ` +
        `max rel ${error.maxRelative === null ? 'inf' : formatValue(error.maxRelative)})`
    );
    throw new Error(
      `${report.candidate} differs from ${report.reference} beyond atol ${formatValue(atol)}, rtol ${formatValue(rtol)} in ${each.join('; ')}`
    );
  }
}
