import {
  calibrate,
  calibrationCache,
  CalibrationData,
  CalibrationDataError,
  calibrationReport,
  CalibrationResult,
  Calibrator,
  readCalibrationData,
  writeCalibrationCache
} from '../../../engine';
import { reportBundle } from '../../bundle';
import { defineCommand } from '../command';
import type { IMagicContext } from '../context';
import { expectOnnx, ILoadedModel, readModel, sessionDevice, workError } from '../engines';
import { MagicError } from '../errors';
import { choice, decimal, IOption, text } from '../options';

const CALIBRATORS = ['entropy', 'minmax', 'percentile'] as const;
const DEFAULT_PERCENTILE = 99.99;

export const calibrateCommand = defineCommand({
  name: 'calibrate',
  summary: 'calibrate a model for INT8 on .npy batches and write its calibration cache',
  description:
    'Runs the model in FP32 over the calibration data, gathers a histogram of every float ' +
    "tensor and chooses each tensor's INT8 range with the calibrator, as TensorRT's " +
    "IInt8Calibrator does. Shows each tensor's range and scale, and writes the calibration " +
    "cache in TensorRT's text format, which %trt convert --precision int8 --calib reads.\n" +
    'The data is a folder of .npy files (numpy.save writes them): for a model with one input, ' +
    'each file is one batch of it; for a model with several, each subfolder is one batch ' +
    'with an <input name>.npy per input. Batches are read in name order.',
  operands: [{ name: 'model', placeholder: 'model.onnx' }],
  options: {
    data: {
      kind: text,
      placeholder: 'calib/',
      help: 'the folder of calibration batches (required)'
    } satisfies IOption<string>,
    calibrator: {
      kind: choice(CALIBRATORS),
      placeholder: CALIBRATORS.join('|'),
      help:
        "entropy (TensorRT's EntropyCalibration2, the default), minmax, or percentile: the " +
        'range that keeps a share of the values'
    } satisfies IOption<(typeof CALIBRATORS)[number]>,
    percentile: {
      kind: decimal(0, 100, { excludeMin: true }),
      placeholder: 'p',
      help:
        `the percentile calibrator's share of values kept, in percent (default ${DEFAULT_PERCENTILE}). ` +
        'TensorRT has no percentile calibrator: its cache carries the EntropyCalibration2 ' +
        'header that trtexec --calib reads'
    } satisfies IOption<number>,
    output: {
      kind: text,
      short: 'o',
      placeholder: 'model.calib',
      help: "where to write the cache. Default: the model's path with .calib"
    } satisfies IOption<string>
  },
  cellExample:
    '%%trt calibrate small_cnn.onnx\ndata: calib/\ncalibrator: percentile\npercentile: 99.9\noutput: small_cnn.calib',
  async run({ operands: [path], options }, context) {
    expectOnnx(path, 'calibrate');
    const { data: directory, percentile } = options;
    if (directory === undefined) {
      throw new MagicError(
        'missing --data <folder>: the calibration batches, one .npy file per batch'
      );
    }
    const kind = options.calibrator ?? 'entropy';
    if (percentile !== undefined && kind !== 'percentile') {
      throw new MagicError('--percentile goes with --calibrator percentile');
    }
    const calibrator: Calibrator =
      kind === 'percentile' ? { kind, percentile: percentile ?? DEFAULT_PERCENTILE } : { kind };
    const output = options.output ?? path.replace(/\.onnx$/i, '.calib');

    const model = await readModel(context, path);
    const data = await dataError(readCalibrationData(model.graph, directory, context.files));
    const device = await sessionDevice(context);
    const result = await runCalibration(context, model, data, calibrator, device);
    const cache = writeCalibrationCache(calibrationCache(result.amax, calibrator));
    // Written last, in one save: an interrupted or failed calibration leaves no cache behind.
    context.signal.throwIfAborted();
    await context.files.write(output, cache);
    const report = calibrationReport(result, calibrator, path, device, {
      path: output,
      bytes: new TextEncoder().encode(cache).byteLength
    });
    context.display(reportBundle(report));
  }
});

/** Calibrates `model` on `device`, one progress step per batch. */
async function runCalibration(
  context: IMagicContext,
  model: ILoadedModel,
  data: CalibrationData,
  calibrator: Calibrator,
  device: GPUDevice
): Promise<CalibrationResult> {
  const title = `Calibrating ${model.path}`;
  const total = data.count;
  // The first batch builds the FP32 engine, the longest wait: the cell shows it has begun.
  context.progress({ title, done: 0, total, detail: `batch 1 of ${total}` });
  try {
    return await dataError(
      calibrate(model.graph, data.batches, device, {
        calibrator,
        totalBatches: total,
        signal: context.signal,
        onProgress: ({ batchesDone }) =>
          context.progress({
            title,
            done: batchesDone,
            total,
            ...(batchesDone < total && { detail: `batch ${batchesDone + 1} of ${total}` })
          })
      })
    );
  } catch (error) {
    throw error instanceof MagicError
      ? error
      : workError(`${model.path} does not calibrate`, error);
  }
}

/** Data that does not fit the layout or the model is the user's to fix: a MagicError. */
async function dataError<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof CalibrationDataError) {
      throw new MagicError(error.message, { cause: error });
    }
    throw error;
  }
}
