import type { Calibrator } from '../quant/calibrators';
import { int8Scale } from '../quant/calibrators';
import type { CalibrationResult } from '../quant/calibrate';
import { describeAdapter } from '../runtime/fingerprint';
import type { CalibrationReport } from './types';

/** A calibration as a plain report: each tensor's range over the data and its INT8 scale. */
export function calibrationReport(
  result: CalibrationResult,
  calibrator: Calibrator,
  source: string,
  device: GPUDevice,
  cache?: { path: string; bytes: number }
): CalibrationReport {
  return {
    kind: 'calibration',
    source,
    device: describeAdapter(device.adapterInfo),
    calibrator: calibratorName(calibrator),
    batches: result.batches,
    ...(cache && { cache: { ...cache } }),
    tensors: [...result.amax].map(([name, amax]) => {
      const { min, max } = result.histograms.get(name)!;
      return { name, min, max, amax, scale: int8Scale(amax) };
    })
  };
}

/** "entropy", "minmax", "percentile 99.99". */
export function calibratorName(calibrator: Calibrator): string {
  return calibrator.kind === 'percentile' ? `percentile ${calibrator.percentile}` : calibrator.kind;
}
