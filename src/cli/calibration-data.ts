/**
 * Calibration data on disk: a directory of .npy files. For a model with one input, each .npy
 * file is one batch of it; for a model with several, each subdirectory is one batch holding an
 * `<input name>.npy` per input. Batches are read in name order, one at a time.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CalibrationBatch, Graph, parseNpy } from './engine';
import { describeFileError, UsageError } from './errors';
import { readBytes } from './files';

export interface CalibrationData {
  count: number;
  batches: Iterable<CalibrationBatch>;
}

export function calibrationData(graph: Graph, directory: string): CalibrationData {
  const single = graph.inputs.length === 1;
  const batchNames = listDirectory(directory).filter(name =>
    single ? name.endsWith('.npy') : statSync(join(directory, name)).isDirectory()
  );
  if (batchNames.length === 0) {
    const inputs = graph.inputs.map(input => `'${input.name}'`).join(', ');
    throw new UsageError(
      single
        ? `--data ${directory} holds no .npy file: each .npy file is one batch of input ${inputs}`
        : `--data ${directory} holds no subdirectory: each one is a batch with an <input name>.npy for ${inputs}`,
      'calibrate'
    );
  }
  function* batches(): Iterable<CalibrationBatch> {
    for (const name of batchNames) {
      const path = join(directory, name);
      yield single
        ? { [graph.inputs[0].name]: readNpy(path) }
        : Object.fromEntries(
            graph.inputs.map(input => [input.name, readNpy(join(path, `${input.name}.npy`))])
          );
    }
  }
  return { count: batchNames.length, batches: batches() };
}

function readNpy(path: string) {
  return parseNpy(readBytes(path), path);
}

function listDirectory(directory: string): string[] {
  try {
    return readdirSync(directory).sort();
  } catch (error) {
    throw new Error(`cannot read --data ${directory}: ${describeFileError(error)}`);
  }
}
