/** The inputs of `webtrt run`: .npy files, --shapes, and random values for the rest. */
import {
  checkFeeds,
  Dim,
  Graph,
  parseNpy,
  randomInput,
  seededRandom,
  shapeToString,
  Tensor,
  ValueInfo
} from './engine';
import { UsageError } from './errors';
import { readBytes } from './files';

/** `--input name=file.npy` flags as input name → file path. */
export function parseInputFlags(values: readonly string[]): Map<string, string> {
  const files = new Map<string, string>();
  for (const value of values) {
    const split = value.indexOf('=');
    if (split <= 0 || split === value.length - 1) {
      throw new UsageError(`--input '${value}' must be name=file.npy`, 'run');
    }
    const name = value.slice(0, split);
    if (files.has(name)) {
      throw new UsageError(`--input gives '${name}' twice`, 'run');
    }
    files.set(name, value.slice(split + 1));
  }
  return files;
}

/**
 * `--loadInputs name:file.npy,other:other.npy` flags (trtexec's syntax, comma separated or
 * repeated; .npy files here) as input name → file path. The name ends at the last colon, as
 * tensor names may hold colons ("input:0:x.npy").
 */
export function parseLoadInputsFlags(
  values: readonly string[],
  command: string
): Map<string, string> {
  const files = new Map<string, string>();
  for (const item of values.flatMap(value => value.split(',')).filter(item => item)) {
    const split = item.lastIndexOf(':');
    if (split <= 0 || split === item.length - 1) {
      throw new UsageError(`--loadInputs '${item}' must be name:file.npy`, command);
    }
    const name = item.slice(0, split);
    if (files.has(name)) {
      throw new UsageError(`--loadInputs gives '${name}' twice`, command);
    }
    files.set(name, item.slice(split + 1));
  }
  return files;
}

/**
 * `--shapes name:1x3x224x224,other:1x16` flags (repeatable) as input name → shape, in
 * trtexec's syntax, which --minShapes, --optShapes and --maxShapes share (`flag` names the
 * one parsed, for messages). The name ends at the last colon, as tensor names may hold
 * colons ("input:0").
 */
export function parseShapeFlags(
  values: readonly string[],
  flag: string,
  command: string
): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const item of values.flatMap(value => value.split(',')).filter(item => item)) {
    const split = item.lastIndexOf(':');
    const dims = item.slice(split + 1);
    if (split <= 0 || !/^(\d+(x\d+)*)?$/.test(dims)) {
      throw new UsageError(
        `--${flag} '${item}' must be name:dims, e.g. input:1x3x224x224`,
        command
      );
    }
    const name = item.slice(0, split);
    if (shapes.has(name)) {
      throw new UsageError(`--${flag} gives '${name}' twice`, command);
    }
    shapes.set(name, dims ? dims.split('x').map(Number) : []);
  }
  return shapes;
}

export interface PreparedInput {
  tensor: Tensor;
  /** Where its values came from: "x.npy" or "random uniform [0, 1)". */
  source: string;
}

export interface InputOptions {
  files: Map<string, string>;
  shapes: Map<string, number[]>;
  seed: number;
}

/**
 * The feeds of a run: inputs given as files are read and checked against the model (the
 * error names the file); the others get random values of their declared shape, with
 * symbolic dims taken from --shapes or from another input that binds the same symbol.
 */
export function prepareInputs(graph: Graph, options: InputOptions): Map<string, PreparedInput> {
  const declared = new Map(graph.inputs.map(input => [input.name, input]));
  for (const name of [...options.files.keys(), ...options.shapes.keys()]) {
    if (!declared.has(name)) {
      const known = graph.inputs.map(input => `'${input.name}'`).join(', ') || 'none';
      throw new UsageError(`'${name}' is not an input of the model (its inputs: ${known})`, 'run');
    }
  }
  const prepared = new Map<string, PreparedInput>();
  for (const [name, path] of options.files) {
    const tensor = readInputFile(graph, declared.get(name)!, path);
    const shape = options.shapes.get(name);
    if (shape && !sameShape(shape, tensor.shape)) {
      throw new UsageError(
        `${path} has shape ${shapeToString(tensor.shape)}, but --shapes gives ${name}:${shape.join('x')}`,
        'run'
      );
    }
    prepared.set(name, { tensor, source: path });
  }
  const symbols = bindSymbols(
    graph.inputs,
    name => prepared.get(name)?.tensor.shape ?? options.shapes.get(name)
  );
  const random = seededRandom(options.seed);
  for (const input of graph.inputs) {
    if (!prepared.has(input.name)) {
      const shape = options.shapes.get(input.name) ?? concreteShape(input, symbols);
      prepared.set(input.name, randomInput(input.dtype, shape, random));
    }
  }
  const feeds = Object.fromEntries([...prepared].map(([name, input]) => [name, input.tensor]));
  checkFeeds(graph, feeds);
  return prepared;
}

/** A .npy input, checked alone against its declaration so that an error names the file. */
function readInputFile(graph: Graph, input: ValueInfo, path: string): Tensor {
  const tensor = parseNpy(readBytes(path), path);
  try {
    checkFeeds({ ...graph, inputs: [input] }, { [input.name]: tensor });
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`);
  }
  return tensor;
}

/** Symbol → size, from the inputs whose concrete shape is already known. */
function bindSymbols(
  inputs: readonly ValueInfo[],
  knownShape: (name: string) => readonly number[] | undefined
): Map<string, number> {
  const symbols = new Map<string, number>();
  for (const input of inputs) {
    const shape = knownShape(input.name);
    if (shape && input.shape?.length === shape.length) {
      input.shape.forEach((dim, axis) => {
        if (typeof dim === 'string' && dim && !symbols.has(dim)) {
          symbols.set(dim, shape[axis]);
        }
      });
    }
  }
  return symbols;
}

function concreteShape(input: ValueInfo, symbols: Map<string, number>): number[] {
  if (!input.shape) {
    throw new UsageError(
      `input '${input.name}' has no declared shape: give it with --shapes ${input.name}:DxDx...`,
      'run'
    );
  }
  const declared: readonly Dim[] = input.shape;
  return declared.map((dim, axis) => {
    if (typeof dim === 'number') {
      return dim;
    }
    const size = dim ? symbols.get(dim) : undefined;
    if (size === undefined) {
      const what = dim ? `symbolic dim '${dim}'` : 'an unknown dim';
      const template = declared.map(d => (typeof d === 'number' ? d : '?')).join('x');
      throw new UsageError(
        `input '${input.name}' has ${what} (axis ${axis}) with no value: give its shape ` +
          `with --shapes ${input.name}:${template}, a number for each ?`,
        'run'
      );
    }
    return size;
  });
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
