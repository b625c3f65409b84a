import { performance } from 'node:perf_hooks';
import { Graph, importOnnx } from './engine';
import { readBytes } from './files';

export interface LoadedModel {
  /** As the user named it. */
  path: string;
  graph: Graph;
  bytes: number;
  importMs: number;
}

/** Reads and imports an ONNX file; import errors name the file (the importer's `source`). */
export function loadModel(path: string): LoadedModel {
  const bytes = readBytes(path);
  const start = performance.now();
  const graph = importOnnx(bytes, { source: path });
  return { path, graph, bytes: bytes.length, importMs: performance.now() - start };
}
