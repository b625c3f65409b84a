import {
  AccuracyReference,
  AccuracyReport,
  CalibrationDataError,
  compareAccuracy,
  dataInputSets,
  DEFAULT_TOLERANCES,
  Engine,
  fallbackWorstInt8Layers,
  fp32ReferenceConfig,
  InputSets,
  randomInputSets,
  readCalibrationData
} from '../../../engine';
import { reportBundle } from '../../bundle';
import { BUILDER_OPTIONS, builderConfig } from '../builder-options';
import { defineCommand } from '../command';
import { IMagicContext, isConverted } from '../context';
import { buildEngine, expectOnnx, ILoadedModel, loadPlan, readModel, workError } from '../engines';
import { MagicError } from '../errors';
import { choice, decimal, integer, IOption, text } from '../options';

const REFERENCES = ['fp32', 'cpu'] as const;

export const compareCommand = defineCommand({
  name: 'compare',
  summary: "compare an engine's outputs and layers with the FP32 engine's, as Polygraphy does",
  description:
    'Runs an engine and a reference on the same inputs and compares them, as Polygraphy run ' +
    '--onnxrt --trt does: for each output its absolute and relative errors, the tolerances it ' +
    'passes at and whether it passes --atol and --rtol (numpy allclose); for classifier ' +
    "outputs, how often the top-1 class agrees and the reference's top-1 is in the " +
    "candidate's top 5; then every layer output both compute, worst first, with the " +
    'precision its layer runs in: where FP16 or INT8 hurts.\n' +
    'The candidate is the plan of --plan, or an engine of the model built with the options ' +
    'below (--precision int8 --calib model.calib, ...); the reference is the FP32 engine at ' +
    'the same shapes, or the CPU reference ops.',
  operands: [{ name: 'model', placeholder: 'model.onnx' }],
  options: {
    plan: {
      kind: text,
      placeholder: 'model.wtrt',
      help: 'the candidate: an engine plan of the model, as %trt convert writes it'
    } satisfies IOption<string>,
    ...BUILDER_OPTIONS,
    reference: {
      kind: choice(REFERENCES),
      placeholder: REFERENCES.join('|'),
      help: "what to compare against: the model's FP32 engine (the default) or the CPU reference ops"
    } satisfies IOption<(typeof REFERENCES)[number]>,
    atol: {
      kind: decimal(0),
      placeholder: 'a',
      help: `absolute tolerance (default ${DEFAULT_TOLERANCES.atol})`
    } satisfies IOption<number>,
    rtol: {
      kind: decimal(0),
      placeholder: 'r',
      help: `relative tolerance (default ${DEFAULT_TOLERANCES.rtol})`
    } satisfies IOption<number>,
    data: {
      kind: text,
      placeholder: 'dir/',
      help:
        'the input sets: a folder of .npy batches as %trt calibrate reads it, a batch per ' +
        'iteration. Default: random inputs'
    } satisfies IOption<string>,
    iterations: {
      kind: integer(1),
      placeholder: 'N',
      help: 'how many input sets: random ones (default 1), or the first N batches of --data (default all)'
    } satisfies IOption<number>,
    'fallback-worst': {
      kind: integer(1),
      placeholder: 'N',
      help:
        'then hold the N INT8 layers that add the largest error to FP16, rebuild and compare ' +
        'again: the second report is the rebuilt engine, with its layerPrecisions'
    } satisfies IOption<number>
  },
  cellExample:
    '%%trt compare small_cnn.onnx\nprecision: int8\ncalib: small_cnn.calib\nshapes: {input: [1, 3, 32, 32]}\ndata: calib/\natol: 0.05\nrtol: 0.05',
  async run({ operands: [path], options }, context) {
    expectOnnx(path, 'compare');
    const { plan, reference = 'fp32', data, iterations } = options;
    const buildOption = (Object.keys(BUILDER_OPTIONS) as (keyof typeof BUILDER_OPTIONS)[]).find(
      name => options[name] !== undefined
    );
    if (plan !== undefined && buildOption !== undefined) {
      throw new MagicError(
        `--${buildOption} configures a build: the plan ${plan} keeps the configuration it was built with`
      );
    }
    const model = await readModel(context, path);
    const dataSets =
      data === undefined ? undefined : await readSets(context, model, data, iterations);

    const built: Engine[] = [];
    try {
      let candidate: Engine;
      if (plan === undefined) {
        const batchShapes = Object.entries(dataSets?.sets[0] ?? {}).map(
          ([name, tensor]): [string, number[]] => [name, [...tensor.shape]]
        );
        const shapes = new Map([...batchShapes, ...(options.shapes ?? [])]);
        const config = await builderConfig(context, model, { ...options, shapes });
        candidate = await buildEngine(context, model, config);
        built.push(candidate);
      } else {
        const held = await loadPlan(context, plan);
        if (isConverted(held)) {
          throw new MagicError(
            `${plan} is a converted model of several segments: compare takes the plan of one engine`
          );
        }
        candidate = held.engine;
      }
      const inputs = dataSets ?? randomInputSets(candidate.graph, iterations ?? 1);
      const compare = async (engine: Engine, name: string): Promise<AccuracyReport> => {
        let against: AccuracyReference = model.graph;
        if (reference === 'fp32') {
          const fp32 = await buildEngine(context, model, fp32ReferenceConfig(engine.config));
          built.push(fp32);
          against = fp32;
        }
        return compareAccuracy(engine, against, inputs.sets, {
          source: path,
          candidate: name,
          inputs: inputs.description,
          ...(options.atol !== undefined && { atol: options.atol }),
          ...(options.rtol !== undefined && { rtol: options.rtol }),
          signal: context.signal,
          onProgress: done =>
            context.progress({ title: `Comparing ${path}`, done, total: inputs.sets.length })
        }).catch((error: unknown) => {
          throw workError(`${path} does not compare`, error);
        });
      };
      const name =
        plan === undefined
          ? `${candidate.config.precision} engine`
          : `${plan} (${candidate.config.precision} engine)`;
      const report = await compare(candidate, name);
      context.display(reportBundle(report));
      if (options['fallback-worst'] !== undefined) {
        const { layers, layerPrecisions: held } = fallbackWorstInt8Layers(
          report,
          options['fallback-worst']
        );
        if (layers.length === 0) {
          throw new MagicError(`${name} has no INT8 layer to hold to FP16`);
        }
        const layerPrecisions = { ...candidate.config.layerPrecisions, ...held };
        const rebuilt = await buildEngine(context, model, {
          ...candidate.config,
          layerPrecisions
        });
        built.push(rebuilt);
        const heldText = `${layers.length} INT8 layer${layers.length === 1 ? '' : 's'} held to FP16 (${layers.join(', ')})`;
        context.display(reportBundle(await compare(rebuilt, `${name}, ${heldText}`)));
      }
    } finally {
      built.forEach(engine => engine.destroy());
    }
  }
});

/** The first `iterations` batches of `directory` (all by default), read before anything is built. */
async function readSets(
  context: IMagicContext,
  model: ILoadedModel,
  directory: string,
  iterations: number | undefined
): Promise<InputSets> {
  try {
    const data = await readCalibrationData(model.graph, directory, context.files);
    return await dataInputSets(data, directory, iterations);
  } catch (error) {
    throw error instanceof CalibrationDataError
      ? new MagicError(error.message, { cause: error })
      : error;
  }
}
