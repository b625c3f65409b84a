/**
 * Calibration data on disk, in the layout the engine's readCalibrationData reads (one .npy
 * per batch, or a subdirectory per batch for a model of several inputs), through Node's file
 * system.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  CalibrationData,
  CalibrationDataError,
  CalibrationDataReader,
  Graph,
  readCalibrationData
} from './engine';
import { describeFileError, UsageError } from './errors';
import { readBytes } from './files';

const nodeReader: CalibrationDataReader = {
  async list(directory) {
    let names: string[];
    try {
      names = readdirSync(directory);
    } catch (error) {
      throw new Error(`cannot read ${directory}: ${describeFileError(error)}`);
    }
    return names.map(name => {
      const path = join(directory, name);
      return { name, path, isDirectory: statSync(path).isDirectory() };
    });
  },
  read: async path => readBytes(path)
};

/** The batches of --data; a directory of the wrong layout is a usage error. */
export async function calibrationData(graph: Graph, directory: string): Promise<CalibrationData> {
  try {
    return await readCalibrationData(graph, directory, nodeReader);
  } catch (error) {
    if (error instanceof CalibrationDataError) {
      throw new UsageError(error.message, 'calibrate');
    }
    throw error;
  }
}
