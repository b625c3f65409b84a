import { counted, EngineProfile, profileReport, profileTrace } from '../../../engine';
import { reportBundle } from '../../bundle';
import { defineCommand } from '../command';
import { MagicError } from '../errors';
import { isConverted, ISessionConverted } from '../context';
import { loadPlan, modelKind } from '../engines';
import { INPUT_OPTIONS, prepareRun } from '../inputs';
import { integer, IOption, text } from '../options';

const DEFAULT_ITERATIONS = 10;

export const profileCommand = defineCommand({
  name: 'profile',
  summary: 'time each layer of an engine, show the timeline and save it as a Chrome trace',
  description:
    'Runs the engine of a plan (or of an ONNX model, built first) with each layer in a compute ' +
    'pass of its own and times every layer, as trtexec --dumpProfile does: with GPU timestamps ' +
    'where the adapter has timestamp-query, else by the wall clock. Shows the per-layer ' +
    'timeline and writes it as a Chrome trace (Perfetto, chrome://tracing) beside the model.',
  operands: [{ name: 'model', placeholder: 'model.wtrt|model.onnx' }],
  options: {
    ...INPUT_OPTIONS,
    iterations: {
      kind: integer(1),
      placeholder: 'N',
      help: `iterations to time each layer over (default ${DEFAULT_ITERATIONS})`
    } satisfies IOption<number>,
    'export-profile': {
      kind: text,
      placeholder: 'trace.json',
      help: "where to write the Chrome trace (default: the model's path with .trace.json)"
    } satisfies IOption<string>
  },
  cellExample: '%%trt profile small_cnn.wtrt\niterations: 20\nexport-profile: small_cnn.trace.json',
  async run({ operands: [path], options }, context) {
    const iterations = options.iterations ?? DEFAULT_ITERATIONS;
    const tracePath = options['export-profile'] ?? path.replace(/\.(onnx|wtrt)$/i, '.trace.json');
    // Refused before any input is made up: a converted plan may leave its shapes open.
    if (modelKind(path) === 'plan') {
      const held = await loadPlan(context, path);
      if (isConverted(held)) {
        throw profileRefusal(held);
      }
    }
    const prepared = await prepareRun(context, path, options);
    if ('converted' in prepared) {
      throw profileRefusal(prepared.converted);
    }
    const { engine, inputs } = prepared;
    const execution = engine.createContext();
    const title = `Profiling ${path}`;
    const profiles: EngineProfile[] = [];
    try {
      // One iteration at a time, so the cell shows progress and an interrupt stops it.
      for (let i = 0; i < iterations; i++) {
        context.signal.throwIfAborted();
        context.progress({ title, done: i, total: iterations });
        profiles.push(await execution.profile(inputs.feeds, 1));
      }
    } finally {
      execution.destroy();
    }
    const profile: EngineProfile = {
      clock: profiles[0].clock,
      layers: profiles[0].layers.map((layer, index) => ({
        ...layer,
        timesMs: profiles.map(p => p.layers[index].timesMs[0])
      }))
    };
    const report = { ...profileReport(engine, profile, path), trace: tracePath };
    const trace = profileTrace(report);
    // Written last: an interrupted or failed command leaves no file behind.
    context.signal.throwIfAborted();
    await context.files.write(tracePath, `${JSON.stringify(trace, null, 2)}\n`);
    context.session.setProfile(path, report);
    context.display(reportBundle(report));
  }
});

/** Why a converted model has no per-layer profile. */
function profileRefusal({ name, converted }: ISessionConverted): MagicError {
  const engines = converted.engineSegments.length;
  const fallbacks = converted.segments.length - engines;
  return new MagicError(
    `${name} is a converted model (${counted(engines, 'engine segment')} and ` +
      `${counted(fallbacks, 'fallback segment')}): per-layer profiles time the layers of one ` +
      'engine; profile a plan converted into a single engine, or time the whole model with ' +
      '%trt run --iterations N'
  );
}
