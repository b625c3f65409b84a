/**
 * TensorRT's INT8 calibration cache: the text TensorRT hands to a calibrator's
 * writeCalibrationCache and accepts back from readCalibrationCache.
 *
 *   TRT-<version>-<algorithm>
 *   <tensor name>: <hex scale>
 *   ...
 *
 * Every line ends in '\n', the last one included. <hex scale> is the bit pattern of the float32
 * scale (amax / 127) read as an unsigned integer, in lower-case hexadecimal without leading
 * zeros: 3c010204 for 1/127, but 0 for a tensor that was all zeros (and 7f800000 where the range
 * overflowed). Tensor names hold ':' (onnx::MatMul_12) and spaces ((Unnamed Layer* 8)
 * [Constant]_output), so a line splits at its last ': ', which the hex never contains.
 *
 * Scales are float32: a float64 scale is written rounded to the nearest float32 and reads back
 * rounded. Lines keep the order of the scales map, so a cache read and written again is
 * identical byte for byte.
 */

import { Calibrator, int8Scale } from './calibrators';

export type CalibratorName = 'entropy' | 'entropy-legacy' | 'minmax' | 'legacy';

export interface CalibrationCache {
  calibrator: CalibratorName;
  /** TensorRT's version number: 8601 for 8.6.1, 100300 for 10.3.0. */
  trtVersion: number;
  /** Per tensor name, the INT8 scale amax / 127, in file order. */
  scales: Map<string, number>;
}

/**
 * The version to write when the reader's TensorRT is unknown. TensorRT checks the header against
 * its own version and calibrator (TensorRT 10 rejects a TRT-8600 header and recalibrates), so no
 * single number suits every reader: callers that know their TensorRT should name it. 10.3.0 is
 * JetPack 6's TensorRT. TensorRT 10 numbers versions major * 10000 + minor * 100 +
 * patch; 8.x used major * 1000 + minor * 100 + patch.
 */
export const DEFAULT_TRT_VERSION = 100300;

/** The algorithm names in TensorRT's header, one per calibrator interface. */
const ALGORITHMS: Record<CalibratorName, string> = {
  entropy: 'EntropyCalibration2',
  'entropy-legacy': 'EntropyCalibration',
  minmax: 'MinMaxCalibration',
  legacy: 'LegacyCalibration'
};

const HEADER = /^TRT-(\d+)-(\w+)$/;
const SEPARATOR = ': ';
const HEX_SCALE = /^[0-9a-fA-F]{1,8}$/;

/**
 * The cache of a calibration: each tensor's scale amax / 127, in the order of `amax`.
 * TensorRT has no percentile calibrator, so a percentile calibration carries the
 * EntropyCalibration2 header that trtexec --calib reads.
 */
export function calibrationCache(
  amax: ReadonlyMap<string, number>,
  calibrator: Calibrator,
  trtVersion = DEFAULT_TRT_VERSION
): CalibrationCache {
  return {
    calibrator: calibrator.kind === 'minmax' ? 'minmax' : 'entropy',
    trtVersion,
    scales: new Map([...amax].map(([name, tensorAmax]) => [name, int8Scale(tensorAmax)]))
  };
}

export function writeCalibrationCache(cache: CalibrationCache): string {
  const fail = (reason: string): never => {
    throw new Error(`calibration cache: ${reason}`);
  };
  if (!Number.isSafeInteger(cache.trtVersion) || cache.trtVersion <= 0) {
    fail(`TensorRT version ${cache.trtVersion} is not a positive integer`);
  }
  const lines = [`TRT-${cache.trtVersion}-${ALGORITHMS[cache.calibrator]}`];
  for (const [name, scale] of cache.scales) {
    if (name === '' || /[\r\n]/.test(name)) {
      fail(`tensor name ${JSON.stringify(name)} cannot be written on one line`);
    }
    const problem = scaleProblem(scale) ?? float32RangeProblem(scale);
    if (problem !== undefined) {
      fail(`tensor '${name}': ${problem}`);
    }
    lines.push(`${name}${SEPARATOR}${float32Bits(scale).toString(16)}`);
  }
  return lines.map(line => `${line}\n`).join('');
}

export function readCalibrationCache(text: string, source = 'calibration cache'): CalibrationCache {
  const lines = text.split('\n').map(line => line.replace(/\r$/, ''));
  if (lines.length > 1 && lines[lines.length - 1] === '') {
    lines.pop();
  }
  const fail = (lineIndex: number, reason: string): never => {
    throw new Error(`${source}, line ${lineIndex + 1}: ${reason}`);
  };

  const header = HEADER.exec(lines[0]);
  if (header === null) {
    return fail(
      0,
      `expected a header like 'TRT-${DEFAULT_TRT_VERSION}-${ALGORITHMS.entropy}', ` +
        `got ${JSON.stringify(lines[0])}`
    );
  }
  const calibrator = calibratorOfAlgorithm(header[2]);
  if (calibrator === undefined) {
    return fail(
      0,
      `unknown calibration algorithm '${header[2]}' ` +
        `(expected ${Object.values(ALGORITHMS).join(', ')})`
    );
  }

  const scales = new Map<string, number>();
  const lineOfName = new Map<string, number>();
  for (let index = 1; index < lines.length; index++) {
    const line = lines[index];
    const split = line.lastIndexOf(SEPARATOR);
    if (split <= 0) {
      fail(index, `expected '<tensor name>: <hex scale>', got ${JSON.stringify(line)}`);
    }
    const name = line.slice(0, split);
    const hex = line.slice(split + SEPARATOR.length);
    if (!HEX_SCALE.test(hex)) {
      fail(index, `scale of tensor '${name}' is '${hex}', not 1 to 8 hexadecimal digits`);
    }
    const scale = float32FromBits(parseInt(hex, 16));
    const problem = scaleProblem(scale);
    if (problem !== undefined) {
      fail(index, `tensor '${name}': ${problem}`);
    }
    const firstLine = lineOfName.get(name);
    if (firstLine !== undefined) {
      fail(index, `tensor '${name}' is listed again (first on line ${firstLine + 1})`);
    }
    lineOfName.set(name, index);
    scales.set(name, scale);
  }
  return { calibrator, trtVersion: Number(header[1]), scales };
}

function calibratorOfAlgorithm(algorithm: string): CalibratorName | undefined {
  const names = Object.keys(ALGORITHMS) as CalibratorName[];
  return names.find(name => ALGORITHMS[name] === algorithm);
}

/**
 * Why a scale is unusable, or undefined. Zero (an all-zero tensor) and +Infinity (an overflowed
 * range) are kept: TensorRT itself writes them, and rejecting them would refuse its caches.
 */
function scaleProblem(scale: number): string | undefined {
  if (Number.isNaN(scale)) {
    return 'scale is NaN';
  }
  if (scale < 0 || Object.is(scale, -0)) {
    return `scale ${scale === 0 ? '-0' : scale} is negative`;
  }
  return undefined;
}

/** Why a finite, non-zero float64 scale would change its meaning as a float32, or undefined. */
function float32RangeProblem(scale: number): string | undefined {
  const rounded = Math.fround(scale);
  if (Number.isFinite(scale) && !Number.isFinite(rounded)) {
    return `scale ${scale} overflows float32`;
  }
  if (scale !== 0 && rounded === 0) {
    return `scale ${scale} underflows float32 to 0`;
  }
  return undefined;
}

function float32Bits(value: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, value);
  return view.getUint32(0);
}

function float32FromBits(bits: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, bits);
  return view.getFloat32(0);
}
