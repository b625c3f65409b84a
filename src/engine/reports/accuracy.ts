/**
 * Accuracy of an engine against a reference on the same inputs, as Polygraphy's
 * `run --onnxrt --trt` compares them: each graph output's errors and whether it passes the
 * tolerances, top-1 / top-5 agreement of classifier outputs, and the error of every layer
 * output tensor both sides compute (names survive fusion), so that the layers that hurt
 * are found; then the layerPrecisions that move the worst INT8 layers back to FP16
 * (Polygraphy's `debug precision`, by hand).
 */
import type { BuilderConfig, LayerPrecision } from '../builder/config';
import { randomInput, seededRandom } from '../io/random';
import type { CalibrationData } from '../quant/calibration-data';
import { isFloat } from '../ir/dtype';
import type { Graph, Node } from '../ir/graph';
import type { Tensor } from '../ir/tensor';
import { Engine, LayerInfo, TensorInfo } from '../runtime/engine';
import { describeAdapter } from '../runtime/fingerprint';
import { prepareNode } from '../runtime/prepare';
import { runReference } from '../runtime/reference';
import type { AccuracyReport, ErrorStats } from './types';

/** Polygraphy's default tolerances. */
export const DEFAULT_TOLERANCES = { atol: 1e-5, rtol: 1e-5 } as const;

/** How many top classes a candidate row may hold the reference's top-1 in. */
const TOP_K = 5;

/** One set of inputs: a value for every graph input. */
export type InputSet = Record<string, Tensor>;

export interface AccuracyOptions {
  /** The model or plan compared, as the user named it. */
  source: string;
  /** What the candidate is called; by default "<precision> engine". */
  candidate?: string;
  /** Where the input sets come from, in words ("random uniform [0, 1)"). */
  inputs: string;
  atol?: number;
  rtol?: number;
  /**
   * The outputs whose top-1 / top-5 agreement is counted (their last axis holds the classes);
   * by default every float output of shape [batch, classes] with more than one class.
   */
  classifierOutputs?: readonly string[];
  /**
   * Compare the layers' output tensors too (default true): each engine is recorded once more
   * with them read back, its layers and tactics unchanged.
   */
  perLayer?: boolean;
  /** Stops before the next input set; the comparison then rejects with the signal's reason. */
  signal?: AbortSignal;
  onProgress?: (iterationsDone: number) => void;
}

/** The input sets of a comparison, and where they came from in words. */
export interface InputSets {
  sets: InputSet[];
  description: string;
}

/** Random inputs of the graph's (concrete) input shapes, a seed per iteration, as `run` makes them. */
export function randomInputSets(graph: Graph, iterations: number): InputSets {
  const sources = new Set<string>();
  const sets = Array.from({ length: iterations }, (_, iteration) => {
    const random = seededRandom(iteration + 1);
    return Object.fromEntries(
      graph.inputs.map(({ name, dtype, shape }) => {
        const { tensor, source } = randomInput(dtype, shape as number[], random);
        sources.add(source);
        return [name, tensor];
      })
    );
  });
  return { sets, description: [...sources].join(' and ') };
}

/** The first `iterations` batches of calibration-style data in `directory` (all by default). */
export async function dataInputSets(
  data: CalibrationData,
  directory: string,
  iterations?: number
): Promise<InputSets> {
  const sets: InputSet[] = [];
  for await (const batch of data.batches) {
    if (sets.length === iterations) {
      break;
    }
    sets.push(batch);
  }
  return { sets, description: `${directory} (${sets.length} of ${data.count} batches)` };
}

/** The reference engine's configuration: the candidate's shapes and settings, every layer FP32. */
export function fp32ReferenceConfig(config: BuilderConfig): BuilderConfig {
  const reference: BuilderConfig = { ...config, precision: 'fp32' };
  delete reference.layerPrecisions;
  delete reference.int8Scales;
  return reference;
}

/** What the candidate is compared against: an engine (the FP32 one), or a graph on the CPU reference ops. */
export type AccuracyReference = Engine | Graph;

/**
 * Runs `candidate` and `reference` on every input set and compares them. The reference is
 * an engine (the model's FP32 engine, TensorRT's usual baseline) or the imported graph, run
 * on the CPU reference ops.
 */
export async function compareAccuracy(
  candidate: Engine,
  reference: AccuracyReference,
  inputSets: Iterable<InputSet> | AsyncIterable<InputSet>,
  options: AccuracyOptions
): Promise<AccuracyReport> {
  const tolerances = {
    atol: options.atol ?? DEFAULT_TOLERANCES.atol,
    rtol: options.rtol ?? DEFAULT_TOLERANCES.rtol
  };
  const perLayer = options.perLayer ?? true;
  const sides = await compareSides(candidate, reference, perLayer);
  const outputNames = candidate.graph.outputs.map(output => output.name);
  const outputs = new Map(outputNames.map(name => [name, new ErrorAccumulator(tolerances)]));
  const agreements = new Map(
    classifierOutputs(candidate, options.classifierOutputs).map(name => [
      name,
      new AgreementCounter()
    ])
  );
  const layers = new Map(
    sides.layers.map(({ tensor }) => [tensor, new ErrorAccumulator(tolerances)])
  );
  const isolated = perLayer ? isolatedInt8Layers(candidate, sides.layers) : [];
  const added = new Map(isolated.map(({ tensor }) => [tensor, new ErrorAccumulator(tolerances)]));
  let iterations = 0;
  try {
    for await (const feeds of inputSets) {
      options.signal?.throwIfAborted();
      const [got, expected] = [await sides.candidate(feeds), await sides.reference(feeds)];
      for (const [name, errors] of [...outputs, ...layers]) {
        errors.add(name, got[name], expected[name]);
      }
      for (const [name, counter] of agreements) {
        counter.add(got[name], expected[name]);
      }
      if (iterations === 0) {
        for (const layer of isolated) {
          const values = { ...feeds, ...expected };
          added.get(layer.tensor)!.add(layer.tensor, layer.run(values), expected[layer.tensor]);
        }
      }
      iterations++;
      options.onProgress?.(iterations);
    }
  } finally {
    sides.release();
  }
  if (iterations === 0) {
    throw new Error('an accuracy comparison needs at least one set of inputs');
  }
  return {
    kind: 'accuracy',
    source: options.source,
    device: describeAdapter(candidate.device.adapterInfo),
    candidate: options.candidate ?? engineName(candidate),
    reference: reference instanceof Engine ? engineName(reference) : 'CPU reference ops',
    tolerances,
    iterations,
    inputs: options.inputs,
    outputs: outputNames.map(name => ({
      name,
      shape: outputs.get(name)!.shape,
      error: outputs.get(name)!.stats(),
      ...(agreements.has(name) && { agreement: agreements.get(name)!.agreement() })
    })),
    layers: rankedByError(
      sides.layers.map(({ tensor, layer }) => ({
        layer: layer.name,
        opType: layer.opType,
        precision: layer.precision,
        fusedNodes: [...layer.fusedNodes],
        tensor,
        error: layers.get(tensor)!.stats(),
        ...(added.has(tensor) && { addedError: added.get(tensor)!.stats() })
      }))
    )
  };
}

/** "fp16 engine". */
function engineName(engine: Engine): string {
  return `${engine.config.precision} engine`;
}

/** The outputs of a report that fail its tolerances. */
export function failedOutputs(report: AccuracyReport): AccuracyReport['outputs'] {
  return report.outputs.filter(output => output.error.mismatches > 0);
}

/**
 * The `count` INT8 layers that add the largest error (by addedError, where measured, else by
 * their output's error), and the layerPrecisions entries that hold them to FP16: each such
 * layer's ONNX nodes (LayerInfo.fusedNodes), as the builder takes them.
 */
export function fallbackWorstInt8Layers(
  report: AccuracyReport,
  count: number
): { layers: string[]; layerPrecisions: Record<string, LayerPrecision> } {
  const ownError = (row: AccuracyReport['layers'][number]) =>
    (row.addedError ?? row.error).relativeL2 ?? Infinity;
  const int8Rows = report.layers
    .filter(row => row.precision === 'int8')
    .sort((x, y) => ownError(y) - ownError(x));
  const layers = [...new Set(int8Rows.map(row => row.layer))].slice(0, count);
  const nodes = int8Rows.filter(row => layers.includes(row.layer)).flatMap(row => row.fusedNodes);
  return {
    layers,
    layerPrecisions: Object.fromEntries(nodes.map(node => [node, 'fp16' as const]))
  };
}

// --- The two sides --------------------------------------------------------------------------

/** A layer output tensor both sides compute, with the candidate's layer that computes it. */
interface ComparedTensor {
  tensor: string;
  layer: LayerInfo;
}

interface Sides {
  candidate(feeds: InputSet): Promise<Record<string, Tensor>>;
  reference(feeds: InputSet): Promise<Record<string, Tensor>>;
  layers: ComparedTensor[];
  /** Destroys the engines the comparison recorded (not the caller's). */
  release(): void;
}

/**
 * How each side runs, reading back (when `perLayer`) the layer outputs both compute: the
 * engines are recorded again with those tensors as outputs; the CPU reference keeps every
 * value it computes.
 */
async function compareSides(
  candidate: Engine,
  reference: AccuracyReference,
  perLayer: boolean
): Promise<Sides> {
  const candidateTensors = perLayer ? computedTensors(candidate) : new Map<string, Computed>();
  const referenceTensors =
    reference instanceof Engine && perLayer
      ? computedTensors(reference)
      : new Map<string, Computed>();
  const computedByReference =
    reference instanceof Engine
      ? new Set(referenceTensors.keys())
      : new Set(reference.nodes.flatMap(node => node.outputs));
  const shared = [...candidateTensors].filter(([name]) => computedByReference.has(name));
  const probes: Engine[] = [];
  try {
    const probe = async (engine: Engine, tensors: Map<string, Computed>) => {
      const wanted = shared.map(([name]) => tensors.get(name)!.info);
      if (wanted.length === 0) {
        return engine;
      }
      const probed = await engine.withOutputs(wanted);
      probes.push(probed);
      return probed;
    };
    const candidateContext = (await probe(candidate, candidateTensors)).createContext();
    const referenceRun =
      reference instanceof Engine
        ? engineRunner(await probe(reference, referenceTensors))
        : (feeds: InputSet) =>
            Promise.resolve(runReference(reference, feeds, { keepIntermediates: perLayer }));
    return {
      candidate: feeds => candidateContext.execute(feeds),
      reference: referenceRun,
      layers: shared.map(([tensor, { layer }]) => ({ tensor, layer })),
      release: () => probes.forEach(engine => engine.destroy())
    };
  } catch (error) {
    probes.forEach(engine => engine.destroy());
    throw error;
  }
}

function engineRunner(engine: Engine): (feeds: InputSet) => Promise<Record<string, Tensor>> {
  const context = engine.createContext();
  return feeds => context.execute(feeds);
}

interface Computed {
  info: TensorInfo;
  /** The layer that computes its values: through reformats, the layer they convert from. */
  layer: LayerInfo;
}

/**
 * The float tensors an engine's layers compute, by name, each with the layer whose values
 * they are. A reformat's output is its source layer's values in another precision; a view
 * (a layer of no dispatch) only renames its input's values, so it has no row of its own.
 */
function computedTensors(engine: Engine): Map<string, Computed> {
  const producers = new Map<string, LayerInfo>();
  engine.layers.forEach(layer => layer.outputs.forEach(({ name }) => producers.set(name, layer)));
  const computing = (layer: LayerInfo): LayerInfo => {
    const source = isReformat(layer) ? producers.get(layer.inputs[0].name) : undefined;
    return source ? computing(source) : layer;
  };
  const tensors = new Map<string, Computed>();
  for (const layer of engine.layers) {
    const owner = computing(layer);
    if (owner.dispatches === 0 || isReformat(owner)) {
      continue;
    }
    for (const info of layer.outputs) {
      if (isFloat(info.dtype)) {
        tensors.set(info.name, { info, layer: owner });
      }
    }
  }
  return tensors;
}

/** An INT8 layer that can be run alone on the reference's values of its inputs. */
interface IsolatedLayer {
  tensor: string;
  run(reference: Record<string, Tensor>): Tensor;
}

/**
 * The INT8 layers among the compared ones whose inputs the reference computes too, each as a
 * function of the reference's values: the layer's own CPU reference op on them. An input may
 * reach the layer through the builder's reformats (which only change its type) and views
 * (Reshape, Flatten: no dispatch), which are applied to the reference's value.
 */
function isolatedInt8Layers(candidate: Engine, compared: ComparedTensor[]): IsolatedLayer[] {
  const { graph } = candidate;
  const producers = new Map(graph.nodes.flatMap(node => node.outputs.map(name => [name, node])));
  const views = new Set(
    candidate.layers.filter(layer => layer.dispatches === 0).map(layer => layer.name)
  );
  const available = new Set([
    ...graph.inputs.map(input => input.name),
    ...compared.map(({ tensor }) => tensor)
  ]);
  /** How to get a tensor from the reference's values, or undefined when it cannot be had. */
  const valueOf = (name: string): ((values: Record<string, Tensor>) => Tensor) | undefined => {
    if (available.has(name)) {
      return values => values[name];
    }
    const producer = producers.get(name);
    if (producer && REFORMAT.test(producer.name)) {
      return valueOf(producer.inputs[0]);
    }
    return producer && views.has(producer.name) ? nodeOn(producer) : undefined;
  };
  /** `node`'s first output on the CPU from the reference's values of its inputs. */
  const nodeOn = (node: Node): ((values: Record<string, Tensor>) => Tensor) | undefined => {
    const inputs = node.inputs.map(name => {
      const weight = name ? graph.initializers.get(name) : undefined;
      return !name || weight ? () => weight : valueOf(name);
    });
    if (inputs.some(input => !input)) {
      return undefined;
    }
    const step = prepareNode(graph, node);
    return values =>
      step.op.cpu(
        inputs.map(input => input!(values)),
        step.attrs,
        step.ctx
      )[0];
  };
  return compared.flatMap(({ tensor, layer }) => {
    const node = producers.get(tensor);
    const run = layer.precision === 'int8' && node?.outputs.length === 1 && nodeOn(node);
    return run ? [{ tensor, run }] : [];
  });
}

/** The names the builder gives reformatting layers ('x reformat to float16'). */
const REFORMAT = / reformat to float(16|32)$/;

/** A Cast the builder inserted between precisions, named as TensorRT names reformatting layers. */
function isReformat(layer: LayerInfo): boolean {
  return layer.opType === 'Cast' && REFORMAT.test(layer.name);
}

/** The named outputs, or every float output of shape [batch, classes > 1]. */
function classifierOutputs(engine: Engine, named: readonly string[] | undefined): string[] {
  const outputs = engine.graph.outputs;
  if (named) {
    for (const name of named) {
      const output = outputs.find(o => o.name === name);
      if (!output) {
        const known = outputs.map(o => `'${o.name}'`).join(', ');
        throw new Error(`'${name}' is not an output of the engine (its outputs: ${known})`);
      }
      if (!output.shape?.length) {
        throw new Error(`output '${name}' has no class axis to take the top classes of`);
      }
    }
    return [...named];
  }
  return outputs
    .filter(({ dtype, shape }) => isFloat(dtype) && shape?.length === 2 && Number(shape[1]) > 1)
    .map(o => o.name);
}

// --- Statistics -----------------------------------------------------------------------------

/** Errors of one tensor, gathered over iterations. */
class ErrorAccumulator {
  /** Of the tensor in one iteration. */
  shape: number[] = [];
  private elements = 0;
  private maxAbsolute = 0;
  private sumAbsolute = 0;
  private maxRelative = 0;
  private sumRelative = 0;
  private sumSquaredError = 0;
  private sumSquaredReference = 0;
  private mismatches = 0;
  private nonFinite = 0;

  constructor(private readonly tolerances: { atol: number; rtol: number }) {}

  add(name: string, candidate: Tensor | undefined, reference: Tensor | undefined): void {
    if (!candidate || !reference) {
      throw new Error(
        `tensor '${name}' was not computed by the ${candidate ? 'reference' : 'candidate'}`
      );
    }
    if (candidate.shape.join() !== reference.shape.join()) {
      throw new Error(
        `tensor '${name}' has shape [${candidate.shape.join(', ')}] in the candidate and [${reference.shape.join(', ')}] in the reference`
      );
    }
    this.shape = [...candidate.shape];
    const a = candidate.toNumbers();
    const b = reference.toNumbers();
    const { atol, rtol } = this.tolerances;
    for (let i = 0; i < a.length; i++) {
      this.elements++;
      if (!Number.isFinite(a[i]) || !Number.isFinite(b[i])) {
        // An infinity matches the same infinity; NaN matches nothing, as in numpy's allclose.
        if (a[i] !== b[i]) {
          this.nonFinite++;
          this.mismatches++;
        }
        continue;
      }
      const absolute = Math.abs(a[i] - b[i]);
      const magnitude = Math.abs(b[i]);
      const relative = absolute === 0 ? 0 : absolute / magnitude;
      this.maxAbsolute = Math.max(this.maxAbsolute, absolute);
      this.sumAbsolute += absolute;
      this.maxRelative = Math.max(this.maxRelative, relative);
      this.sumRelative += relative;
      this.sumSquaredError += absolute * absolute;
      this.sumSquaredReference += magnitude * magnitude;
      if (absolute > atol + rtol * magnitude) {
        this.mismatches++;
      }
    }
  }

  stats(): ErrorStats {
    const finite = this.elements - this.nonFinite;
    const mean = (sum: number) => (finite > 0 ? sum / finite : 0);
    return {
      elements: this.elements,
      maxAbsolute: this.maxAbsolute,
      meanAbsolute: mean(this.sumAbsolute),
      maxRelative: finiteOrNull(this.maxRelative),
      meanRelative: finiteOrNull(mean(this.sumRelative)),
      relativeL2: finiteOrNull(
        this.sumSquaredError === 0
          ? 0
          : Math.sqrt(this.sumSquaredError) / Math.sqrt(this.sumSquaredReference)
      ),
      mismatches: this.mismatches,
      nonFinite: this.nonFinite
    };
  }
}

/** Infinity as null, which JSON keeps (a saved notebook would turn it into null anyway). */
function finiteOrNull(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

/** Top-1 and top-5 agreement of a classifier output, over rows of its last axis. */
class AgreementCounter {
  private rows = 0;
  private top1 = 0;
  private top5 = 0;

  add(candidate: Tensor, reference: Tensor): void {
    const classes = candidate.shape[candidate.shape.length - 1];
    const a = candidate.toNumbers();
    const b = reference.toNumbers();
    for (let start = 0; start + classes <= a.length && classes > 0; start += classes) {
      const expected = argmax(b, start, classes);
      const ranked = topIndices(a, start, classes, TOP_K);
      this.rows++;
      this.top1 += ranked[0] === expected ? 1 : 0;
      this.top5 += ranked.includes(expected) ? 1 : 0;
    }
  }

  agreement(): { rows: number; top1: number; top5: number } {
    const share = (count: number) => (this.rows > 0 ? count / this.rows : 1);
    return { rows: this.rows, top1: share(this.top1), top5: share(this.top5) };
  }
}

function argmax(values: Float64Array, start: number, length: number): number {
  return topIndices(values, start, length, 1)[0];
}

/** The classes of the `k` highest scores of a row, highest first (the lower class on ties). */
function topIndices(values: Float64Array, start: number, length: number, k: number): number[] {
  const classes = Array.from({ length }, (_, i) => i);
  classes.sort((x, y) => values[start + y] - values[start + x] || x - y);
  return classes.slice(0, k);
}

/** Largest relativeL2 first (infinite ones first of all); ties keep execution order. */
function rankedByError<T extends { error: ErrorStats }>(rows: T[]): T[] {
  const key = (row: T) => row.error.relativeL2 ?? Infinity;
  return rows
    .map((row, index) => ({ row, index }))
    .sort((x, y) => key(y.row) - key(x.row) || x.index - y.index)
    .map(({ row }) => row);
}
