/**
 * The layout of calibration data, which `webtrt calibrate` and `%trt calibrate` share: a
 * directory of .npy files. For a model with one input, each .npy file is one batch of it; for
 * a model with several, each subdirectory is one batch holding an `<input name>.npy` per input.
 * Batches are taken in name order and read one at a time, as calibration reaches them.
 *
 * The engine knows no files: the caller hands in a reader over its own (Node's file system,
 * a notebook's contents manager).
 */
import { Graph } from '../ir/graph';
import { Tensor } from '../ir/tensor';
import { parseNpy } from '../io/npy';
import { checkFeeds } from '../runtime/feeds';
import { CalibrationBatch } from './calibrate';

/** One entry of a listed directory. */
export interface CalibrationDataEntry {
  name: string;
  /** What `read` and `list` take for it: the directory's path joined with the name. */
  path: string;
  isDirectory: boolean;
}

/** Directories and files as the caller has them; each rejects naming the path it failed on. */
export interface CalibrationDataReader {
  list(directory: string): Promise<CalibrationDataEntry[]>;
  read(path: string): Promise<Uint8Array>;
}

export interface CalibrationData {
  /** How many batches the directory holds. */
  count: number;
  /** The batches in name order, each read when calibration reaches it. */
  batches: AsyncIterable<CalibrationBatch>;
}

/** Calibration data that does not fit the layout or the model: the user's to fix. */
export class CalibrationDataError extends Error {
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = 'CalibrationDataError';
  }
}

/** One batch: the file of each input, by input name, and the directory of a multi-input batch. */
interface BatchFiles {
  files: Map<string, string>;
  directory?: string;
}

/**
 * The batches of `graph`'s calibration data in `directory`, listed (and each batch's files
 * found) before any is read, so that a directory of the wrong layout fails at once, naming
 * what is missing; a file that is not a .npy of its input's dtype and shape fails when read,
 * naming the file.
 */
export async function readCalibrationData(
  graph: Graph,
  directory: string,
  reader: CalibrationDataReader
): Promise<CalibrationData> {
  const inputs = graph.inputs.map(input => `'${input.name}'`).join(', ');
  const entries = byName(await reader.list(directory));
  let batchFiles: BatchFiles[];
  if (graph.inputs.length === 1) {
    const [{ name }] = graph.inputs;
    batchFiles = entries
      .filter(entry => !entry.isDirectory && entry.name.endsWith('.npy'))
      .map(entry => ({ files: new Map([[name, entry.path]]) }));
    if (batchFiles.length === 0) {
      throw new CalibrationDataError(
        `calibration data ${directory} holds no .npy file: each .npy file is one batch of input ${inputs}`
      );
    }
  } else {
    const batchDirectories = entries.filter(entry => entry.isDirectory);
    if (batchDirectories.length === 0) {
      throw new CalibrationDataError(
        `calibration data ${directory} holds no subdirectory: each one is a batch with an ` +
          `<input name>.npy for ${inputs}`
      );
    }
    batchFiles = await Promise.all(
      batchDirectories.map(batch => inputFiles(graph, batch, reader, inputs))
    );
  }
  return { count: batchFiles.length, batches: readBatches(graph, batchFiles, reader) };
}

/** A batch directory's file of each input; fails naming the first input it lacks. */
async function inputFiles(
  graph: Graph,
  batch: CalibrationDataEntry,
  reader: CalibrationDataReader,
  inputs: string
): Promise<BatchFiles> {
  const files = new Map(
    (await reader.list(batch.path))
      .filter(entry => !entry.isDirectory)
      .map(entry => [entry.name, entry.path])
  );
  const inputFile = (name: string): [string, string] => {
    const file = files.get(`${name}.npy`);
    if (file === undefined) {
      throw new CalibrationDataError(
        `calibration batch ${batch.path} has no ${name}.npy: each batch holds an ` +
          `<input name>.npy for ${inputs}`
      );
    }
    return [name, file];
  };
  return { files: new Map(graph.inputs.map(({ name }) => inputFile(name))), directory: batch.path };
}

async function* readBatches(
  graph: Graph,
  batchFiles: readonly BatchFiles[],
  reader: CalibrationDataReader
): AsyncGenerator<CalibrationBatch> {
  for (const { files, directory } of batchFiles) {
    const batch: CalibrationBatch = {};
    for (const [name, path] of files) {
      batch[name] = await readInput(graph, name, path, reader);
    }
    // Inputs that each fit may still disagree on a dim they share (the batch size).
    if (directory !== undefined) {
      fitsModel(graph, batch, `the batch ${directory}`);
    }
    yield batch;
  }
}

async function readInput(
  graph: Graph,
  name: string,
  path: string,
  reader: CalibrationDataReader
): Promise<Tensor> {
  const bytes = await reader.read(path);
  let tensor: Tensor;
  try {
    tensor = parseNpy(bytes, path);
  } catch (error) {
    // parseNpy's message names the file.
    throw new CalibrationDataError((error as Error).message, { cause: error });
  }
  const input = graph.inputs.filter(declared => declared.name === name);
  fitsModel({ ...graph, inputs: input }, { [name]: tensor }, path);
  return tensor;
}

function fitsModel(graph: Graph, feeds: CalibrationBatch, what: string): void {
  try {
    checkFeeds(graph, feeds);
  } catch (error) {
    throw new CalibrationDataError(`${what} does not fit the model: ${(error as Error).message}`, {
      cause: error
    });
  }
}

/** Name order, the same on every file system and in every browser. */
function byName(entries: CalibrationDataEntry[]): CalibrationDataEntry[] {
  return [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
