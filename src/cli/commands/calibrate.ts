import { choiceFlag, numberFlag, positionalArgs, stringFlag } from '../args';
import { calibrationData } from '../calibration-data';
import { Command } from '../command';
import {
  calibrate,
  calibrationCache,
  calibrationReport,
  Calibrator,
  reportText,
  writeCalibrationCache
} from '../engine';
import { UsageError } from '../errors';
import { writeBytes } from '../files';
import { requestNodeDevice } from '../gpu';
import { loadModel } from '../model';

const CALIBRATORS = ['entropy', 'minmax', 'percentile'] as const;

export const calibrateCommand: Command = {
  name: 'calibrate',
  summary: 'calibrate a model for INT8 on data and write its calibration cache',
  help: `Usage: webtrt calibrate <model.onnx> --data <dir> -o <model.calib> [options]

Runs the model in FP32 over the calibration data, gathers a 2048-bin histogram of
every float tensor, and chooses each tensor's INT8 range with the calibrator, as
TensorRT's IInt8Calibrator does. Prints each tensor's range and scale and writes
the calibration cache in TensorRT's text format.

The data is a directory of .npy files: for a model with one input, each file is one
batch of it; for a model with several, each subdirectory is one batch with an
<input name>.npy per input. Batches are read in name order.

Options:
  --data dir                  the calibration data (required)
  -o, --output file.calib     where to write the cache (required)
  --calibrator name           entropy (TensorRT's EntropyCalibration2, the default),
                              minmax, or percentile
  --percentile p              the percentile calibrator's share of values kept
                              (default 99.99). TensorRT has no percentile calibrator:
                              its cache carries the EntropyCalibration2 header that
                              trtexec --calib reads
  -h, --help                  show this help`,
  options: {
    data: { type: 'string' },
    output: { type: 'string', short: 'o' },
    calibrator: { type: 'string' },
    percentile: { type: 'string' }
  },
  async run(args) {
    const [path] = positionalArgs(args, ['<model.onnx>']);
    const directory = stringFlag(args, 'data');
    const output = stringFlag(args, 'output');
    if (!directory) {
      throw new UsageError('missing --data <dir>: the calibration data', args.command);
    }
    if (!output) {
      throw new UsageError('missing -o <model.calib>: where to write the cache', args.command);
    }
    const kind = choiceFlag(args, 'calibrator', CALIBRATORS, 'entropy');
    const percentile = numberFlag(args, 'percentile', [Number.MIN_VALUE, 100]);
    if (percentile !== undefined && kind !== 'percentile') {
      throw new UsageError('--percentile goes with --calibrator percentile', args.command);
    }
    const calibrator: Calibrator =
      kind === 'percentile' ? { kind, percentile: percentile ?? 99.99 } : { kind };
    const { graph } = loadModel(path);
    const data = await calibrationData(graph, directory);
    const device = await requestNodeDevice();
    try {
      const result = await calibrate(graph, data.batches, device, {
        calibrator,
        totalBatches: data.count,
        // A terminal shows the batch being run; a log gets the report alone.
        onProgress: ({ batchesDone, totalBatches }) =>
          process.stderr.isTTY &&
          process.stderr.write(`calibrated batch ${batchesDone} of ${totalBatches}\r`)
      });
      const cache = writeCalibrationCache(calibrationCache(result.amax, calibrator));
      writeBytes(output, cache);
      const report = calibrationReport(result, calibrator, path, device, {
        path: output,
        bytes: new TextEncoder().encode(cache).byteLength
      });
      process.stdout.write(`${reportText(report)}\n`);
    } finally {
      device.destroy();
    }
  }
};
