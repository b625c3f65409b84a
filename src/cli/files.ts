import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { describeFileError } from './errors';

/** The bytes of a file, or an error that names it: "cannot read model.onnx: no such file ...". */
export function readBytes(path: string): Uint8Array {
  try {
    const buffer = readFileSync(path);
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } catch (error) {
    throw new Error(`cannot read ${path}: ${describeFileError(error)}`);
  }
}

/** Makes a directory and its parents, if missing; an error names it. */
export function makeDirectory(path: string): void {
  try {
    mkdirSync(path, { recursive: true });
  } catch (error) {
    throw new Error(`cannot create directory ${path}: ${describeFileError(error)}`);
  }
}

/** Writes a file, making its directory first; an error names the file. */
export function writeBytes(path: string, bytes: Uint8Array | string): void {
  makeDirectory(dirname(path));
  try {
    writeFileSync(path, bytes);
  } catch (error) {
    throw new Error(`cannot write ${path}: ${describeFileError(error)}`);
  }
}
