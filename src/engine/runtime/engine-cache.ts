/**
 * TF-TRT's engine cache for one engine segment: the engines built for the input shapes it has
 * seen, at most `capacity` (maximum_cached_engines), the least recently used evicted first.
 */
import { Tensor } from '../ir/tensor';
import { Engine, ExecutionContext } from './engine';

/** What a segment's engine is built for: its fed inputs' shapes and the constants it bakes. */
export interface EngineKey {
  /** The shape of each input fed at run time, by name. */
  shapes: Record<string, number[]>;
  /** Canonical text of the build-time values taken as constants ('' when none). */
  constants: string;
}

export interface CachedEngine {
  key: EngineKey;
  engine: Engine;
  context: ExecutionContext;
  buildTimeMs: number;
  hits: number;
}

/** One cache's counters, as the summary and the inspector report them. */
export interface EngineCacheStats {
  capacity: number;
  /** Runs served by a cached engine, an exact fit or a larger batch. */
  hits: number;
  /** Runs that found no engine for their shapes and built one. */
  misses: number;
  evictions: number;
  /** Engines built, ahead of time (build) and at run time (misses). */
  builds: number;
  buildTimeMs: number;
  /** Cached engines, least recently used first. */
  entries: { shapes: Record<string, number[]>; hits: number; buildTimeMs: number }[];
  /**
   * Shapes whose engine failed to build, with why: inputs of those shapes run the segment on
   * the CPU instead (TF-TRT's fallback to the native segment), without trying again.
   */
  failures: { shapes: Record<string, number[]>; reason: string }[];
}

/** A cached engine that fits some inputs: `batch` is set when it runs them padded to its batch. */
export interface CacheFit {
  entry: CachedEngine;
  /** The inputs' batch, smaller than the engine's: the run pads to it and slices back. */
  batch?: number;
}

export class EngineCache {
  private readonly entries: CachedEngine[] = [];
  private readonly failures: { key: EngineKey; reason: string }[] = [];
  private counters = { hits: 0, misses: 0, evictions: 0, builds: 0, buildTimeMs: 0 };

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new Error(`maximumCachedEngines must be an integer of at least 1, got ${capacity}`);
    }
  }

  /**
   * The engine to run inputs of `key` with, counted as a hit: one built for exactly these
   * shapes, else (TF-TRT's implicit batch) the one of the smallest batch at least the inputs'
   * whose other dims and constants match. Undefined (a miss) when none fits.
   */
  lookup(key: EngineKey): CacheFit | undefined {
    const exact = this.entries.find(entry => sameKey(entry.key, key));
    const fit: CacheFit | undefined = exact ? { entry: exact } : this.smallestPaddedFit(key);
    if (!fit) {
      this.counters.misses++;
      return undefined;
    }
    this.counters.hits++;
    fit.entry.hits++;
    this.touch(fit.entry);
    return fit;
  }

  /** Adds a newly built engine, evicting (destroying) the least recently used beyond capacity. */
  insert(entry: CachedEngine): void {
    this.counters.builds++;
    this.counters.buildTimeMs += entry.buildTimeMs;
    this.entries.push(entry);
    while (this.entries.length > this.capacity) {
      this.entries.shift()!.engine.destroy();
      this.counters.evictions++;
    }
  }

  /** Records that no engine builds for `key`, so that its inputs run on the CPU from now on. */
  recordFailure(key: EngineKey, reason: string): void {
    this.failures.push({ key, reason });
  }

  /** Why no engine builds for `key`, when a build for it failed before. */
  failureOf(key: EngineKey): string | undefined {
    return this.failures.find(failure => sameKey(failure.key, key))?.reason;
  }

  /** Every cached engine, least recently used first. */
  get cached(): readonly CachedEngine[] {
    return this.entries;
  }

  stats(): EngineCacheStats {
    return {
      capacity: this.capacity,
      ...this.counters,
      entries: this.entries.map(({ key, hits, buildTimeMs }) => ({
        shapes: key.shapes,
        hits,
        buildTimeMs
      })),
      failures: this.failures.map(({ key, reason }) => ({ shapes: key.shapes, reason }))
    };
  }

  destroy(): void {
    this.entries.splice(0).forEach(entry => entry.engine.destroy());
  }

  private smallestPaddedFit(key: EngineKey): CacheFit | undefined {
    let best: { entry: CachedEngine; batch: number } | undefined;
    for (const entry of this.entries) {
      const batch = paddedBatch(entry, key);
      if (batch !== undefined && (!best || batchOf(entry.key)! < batchOf(best.entry.key)!)) {
        best = { entry, batch };
      }
    }
    return best;
  }

  private touch(entry: CachedEngine): void {
    this.entries.splice(this.entries.indexOf(entry), 1);
    this.entries.push(entry);
  }
}

function sameKey(a: EngineKey, b: EngineKey): boolean {
  return a.constants === b.constants && JSON.stringify(a.shapes) === JSON.stringify(b.shapes);
}

/** The batch all of the key's inputs share in dim 0, or undefined when they share none. */
function batchOf(key: EngineKey): number | undefined {
  const batches = new Set(Object.values(key.shapes).map(shape => shape[0]));
  const [batch] = batches;
  return batches.size === 1 && batch !== undefined ? batch : undefined;
}

/**
 * The inputs' batch when `entry`'s engine can run them padded: the same constants, every
 * input of the same shape but for a larger batch in dim 0, and every output batched in dim 0
 * too (so that the extra rows can be sliced off).
 */
function paddedBatch(entry: CachedEngine, key: EngineKey): number | undefined {
  const batch = batchOf(key);
  const built = batchOf(entry.key);
  if (batch === undefined || built === undefined || batch >= built || batch < 1) {
    return undefined;
  }
  const names = Object.keys(key.shapes);
  const fits =
    entry.key.constants === key.constants &&
    names.length === Object.keys(entry.key.shapes).length &&
    names.every(name => {
      const [ours, theirs] = [key.shapes[name], entry.key.shapes[name]];
      return theirs?.length === ours.length && ours.every((d, i) => i === 0 || d === theirs[i]);
    }) &&
    entry.engine.graph.outputs.every(output => output.shape?.[0] === built);
  return fits ? batch : undefined;
}

/** `tensor` grown to `batch` rows in dim 0, the extra rows copies of its last one. */
export function padBatch(tensor: Tensor, batch: number): Tensor {
  const rows = tensor.shape[0];
  const rowSize = rows === 0 ? 0 : tensor.size / rows;
  const padded = new Tensor(tensor.dtype, [batch, ...tensor.shape.slice(1)]);
  padded.data.set(tensor.data as never);
  const last = tensor.data.subarray((rows - 1) * rowSize, rows * rowSize);
  for (let row = rows; row < batch; row++) {
    padded.data.set(last as never, row * rowSize);
  }
  return padded;
}

/** The first `batch` rows of `tensor` in dim 0. */
export function sliceBatch(tensor: Tensor, batch: number): Tensor {
  const rowSize = tensor.shape[0] === 0 ? 0 : tensor.size / tensor.shape[0];
  return new Tensor(
    tensor.dtype,
    [batch, ...tensor.shape.slice(1)],
    tensor.data.slice(0, batch * rowSize)
  );
}
