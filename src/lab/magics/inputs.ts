import {
  checkFeeds,
  Engine,
  engineReport,
  Graph,
  parseNpy,
  randomInput,
  RunReport,
  seededRandom,
  shapeToString,
  Tensor
} from '../../engine';
import { IMagicContext, isConverted, ISessionConverted } from './context';
import { builderConfig } from './builder-options';
import { buildEngine, inputList, loadPlan, messageOf, modelKind, readModel } from './engines';
import { MagicError } from './errors';
import { IOption, shapes, tensorFiles } from './options';

export interface IRunInputs {
  feeds: Record<string, Tensor>;
  /** Each input with where its values came from, as a RunReport lists them. */
  described: RunReport['inputs'];
}

/** Random inputs are the same on every run, so runs of a cell compare. */
const RANDOM_SEED = 0;

/**
 * The feeds of a run of `graph` (`source` names it in messages): each .npy file of `files`
 * read and checked against its input, the error naming the file; random values for the other
 * inputs, in the shape `shapes` gives or the model declares, symbolic dims taken from the
 * files that bind them.
 */
export async function prepareInputs(
  context: IMagicContext,
  graph: Graph,
  source: string,
  files: ReadonlyMap<string, string>,
  shapes: ReadonlyMap<string, number[]> = new Map()
): Promise<IRunInputs> {
  const declared = new Map(graph.inputs.map(input => [input.name, input]));
  for (const name of files.keys()) {
    if (!declared.has(name)) {
      throw new MagicError(
        `--input names '${name}', which is not an input of ${source} (${inputList(graph)})`
      );
    }
  }
  const feeds: Record<string, Tensor> = {};
  const described: RunReport['inputs'] = [];
  for (const [name, path] of files) {
    const bytes = await context.files.read(path);
    const tensor = fileTensor(bytes, path);
    const shape = shapes.get(name);
    if (shape && shapeToString(shape) !== shapeToString(tensor.shape)) {
      throw new MagicError(
        `${path} holds '${name}' as ${shapeToString(tensor.shape)}, but --shapes gives ${shapeToString(shape)}`
      );
    }
    try {
      checkFeeds({ ...graph, inputs: [declared.get(name)!] }, { [name]: tensor });
    } catch (error) {
      throw new MagicError(`${path} does not fit ${source}: ${messageOf(error)}`, { cause: error });
    }
    feeds[name] = tensor;
    described.push({ name, dtype: tensor.dtype, shape: [...tensor.shape], from: path });
  }
  const symbols = boundSymbols(graph, feeds, [...files.values()]);
  const random = seededRandom(RANDOM_SEED);
  for (const input of graph.inputs) {
    if (!feeds[input.name]) {
      const shape = shapes.get(input.name) ?? concreteShape(input, symbols, source);
      const { tensor, source: from } = randomInput(input.dtype, shape, random);
      feeds[input.name] = tensor;
      described.push({ name: input.name, dtype: input.dtype, shape: [...shape], from });
    }
  }
  try {
    checkFeeds(graph, feeds);
  } catch (error) {
    throw new MagicError(`the inputs do not fit ${source}: ${messageOf(error)}`, { cause: error });
  }
  return { feeds, described };
}

function fileTensor(bytes: Uint8Array, path: string): Tensor {
  try {
    return parseNpy(bytes, path);
  } catch (error) {
    // parseNpy's message starts with the path.
    throw new MagicError(messageOf(error), { cause: error });
  }
}

/** Symbolic dims bound by the inputs given as files; files that disagree are named. */
function boundSymbols(
  graph: Graph,
  feeds: Record<string, Tensor>,
  paths: readonly string[]
): Map<string, number> {
  const given = graph.inputs.filter(input => feeds[input.name]);
  try {
    return checkFeeds({ ...graph, inputs: given }, feeds);
  } catch (error) {
    throw new MagicError(`${paths.join(', ')} do not fit together: ${messageOf(error)}`, {
      cause: error
    });
  }
}

function concreteShape(
  input: Graph['inputs'][number],
  symbols: ReadonlyMap<string, number>,
  source: string
): number[] {
  const shape = input.shape?.map(dim =>
    typeof dim === 'number' ? dim : dim ? symbols.get(dim) : undefined
  );
  if (!shape || shape.some(dim => dim === undefined)) {
    const template = shape ? shape.map(dim => dim ?? '?').join('x') : 'DxDx...';
    throw new MagicError(
      `input '${input.name}' of ${source} has ${input.shape ? `the shape ${shapeToString(input.shape)}` : 'no declared shape'}: ` +
        `give its values with --input ${input.name}=file.npy or its shape with --shapes ${input.name}:${template}`
    );
  }
  return shape as number[];
}

/** The options of the commands that run a plan or a model on inputs: run and profile. */
export const INPUT_OPTIONS = {
  input: {
    kind: tensorFiles,
    short: 'i',
    placeholder: 'name=file.npy',
    help:
      "an input's values from a .npy file (numpy.save writes them), repeated for several " +
      'inputs. Inputs not given get random values: floats in [0, 1), integers in [0, 10)'
  } satisfies IOption<Map<string, string>>,
  shapes: {
    kind: shapes,
    placeholder: 'name:1x3x32x32,...',
    help:
      'the shapes of random inputs of an ONNX model, comma separated or repeated; needed for ' +
      'dims the model leaves open and no --input fixes. A plan runs at the shapes it was built for'
  } satisfies IOption<Map<string, number[]>>
};

export interface IInputChoices {
  input?: Map<string, string>;
  shapes?: Map<string, number[]>;
}

/**
 * What runs prepared inputs: an engine, or a converted model held by the session under the
 * plan's name.
 */
export type IPreparedRun =
  { engine: Engine; inputs: IRunInputs } | { converted: ISessionConverted; inputs: IRunInputs };

/**
 * The engine of a plan (loaded, or the session's while the file is unchanged) or of an ONNX
 * model (built at the inputs' shapes, with progress, and added to the session under the
 * model's path), or the converted model of a converted plan, with its inputs read or made
 * up. `checkGraph` sees the model or plan's graph before anything is built.
 */
export async function prepareRun(
  context: IMagicContext,
  path: string,
  choices: IInputChoices,
  checkGraph: (graph: Graph) => void = () => undefined
): Promise<IPreparedRun> {
  const files = choices.input ?? new Map<string, string>();
  if (modelKind(path) === 'plan') {
    const held = await loadPlan(context, path);
    if (isConverted(held)) {
      // A converted model builds engines for new input shapes as it runs: --shapes picks them.
      const { graph } = held.converted;
      checkGraph(graph);
      const inputs = await prepareInputs(context, graph, path, files, choices.shapes);
      return { converted: held, inputs };
    }
    if (choices.shapes) {
      throw new MagicError(
        `--shapes sets the shapes an ONNX model is built at; the plan ${path} runs at the shapes it was built for`
      );
    }
    checkGraph(held.engine.graph);
    return {
      engine: held.engine,
      inputs: await prepareInputs(context, held.engine.graph, path, files)
    };
  }
  const model = await readModel(context, path);
  checkGraph(model.graph);
  const inputs = await prepareInputs(context, model.graph, path, files, choices.shapes);
  const inputShapes = new Map(
    Object.entries(inputs.feeds).map(([name, t]) => [name, [...t.shape]])
  );
  const config = await builderConfig(context, model, { shapes: inputShapes });
  const engine = await buildEngine(context, model, config);
  context.session.add({
    name: path,
    engine,
    report: engineReport(engine, path, {
      graph: model.graph,
      partitions: { minimumSegmentSize: context.settings.minimumSegmentSize }
    })
  });
  return { engine, inputs };
}
