/**
 * Reports: what the engine tells about a device, a model, an engine, a run, a profile and a
 * benchmark, as plain JSON-able objects. One producer, several views: the command line prints
 * them as text, the notebook renders them (MIME type `application/vnd.webtrt.<kind>+json`)
 * and keeps them in the saved notebook, so a report never holds a live object.
 */
import type { LayerPrecision, Precision } from '../builder/config';
import type { PassReport } from '../builder/pass';
import type { DataType } from '../ir/dtype';
import type { EngineMemory, LayerInfo } from '../runtime/engine';
import type { EngineCacheStats } from '../runtime/engine-cache';
import type { LatencySummary } from '../runtime/stats';

/** The adapter and what kernels can use on it: the tutorials' "Tensor Core present?" check. */
export interface DeviceReport {
  kind: 'device';
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** The features that change what webtrt can build, each with whether the adapter has it. */
  capabilities: {
    /** WebGPU feature name ('shader-f16', 'subgroups', 'timestamp-query', ...). */
    feature: string;
    /** What it gives an engine, in a few words ("FP16 arithmetic and storage"). */
    meaning: string;
    present: boolean;
  }[];
  /** Every feature of the device (those requested of the adapter when it was made), sorted. */
  features: string[];
  /** The limits kernels are sized against, by WebGPU limit name. */
  limits: Record<string, number>;
}

export interface ValueSummary {
  name: string;
  dtype: DataType;
  /** Dims by size, by symbol name, or '?' when unknown; absent when the rank is unknown. */
  shape?: (number | string)[];
}

/** An imported ONNX model, before any build: what `webtrt inspect` prints. */
export interface ModelReport {
  kind: 'model';
  /** As the user named it. */
  path: string;
  bytes: number;
  importMs: number;
  producer: string;
  graphName: string;
  /** By domain ('' for ai.onnx). */
  opsets: Record<string, number>;
  nodes: number;
  /** The initializers: elements, bytes and how many tensors. */
  parameters: { elements: number; bytes: number; tensors: number };
  inputs: ValueSummary[];
  outputs: ValueSummary[];
  /** Op types, most frequent first; `support` says where webtrt can run them. */
  ops: { op: string; count: number; support: 'webgpu' | 'cpu' | 'unsupported' }[];
  /** How the model would be split into engine and fallback segments. */
  partitions: PartitionGraph;
}

/**
 * A segment of a model (TF-TRT's segment): an 'engine' runs on WebGPU as one built engine, a
 * 'fallback' runs on the CPU reference ops (unsupported ops, or too few nodes for an engine:
 * TF-TRT's minimum_segment_size).
 */
export interface Segment {
  /** 'engine 0', 'fallback 1', ... in execution order. */
  id: string;
  kind: 'engine' | 'fallback';
  /** ONNX node count. */
  nodes: number;
  /** Why a fallback segment falls back ("Foo is not supported", "2 nodes < minimum_segment_size 3"). */
  reason?: string;
}

/**
 * The model's ONNX nodes and the tensors between them, each node tagged with its segment and,
 * in a built engine, the layer it was fused into: the picture of TF-TRT's segmentation and
 * TensorRT's layer fusion. Graph inputs and outputs are nodes too (`role`), so every edge has
 * both ends.
 */
export interface PartitionGraph {
  segments: Segment[];
  nodes: {
    /** Unique: the ONNX node name, or the tensor name of a graph input or output. */
    id: string;
    opType: string;
    role: 'op' | 'input' | 'output';
    /** A Segment id; absent for graph inputs and outputs. */
    segment?: string;
    /** The engine layer that computes this node, when there is a built engine; fused nodes share one. */
    layer?: string;
  }[];
  /** One per (producer, consumer, tensor); initializers are not drawn. */
  edges: { from: string; to: string; tensor: string }[];
}

/** A built engine: TensorRT's build log and engine inspector in one object. */
export interface EngineReport {
  kind: 'engine';
  /** The model or plan it came from, as the user named it. */
  source: string;
  /** Where its plan was written or read, when it was. */
  plan?: { path: string; bytes: number };
  device: string;
  precision: Precision;
  buildTimeMs: number;
  /** ONNX nodes of the imported model (absent for a loaded plan). */
  onnxNodes?: number;
  /** The input shapes the engine runs at. */
  inputs: ValueSummary[];
  outputs: ValueSummary[];
  passes: PassReport[];
  layers: LayerInfo[];
  memory: EngineMemory;
  weights: { bytes: number; tensors: number };
  partitions: PartitionGraph;
}

export type SegmentValue = Omit<ValueSummary, 'dtype'> & { dtype?: DataType };

/**
 * A converted model (TF-TRT's converter.summary()): one row per engine segment, the share of
 * ONNX nodes converted, the op types that fell back and why, and each segment's engine cache.
 */
export interface ConversionReport {
  kind: 'conversion';
  source: string;
  /** Where its plan was written or read, when it was. */
  plan?: { path: string; bytes: number };
  /** Absent when no device was involved (`webtrt summary`). */
  device?: string;
  precision: Precision;
  minimumSegmentSize: number;
  denyOps: string[];
  maximumCachedEngines: number;
  engines: {
    /** The engine segment's id ('engine 0'). */
    segment: string;
    nodes: number;
    /**
     * Its inputs and outputs as inference types them (symbolic dims kept); a value after an
     * op webtrt does not know has no type.
     */
    inputs: SegmentValue[];
    outputs: SegmentValue[];
    /** The op types inside, most frequent first. */
    ops: { op: string; count: number }[];
    /** The engines built for it; absent in a summary made without building. */
    cache?: EngineCacheStats;
  }[];
  /** ONNX nodes in engine segments, of all. */
  converted: { nodes: number; total: number };
  /** The op types of nodes that fall back, most frequent first, each with its reasons. */
  unconverted: { op: string; count: number; reasons: string[] }[];
  partitions: PartitionGraph;
}

/** INT8 calibration of a model (`webtrt calibrate`, `%trt calibrate`). */
export interface CalibrationReport {
  kind: 'calibration';
  source: string;
  device: string;
  /** "entropy", "minmax" or "percentile 99.99". */
  calibrator: string;
  batches: number;
  /** Where the calibration cache was written, when it was. */
  cache?: { path: string; bytes: number };
  /** Each calibrated tensor in graph order: its range over the data and the INT8 scale chosen. */
  tensors: { name: string; min: number; max: number; amax: number; scale: number }[];
}

/**
 * How far a candidate's values are from a reference's, over every element of every iteration
 * (Polygraphy's comparison, b the reference): the absolute error |a - b|, the relative error
 * |a - b| / |b| (0 where both are 0), and numpy's allclose test |a - b| <= atol + rtol * |b|.
 * Relative errors are null where infinite: some element differs where the reference is 0.
 */
export interface ErrorStats {
  elements: number;
  /** Also the smallest atol that passes with rtol 0. */
  maxAbsolute: number;
  meanAbsolute: number;
  /** Also the smallest rtol that passes with atol 0. */
  maxRelative: number | null;
  meanRelative: number | null;
  /** ||a - b|| / ||b|| over all elements (the inverse of the signal-to-noise ratio). */
  relativeL2: number | null;
  /** Elements outside the tolerances, non-finite ones included: 0 means it passes. */
  mismatches: number;
  /**
   * Elements NaN on either side, or infinite on one and not the same on the other: they
   * fail and are left out of the errors.
   */
  nonFinite: number;
}

/**
 * An engine against a reference on the same inputs (`webtrt compare`, `%trt compare`):
 * Polygraphy's `run --onnxrt --trt` comparison of the outputs, with the tolerances they pass
 * at, top-1 / top-5 agreement of classifier outputs, and the error of every layer output
 * both compute, worst first.
 */
export interface AccuracyReport {
  kind: 'accuracy';
  /** The model (or plan) compared, as the user named it. */
  source: string;
  device: string;
  /** What was compared: "fp16 engine", "model.wtrt (int8 engine)". */
  candidate: string;
  /** What it was compared against: "fp32 engine" or "CPU reference ops". */
  reference: string;
  tolerances: { atol: number; rtol: number };
  iterations: number;
  /** Where the input sets came from ("random uniform [0, 1)", "data/ (4 batches)"). */
  inputs: string;
  outputs: {
    name: string;
    /** Of one iteration. */
    shape: number[];
    error: ErrorStats;
    /**
     * Classifier outputs (the last axis holds the classes): the share of rows, over all
     * iterations, whose reference top-1 class is the candidate's top-1, and within its top 5.
     */
    agreement?: { rows: number; top1: number; top5: number };
  }[];
  /** Each layer output tensor both compute, largest relativeL2 first. */
  layers: {
    /** The candidate's layer, with the ONNX nodes it computes and the precision it runs in. */
    layer: string;
    opType: string;
    precision: LayerPrecision;
    fusedNodes: string[];
    tensor: string;
    error: ErrorStats;
    /**
     * For an INT8 layer: the error it adds on its own, its output computed (on the CPU
     * reference ops) from the reference's values of its inputs, against the reference's
     * output, over the first input set. Errors that reach a layer from earlier ones are in
     * `error`, not here: this is what ranks layers for moving back to FP16.
     */
    addedError?: ErrorStats;
  }[];
}

/** Statistics of one output tensor of a run. */
export interface OutputSummary {
  name: string;
  dtype: DataType;
  shape: number[];
  /** Over every element (NaN and infinities counted apart, not in the statistics). */
  stats: { min: number; max: number; mean: number; std: number; nonFinite: number };
  /** The first few elements, in order. */
  head: number[];
  /**
   * For classifier-like outputs ([N, C] or [C] floats, C > 1): the k highest scores of the
   * first row, highest first.
   */
  topK?: { index: number; score: number }[];
  /** Where it was written as .npy, when it was. */
  file?: string;
}

/** One run of a model or engine: `%trt run` and `webtrt run`. */
export interface RunReport {
  kind: 'run';
  source: string;
  device: string;
  inputs: { name: string; dtype: DataType; shape: number[]; from: string }[];
  outputs: OutputSummary[];
  latency: LatencySummary;
}

/**
 * Per-layer times of an engine over several iterations (trtexec --dumpProfile), in execution
 * order: the timeline lays each iteration's layers end to end.
 */
export interface ProfileReport {
  kind: 'profile';
  source: string;
  device: string;
  clock: 'gpu' | 'wall-clock';
  iterations: number;
  layers: {
    name: string;
    opType: string;
    precision: string;
    tactic?: string;
    fusedNodes: string[];
    /** One per iteration. */
    timesMs: number[];
  }[];
  /** Where the Chrome-trace JSON was written, when it was. */
  trace?: string;
}

/** The execution modes of the tutorials' benchmark table. */
export type BenchMode = 'native' | 'fp32' | 'fp16' | 'int8' | 'best';

/** "native vs FP32 vs FP16": each mode at each batch size. */
export interface BenchReport {
  kind: 'bench';
  source: string;
  device: string;
  iterations: number;
  rows: {
    mode: BenchMode;
    batch: number;
    /** Building the engine (absent for native, which builds nothing). */
    buildMs?: number;
    firstRunMs: number;
    latency: LatencySummary;
    /** Samples (batch items) per second at the median latency. */
    throughput: number;
  }[];
  /** Modes left out, with why ("fp16: the adapter has no shader-f16"). */
  skipped: { mode: BenchMode; batch?: number; reason: string }[];
}

export type Report =
  | DeviceReport
  | ModelReport
  | EngineReport
  | ConversionReport
  | CalibrationReport
  | AccuracyReport
  | RunReport
  | ProfileReport
  | BenchReport;

/** The MIME type a notebook output of this report kind carries. */
export function reportMimeType(kind: Report['kind']): string {
  return `application/vnd.webtrt.${kind}+json`;
}
