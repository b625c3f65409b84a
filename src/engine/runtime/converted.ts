/**
 * A converted model (TF-TRT's converted graph): the model split into segments, each engine
 * segment run by engines built for the shapes it is fed (an LRU cache per segment, as
 * TF-TRT's TRTEngineOp keeps), each fallback segment run on the CPU reference ops. Tensors
 * move between the GPU and the host only at segment borders.
 */
import { build, BuildOptions, BuildProgress } from '../builder/build';
import { BuilderConfig, checkConfig } from '../builder/config';
import { GraphSegment, segmentGraph, SegmentOptions, Segmentation } from '../builder/segment';
import { qualifiedOpType } from '../builder/support';
import { TimingCache } from '../builder/tuner';
import { Graph, shapeToString } from '../ir/graph';
import { Tensor } from '../ir/tensor';
import { randomInput, seededRandom } from '../io/random';
import { findOp } from '../ops/registry';
import { Engine } from './engine';
import { CachedEngine, EngineCache, EngineKey, padBatch, sliceBatch } from './engine-cache';
import { checkFeeds } from './feeds';
import { decodePlan, decodePlanOf, encodePlan, PlanContents } from './plan';
import { runReference } from './reference';
import { loadGraph, storeGraph, StoredGraph } from './stored-graph';

const CONVERTED_PLAN: PlanContents = { format: 'webtrt-converted', formatVersion: 1 };

/** One input's range in an optimization profile (trtexec's --minShapes/--optShapes/--maxShapes). */
export interface ShapeRange {
  min: number[];
  opt: number[];
  max: number[];
}

/** The shapes a converted model accepts, by input name; inputs left out are not bounded. */
export type OptimizationProfile = Record<string, ShapeRange>;

/** TF-TRT's TrtConversionParams: how to segment the model and how to build its engines. */
export interface ConversionParams extends Omit<BuilderConfig, 'shapes'>, SegmentOptions {
  /** TF-TRT's maximum_cached_engines: engines kept per segment. Default 1. */
  maximumCachedEngines?: number;
  /**
   * Bounds on the input shapes: a run outside them is refused, and `build` without shapes
   * builds for the `opt` shapes.
   */
  profile?: OptimizationProfile;
}

export interface ConvertedRunOptions {
  /** Stops a run-time build between layers; the run then rejects with its reason. */
  signal?: AbortSignal;
  /** Progress of each engine built at run time (a cache miss). */
  onBuildProgress?: (segment: GraphSegment, progress: BuildProgress) => void;
}

/**
 * Splits `graph` into segments with `params` (see segmentGraph); engines are built when
 * needed. Fails, naming the nodes, when the model uses an op that neither an engine nor the
 * CPU can run (see checkOpsDefined).
 */
export function convert(graph: Graph, params: ConversionParams, device: GPUDevice): ConvertedModel {
  checkConfig(params);
  if (params.profile) {
    checkProfile(graph, params.profile);
  }
  checkOpsDefined(graph);
  const segmentation = segmentGraph(graph, params);
  return new ConvertedModel(segmentation, params, device);
}

export class ConvertedModel {
  private readonly caches = new Map<string, EngineCache>();
  private readonly timingCache = new TimingCache();
  private running = false;
  private destroyed = false;

  /** Made by convert and deserialize. */
  constructor(
    readonly segmentation: Segmentation,
    readonly params: ConversionParams,
    readonly device: GPUDevice
  ) {
    for (const segment of this.engineSegments) {
      this.caches.set(segment.id, new EngineCache(params.maximumCachedEngines ?? 1));
    }
  }

  get graph(): Graph {
    return this.segmentation.graph;
  }

  get segments(): readonly GraphSegment[] {
    return this.segmentation.segments;
  }

  get engineSegments(): GraphSegment[] {
    return this.segments.filter(segment => segment.kind === 'engine');
  }

  /** The cache of an engine segment, by segment id. */
  cache(segment: string): EngineCache {
    const cache = this.caches.get(segment);
    if (!cache) {
      throw new Error(`'${segment}' is not an engine segment of '${this.graph.name}'`);
    }
    return cache;
  }

  /**
   * Builds the engines for inputs of `shapes` ahead of time (TF-TRT's converter.build): runs
   * the model once on random inputs of those shapes, so that each segment's engine is built
   * for the shapes that reach it. Without shapes: the profile's opt shapes, else the
   * declared ones (which must then be fixed).
   */
  async build(
    shapes: Record<string, number[]> = {},
    options: ConvertedRunOptions = {}
  ): Promise<void> {
    const random = seededRandom(1);
    const feeds: Record<string, Tensor> = {};
    for (const input of this.graph.inputs) {
      const shape = shapes[input.name] ?? this.params.profile?.[input.name]?.opt ?? input.shape;
      if (!shape || !shape.every(dim => typeof dim === 'number')) {
        throw new Error(
          `input '${input.name}' has shape ${shapeToString(shape)}: give the shape to build for`
        );
      }
      feeds[input.name] = randomInput(input.dtype, shape as number[], random).tensor;
    }
    await this.run(feeds, options);
  }

  /**
   * Runs the model: each engine segment with a cached engine that fits its inputs, built
   * when none does; each fallback segment on the CPU. An engine segment whose engine fails
   * to build for its inputs runs on the CPU too (its cache records why), as TF-TRT runs the
   * native segment. The feeds must fit the profile.
   */
  async run(
    feeds: Record<string, Tensor>,
    options: ConvertedRunOptions = {}
  ): Promise<Record<string, Tensor>> {
    this.checkAlive();
    if (this.running) {
      throw new Error(`'${this.graph.name}' is still running: await its run first`);
    }
    checkFeeds(this.graph, feeds);
    if (this.params.profile) {
      checkWithinProfile(this.params.profile, feeds);
    }
    this.running = true;
    try {
      const values = new Map<string, Tensor>(this.graph.initializers);
      Object.entries(feeds).forEach(([name, tensor]) => values.set(name, tensor));
      for (const segment of this.segments) {
        const inputs = Object.fromEntries(segment.inputs.map(name => [name, values.get(name)!]));
        const outputs =
          segment.kind === 'engine'
            ? await this.runEngine(segment, inputs, options)
            : runOnCpu(this.graph, segment, inputs);
        Object.entries(outputs).forEach(([name, tensor]) => values.set(name, tensor));
      }
      return Object.fromEntries(this.graph.outputs.map(({ name }) => [name, values.get(name)!]));
    } finally {
      this.running = false;
    }
  }

  private async runEngine(
    segment: GraphSegment,
    inputs: Record<string, Tensor>,
    options: ConvertedRunOptions
  ): Promise<Record<string, Tensor>> {
    const baked = new Set(
      segment.inputs.filter(name => this.segmentation.buildTimeValues.has(name))
    );
    const fed = Object.fromEntries(Object.entries(inputs).filter(([name]) => !baked.has(name)));
    const key = engineKey(fed, inputs, baked);
    const cache = this.cache(segment.id);
    const onCpu = () => runOnCpu(this.graph, segment, inputs);
    if (cache.failureOf(key) !== undefined) {
      return onCpu();
    }
    let fit = cache.lookup(key);
    if (!fit) {
      try {
        fit = { entry: await this.buildEngine(segment, inputs, baked, key, options) };
      } catch (error) {
        if (options.signal?.aborted) {
          throw error;
        }
        cache.recordFailure(key, (error as Error).message);
        return onCpu();
      }
    }
    const { entry, batch } = fit;
    if (batch === undefined) {
      return entry.context.execute(fed);
    }
    const built = Object.values(entry.key.shapes)[0][0];
    const padded = Object.fromEntries(
      Object.entries(fed).map(([name, tensor]) => [name, padBatch(tensor, built)])
    );
    const outputs = await entry.context.execute(padded);
    return Object.fromEntries(
      Object.entries(outputs).map(([name, tensor]) => [name, sliceBatch(tensor, batch)])
    );
  }

  private async buildEngine(
    segment: GraphSegment,
    inputs: Record<string, Tensor>,
    baked: ReadonlySet<string>,
    key: EngineKey,
    options: ConvertedRunOptions
  ): Promise<CachedEngine> {
    const subgraph = segmentSubgraph(this.graph, segment, inputs, baked);
    const { precision, layerPrecisions, int8Scales, maxWorkspaceBytes, optimizationLevel } =
      this.params;
    const ownNodes = new Set(segment.nodes.map(node => node.name));
    const config: BuilderConfig = {
      precision,
      // The build refuses names its graph lacks: other segments' nodes are left out.
      layerPrecisions: Object.fromEntries(
        Object.entries(layerPrecisions ?? {}).filter(([name]) => ownNodes.has(name))
      ),
      int8Scales,
      maxWorkspaceBytes,
      optimizationLevel
    };
    const buildOptions: BuildOptions = {
      timingCache: this.timingCache,
      signal: options.signal,
      onProgress: progress => options.onBuildProgress?.(segment, progress)
    };
    const engine = await build(subgraph, config, this.device, buildOptions);
    const entry = {
      key,
      engine,
      context: engine.createContext(),
      buildTimeMs: engine.buildReport.buildTimeMs,
      hits: 0
    };
    this.cache(segment.id).insert(entry);
    return entry;
  }

  /**
   * The plan of a converted model (TF-TRT's saved converted model): the graph, the
   * parameters and every cached engine's plan. Tied to this adapter, as engine plans are.
   */
  serialize(): Uint8Array<ArrayBuffer> {
    this.checkAlive();
    const blobs: Uint8Array[] = [];
    const graph = storeGraph(this.graph, blobs);
    const engines: StoredCachedEngine[] = [];
    for (const [segment, cache] of this.caches) {
      for (const entry of cache.cached) {
        blobs.push(entry.engine.serialize());
        engines.push({ segment, key: entry.key, plan: blobs.length - 1 });
      }
    }
    const metadata: StoredConvertedModel = {
      ...CONVERTED_PLAN,
      params: this.params,
      graph,
      engines
    };
    return encodePlan({ metadata, blobs });
  }

  /**
   * A converted model from its plan, its engines loaded on `device` into their caches
   * (which count them as built). Refuses a plan of another kind, naming what it holds.
   */
  static async deserialize(bytes: Uint8Array, device: GPUDevice): Promise<ConvertedModel> {
    const { stored, blobs } = decodePlanOf<StoredConvertedModel>(bytes, CONVERTED_PLAN);
    const model = convert(loadGraph(stored.graph, blobs), stored.params, device);
    try {
      for (const { segment, key, plan: blob } of stored.engines) {
        const engine = await Engine.deserialize(blobs[blob], device);
        model.cache(segment).insert({
          key,
          engine,
          context: engine.createContext(),
          buildTimeMs: engine.buildReport.buildTimeMs,
          hits: 0
        });
      }
    } catch (error) {
      model.destroy();
      throw error;
    }
    return model;
  }

  destroy(): void {
    if (!this.destroyed) {
      this.destroyed = true;
      this.caches.forEach(cache => cache.destroy());
    }
  }

  private checkAlive(): void {
    if (this.destroyed) {
      throw new Error(`converted model '${this.graph.name}' has been destroyed`);
    }
  }
}

/**
 * Fails, naming the nodes, when `graph` uses ops webtrt does not define: neither an engine
 * nor the CPU fallback can run those (registerOp adds one). `source` names the model in the
 * message (default: the graph's name).
 */
export function checkOpsDefined(graph: Graph, source = `'${graph.name}'`): void {
  const undefinedOps = graph.nodes.filter(node => !findOp(node.opType, node.domain));
  if (undefinedOps.length > 0) {
    const one = undefinedOps.length === 1;
    throw new Error(
      `${source} uses ${one ? 'an op' : 'ops'} that webtrt does not define, so neither an engine nor the CPU fallback can run ${one ? 'it' : 'them'}: ` +
        undefinedOps.map(node => `'${node.name}' (${qualifiedOpType(node)})`).join(', ')
    );
  }
}

/** What a plan holds: one engine, or a converted model of segments. */
export function planKind(bytes: Uint8Array): 'engine' | 'converted' {
  const { format } = decodePlan(bytes).metadata;
  return format === CONVERTED_PLAN.format ? 'converted' : 'engine';
}

interface StoredCachedEngine {
  segment: string;
  key: EngineKey;
  /** The blob holding the engine's own plan. */
  plan: number;
}

interface StoredConvertedModel extends PlanContents {
  params: ConversionParams;
  graph: StoredGraph;
  engines: StoredCachedEngine[];
}

/** Runs a segment on the CPU reference ops. */
function runOnCpu(
  graph: Graph,
  segment: GraphSegment,
  inputs: Record<string, Tensor>
): Record<string, Tensor> {
  return runReference(segmentSubgraph(graph, segment, inputs, new Set()), inputs);
}

/**
 * The graph of one segment for values of `inputs`: its nodes, the initializers they read,
 * its fed inputs at their concrete types and shapes, and the `baked` inputs (values known
 * at build time) as initializers.
 */
function segmentSubgraph(
  graph: Graph,
  segment: GraphSegment,
  inputs: Record<string, Tensor>,
  baked: ReadonlySet<string>
): Graph {
  const initializers = new Map<string, Tensor>();
  for (const node of segment.nodes) {
    for (const name of node.inputs) {
      const constant = graph.initializers.get(name) ?? (baked.has(name) ? inputs[name] : undefined);
      if (constant) {
        initializers.set(name, constant);
      }
    }
  }
  return {
    name: `${graph.name} ${segment.id}`,
    opsets: graph.opsets,
    inputs: segment.inputs
      .filter(name => !baked.has(name))
      .map(name => ({ name, dtype: inputs[name].dtype, shape: [...inputs[name].shape] })),
    // Output types are what inference makes of the nodes; the names are what matters here.
    outputs: segment.outputs.map(name => ({ name, dtype: 'float32' })),
    nodes: segment.nodes,
    initializers,
    valueTypes: new Map(),
    ...(graph.producerName !== undefined && { producerName: graph.producerName })
  };
}

function engineKey(
  fed: Record<string, Tensor>,
  inputs: Record<string, Tensor>,
  baked: ReadonlySet<string>
): EngineKey {
  const shapes = Object.fromEntries(
    Object.entries(fed).map(([name, tensor]) => [name, [...tensor.shape]])
  );
  const constants = [...baked]
    .sort()
    .map(name => {
      const { dtype, shape } = inputs[name];
      return `${name}:${dtype}[${shape.join(',')}]=${Array.from(inputs[name].toNumbers()).join(',')}`;
    })
    .join(';');
  return { shapes, constants };
}

function checkProfile(graph: Graph, profile: OptimizationProfile): void {
  for (const [name, { min, opt, max }] of Object.entries(profile)) {
    const input = graph.inputs.find(i => i.name === name);
    if (!input) {
      throw new Error(`the optimization profile names '${name}', which is not a graph input`);
    }
    const rank = input.shape?.length ?? min.length;
    if (![min, opt, max].every(shape => shape.length === rank)) {
      throw new Error(
        `the optimization profile of '${name}' must give ${rank} dims in min, opt and max`
      );
    }
    const ordered = min.every(
      (d, i) => Number.isInteger(d) && d >= 0 && d <= opt[i] && opt[i] <= max[i]
    );
    if (!ordered) {
      throw new Error(
        `the optimization profile of '${name}' needs min <= opt <= max in every dim: min [${min}], opt [${opt}], max [${max}]`
      );
    }
  }
}

function checkWithinProfile(profile: OptimizationProfile, feeds: Record<string, Tensor>): void {
  for (const [name, { min, max }] of Object.entries(profile)) {
    const shape = feeds[name].shape;
    if (shape.length !== min.length || shape.some((d, i) => d < min[i] || d > max[i])) {
      throw new Error(
        `input '${name}' has shape [${shape.join(', ')}], outside the optimization profile: min [${min.join(', ')}], max [${max.join(', ')}]`
      );
    }
  }
}
