/**
 * Models, engines and plans as the commands use them: an ONNX model read and imported, an
 * engine built on the session's device with progress in the cell, a plan loaded (or the
 * session's engine of that plan reused while the file is unchanged). Every failure the user
 * can fix is a MagicError naming the file; an interrupt rejects with the signal's reason.
 */
import {
  build,
  BuilderConfig,
  checkOpsDefined as checkModelOps,
  BuildProgress,
  conversionReport,
  ConvertedModel,
  Engine,
  engineReport,
  Graph,
  GraphSegment,
  importOnnx,
  planKind,
  shapeTemplate,
  shapeToString
} from '../../engine';
import { IMagicContext, isConverted, ISessionModel } from './context';
import { isAbort, MagicError } from './errors';

export interface ILoadedModel {
  /** As the user named it. */
  path: string;
  graph: Graph;
  bytes: number;
  importMs: number;
}

/** What a path names, by its extension. */
export function modelKind(path: string): 'onnx' | 'plan' {
  if (/\.onnx$/i.test(path)) {
    return 'onnx';
  }
  if (/\.wtrt$/i.test(path)) {
    return 'plan';
  }
  throw new MagicError(`'${path}' is neither an ONNX model (.onnx) nor an engine plan (.wtrt)`);
}

/** Fails unless `path` names an ONNX model: `command` builds from models only. */
export function expectOnnx(path: string, command: string): void {
  if (modelKind(path) !== 'onnx') {
    throw new MagicError(`%trt ${command} builds from an ONNX model (.onnx); '${path}' is a plan`);
  }
}

/** Reads and imports an ONNX model. */
export async function readModel(context: IMagicContext, path: string): Promise<ILoadedModel> {
  const bytes = await context.files.read(path);
  context.signal.throwIfAborted();
  const started = performance.now();
  try {
    const graph = importOnnx(bytes, { source: path });
    return { path, graph, bytes: bytes.byteLength, importMs: performance.now() - started };
  } catch (error) {
    throw new MagicError(`${path} is not an ONNX model webtrt can read: ${messageOf(error)}`, {
      cause: error
    });
  }
}

/**
 * Fails, naming the nodes, when `model` has ops webtrt does not define: neither an engine nor
 * the CPU fallback can compute them.
 */
export function checkOpsDefined(model: ILoadedModel): void {
  try {
    checkModelOps(model.graph, model.path);
  } catch (error) {
    throw new MagicError(messageOf(error), { cause: error });
  }
}

/** The session's GPU device; a browser without WebGPU is the user's to fix, not a fault. */
export async function sessionDevice(context: IMagicContext): Promise<GPUDevice> {
  try {
    return await context.session.device();
  } catch (error) {
    throw new MagicError(`no WebGPU device: ${messageOf(error)}`, { cause: error });
  }
}

/**
 * trtexec's --builderOptimizationLevel when the command names none (undefined: the
 * engine's default, trtexec's 3). Tuning compiles and times every candidate tactic of a
 * layer. On a GPU that costs little for a notebook's models (small_cnn on an H100: 0.7 s at
 * level 3, 0.16 s at level 0), so the default is kept. On a software adapter (SwiftShader,
 * where the browser falls back without a GPU) the same build takes 69 s at level 3 and 5 s
 * at level 0, so there each kernel's default tactic is taken.
 */
export function defaultOptimizationLevel(device: GPUDevice): number | undefined {
  return device.adapterInfo.isFallbackAdapter ? 0 : undefined;
}

/**
 * Fails, naming --shapes and the shape to give, when an input's shape is fixed neither by
 * the model nor by `shapes`, or when `shapes` names something that is not an input.
 */
export function checkShapesGiven(model: ILoadedModel, shapes: ReadonlyMap<string, number[]>): void {
  const { graph, path } = model;
  for (const name of shapes.keys()) {
    if (!graph.inputs.some(input => input.name === name)) {
      throw new MagicError(
        `--shapes names '${name}', which is not an input of ${path} (${inputList(graph)})`
      );
    }
  }
  for (const { name, shape } of graph.inputs) {
    const given = shapes.get(name);
    if (given) {
      if (shape && shape.length !== given.length) {
        throw new MagicError(
          `--shapes gives '${name}' ${given.length} dims, but in ${path} it has ${shape.length}: ${shapeToString(shape)}`
        );
      }
      const clash = (shape ?? []).findIndex(
        (dim, axis) => typeof dim === 'number' && dim !== given[axis]
      );
      if (clash >= 0) {
        throw new MagicError(
          `--shapes gives '${name}' ${given[clash]} in dim ${clash}, but ${path} fixes it to ${String(shape?.[clash])}`
        );
      }
    } else if (!shape || !shape.every(dim => typeof dim === 'number')) {
      const template = shapeTemplate(shape);
      const what = shape ? `dims of no fixed size (${shapeToString(shape)})` : 'no declared shape';
      throw new MagicError(
        `input '${name}' of ${path} has ${what}: give its shape with --shapes ${name}:${template}` +
          (template.includes('?') ? ', a size for each ?' : '')
      );
    }
  }
}

export function inputList(graph: Graph): string {
  return `its inputs: ${graph.inputs.map(input => `'${input.name}'`).join(', ') || 'none'}`;
}

/**
 * Builds an engine of `model` on the session's device, showing each recorded layer as
 * progress in the cell; stops between layers when the cell is interrupted.
 */
export async function buildEngine(
  context: IMagicContext,
  model: ILoadedModel,
  config: BuilderConfig
): Promise<Engine> {
  const device = await sessionDevice(context);
  try {
    return await build(model.graph, config, device, {
      signal: context.signal,
      onProgress: buildProgress(context, `Building ${model.path}`)
    });
  } catch (error) {
    throw workError(`${model.path} does not build`, error);
  }
}

/** Shows a build's progress in the cell under `title`, one step per recorded layer. */
export function buildProgress(
  context: IMagicContext,
  title: string
): (progress: BuildProgress) => void {
  return ({ layersDone, totalLayers, layer, stage }) =>
    context.progress({
      title: stage ? `${title}: ${stage}` : title,
      done: layersDone,
      total: totalLayers,
      ...(layer !== undefined && { detail: `layer ${layersDone} of ${totalLayers}: ${layer}` })
    });
}

/**
 * Shows the builds of a converted model's engines in the cell, each under its segment:
 * "Building model.onnx: engine 2 (2 of 3)".
 */
export function segmentBuildProgress(
  context: IMagicContext,
  source: string,
  converted: ConvertedModel
): (segment: GraphSegment, progress: BuildProgress) => void {
  const engines = converted.engineSegments;
  const progressOf = new Map(
    engines.map(({ id }, index) => [
      id,
      buildProgress(context, `Building ${source}: ${id} (${index + 1} of ${engines.length})`)
    ])
  );
  return (segment, progress) => progressOf.get(segment.id)?.(progress);
}

/**
 * What failed long work throws: an interrupt as it is, anything else as a MagicError that
 * starts with `what` ("model.onnx does not build").
 */
export function workError(what: string, error: unknown): unknown {
  return isAbort(error) ? error : new MagicError(`${what}: ${messageOf(error)}`, { cause: error });
}

/** What identifies a plan's bytes, to tell whether a file still holds the plan an engine came from. */
function planDigest(bytes: Uint8Array): string {
  // FNV-1a: plans are not secrets, and crypto.subtle is missing outside secure contexts.
  let hash = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    hash = Math.imul(hash ^ bytes[i], 0x01000193);
  }
  return `${bytes.length}:${(hash >>> 0).toString(16)}`;
}

/** The plan each engine or converted model of this page was loaded from or serialized to. */
const planDigests = new WeakMap<Engine | ConvertedModel, string>();

/** Remembers that `held` is what `plan` holds, so that loading that plan again reuses it. */
export function rememberPlan(held: Engine | ConvertedModel, plan: Uint8Array): void {
  planDigests.set(held, planDigest(plan));
}

/**
 * The engine or converted model of a plan file: the session's one of that name while the
 * file holds the plan it came from, else the plan deserialized on the session's device and
 * added to the session. A plan from another adapter, or a damaged one, is refused naming the
 * file.
 */
export async function loadPlan(context: IMagicContext, path: string): Promise<ISessionModel> {
  const bytes = await context.files.read(path);
  const held = context.session.find(path);
  const digest = planDigest(bytes);
  if (held && planDigests.get(isConverted(held) ? held.converted : held.engine) === digest) {
    return held;
  }
  const device = await sessionDevice(context);
  context.signal.throwIfAborted();
  const plan = { path, bytes: bytes.byteLength };
  let entry: ISessionModel;
  try {
    if (planKind(bytes) === 'converted') {
      const converted = await ConvertedModel.deserialize(bytes, device);
      planDigests.set(converted, digest);
      entry = { name: path, converted, report: conversionReport(converted, path, { plan }) };
    } else {
      const engine = await Engine.deserialize(bytes, device);
      planDigests.set(engine, digest);
      entry = { name: path, engine, report: engineReport(engine, path, { plan }) };
    }
  } catch (error) {
    throw new MagicError(`${path} does not load: ${messageOf(error)}`, { cause: error });
  }
  context.session.add(entry);
  return entry;
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
