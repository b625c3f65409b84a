import { benchmark, BenchMode } from '../../../engine';
import { reportBundle } from '../../bundle';
import { BUILDER_OPTIONS, calibrationScales } from '../builder-options';
import { defineCommand } from '../command';
import {
  defaultOptimizationLevel,
  expectOnnx,
  messageOf,
  readModel,
  sessionDevice
} from '../engines';
import { isAbort, MagicError } from '../errors';
import { choice, integer, IOption, list } from '../options';

const MODES: readonly BenchMode[] = ['native', 'fp32', 'fp16', 'int8', 'best'];
const DEFAULT_MODES: readonly BenchMode[] = ['native', 'fp32', 'fp16'];
const DEFAULT_BATCHES = [1];
const DEFAULT_ITERATIONS = 20;

export const benchCommand = defineCommand({
  name: 'bench',
  summary: "time native, FP32, FP16 and INT8 execution at each batch size: the tutorials' table",
  description:
    'Times the model in each mode at each batch size on random inputs, as the TF-TRT ' +
    'tutorials compare "native vs FP32 vs FP16 vs INT8": native runs the ONNX nodes one ' +
    'kernel each (no engine), the others build an engine of that precision; int8 takes the ' +
    'scales of --calib. Shows average step time and throughput per mode; a mode that cannot ' +
    'run (FP16 without shader-f16, a batch the model fixes) is listed with the reason.',
  operands: [{ name: 'model', placeholder: 'model.onnx' }],
  options: {
    batch: {
      kind: list(integer(1)),
      placeholder: '1,8',
      help: 'batch sizes: dim 0 of every input (default 1)'
    } satisfies IOption<number[]>,
    precision: {
      kind: list(choice(MODES)),
      placeholder: 'native,fp32,fp16',
      help: `modes to time, of ${MODES.join(', ')} (default ${DEFAULT_MODES.join(',')})`
    } satisfies IOption<BenchMode[]>,
    calib: {
      ...BUILDER_OPTIONS.calib,
      help: 'the INT8 scales of the int8 and best engines: a calibration cache, as %trt calibrate writes it'
    },
    iterations: {
      kind: integer(1),
      placeholder: 'N',
      help: `timed runs per mode and batch, after a first run and warm-up (default ${DEFAULT_ITERATIONS})`
    } satisfies IOption<number>,
    shapes: {
      ...BUILDER_OPTIONS.shapes,
      help: 'the shapes of inputs with other open dims; dim 0 is each batch size whatever is given'
    },
    'optimization-level': BUILDER_OPTIONS['optimization-level']
  },
  cellExample:
    '%%trt bench small_cnn.onnx\nbatch: [1, 8]\nprecision: [native, fp32, fp16, int8]\ncalib: small_cnn.calib\niterations: 50',
  async run({ operands: [path], options }, context) {
    expectOnnx(path, 'bench');
    const modes = options.precision ?? DEFAULT_MODES;
    const model = await readModel(context, path);
    const int8Scales = await calibrationScales(context, model, modes, options.calib);
    const device = await sessionDevice(context);
    const title = `Benchmarking ${path}`;
    try {
      const report = await benchmark(model.graph, {
        device,
        modes,
        ...(int8Scales && { int8Scales }),
        batches: options.batch ?? DEFAULT_BATCHES,
        iterations: options.iterations ?? DEFAULT_ITERATIONS,
        shapes: Object.fromEntries(options.shapes ?? []),
        optimizationLevel: options['optimization-level'] ?? defaultOptimizationLevel(device),
        source: path,
        signal: context.signal,
        onProgress: ({ done, total, step }) =>
          context.progress({ title, done, total, detail: step })
      });
      context.display(reportBundle(report));
    } catch (error) {
      if (isAbort(error)) {
        throw error;
      }
      throw new MagicError(`${path} does not benchmark: ${messageOf(error)}`, { cause: error });
    }
  }
});
