/**
 * Kernel auto-tuning, as TensorRT's builder does it: a layer whose kernel offers several
 * tactics (tile shapes, vector widths, ...) is recorded once per tactic, every candidate is
 * timed on the device the engine is built for, and the fastest is kept. A timing cache keyed
 * by the layer's signature and the tactic spares timing the same layer twice (a network
 * repeats its blocks), within one build and across builds that share the cache.
 */
import { BoundDispatch, encodeDispatch } from '../runtime/native';
import { GpuTimer } from '../runtime/profiler';

export interface TacticCandidate {
  tactic: string;
  /** The layer's dispatches recorded with this tactic, bound to the layer's memory. */
  dispatches: readonly BoundDispatch[];
}

export interface TacticTiming {
  tactic: string;
  /** The fastest of the timed rounds, per run of the layer. */
  ms: number;
  /** Taken from the timing cache rather than measured now. */
  cached: boolean;
}

export interface TuningOptions {
  /** Runs of the layer per timed pass, so that short kernels rise above timer resolution. */
  repeats?: number;
  /** Timed passes per tactic; the fastest counts (the others saw clocks ramping or noise). */
  rounds?: number;
  /** How long the candidates run untimed first (at least one round), to bring clocks up. */
  warmUpMs?: number;
}

const DEFAULT_REPEATS = 10;
const DEFAULT_ROUNDS = 3;
const DEFAULT_WARM_UP_MS = 500;

/** Milliseconds per layer run, by layer signature and tactic (TensorRT's timing cache). */
export class TimingCache {
  private readonly timings = new Map<string, number>();

  constructor(entries: readonly [string, number][] = []) {
    entries.forEach(([key, ms]) => this.timings.set(key, ms));
  }

  static key(signature: string, tactic: string): string {
    return `${signature} @ ${tactic}`;
  }

  get(signature: string, tactic: string): number | undefined {
    return this.timings.get(TimingCache.key(signature, tactic));
  }

  set(signature: string, tactic: string, ms: number): void {
    this.timings.set(TimingCache.key(signature, tactic), ms);
  }

  get size(): number {
    return this.timings.size;
  }

  /** Plain data, to keep beside engines and load into a later build. */
  entries(): [string, number][] {
    return [...this.timings];
  }
}

/**
 * Times each candidate of one layer (whose signature names its op, shapes and attributes)
 * unless the cache knows it, records the new timings in the cache, and returns every
 * candidate's timing in order. The candidates' dispatches run on whatever their buffers
 * hold: timings do not depend on the values.
 *
 * A GPU left idle while the builder compiled the layer's kernels runs at low clocks, where
 * kernels rank otherwise than at full clocks (on the H100, 1x1 convolutions timed 3-4x
 * slower than they run in the engine), so the candidates run untimed for `warmUpMs`
 * first; each round then runs every candidate back to back, so that clocks still moving
 * favour none.
 */
export async function timeTactics(
  device: GPUDevice,
  signature: string,
  candidates: readonly TacticCandidate[],
  cache: TimingCache,
  options: TuningOptions = {}
): Promise<TacticTiming[]> {
  const repeats = options.repeats ?? DEFAULT_REPEATS;
  const rounds = options.rounds ?? DEFAULT_ROUNDS;
  const warmUpMs = options.warmUpMs ?? DEFAULT_WARM_UP_MS;
  const unknown = candidates.filter(({ tactic }) => cache.get(signature, tactic) === undefined);
  if (unknown.length > 0) {
    const timer = new GpuTimer(device, unknown.length);
    try {
      const warmUpStarted = performance.now();
      do {
        await runRound(device, undefined, unknown, repeats);
      } while (performance.now() - warmUpStarted < warmUpMs);
      const perRound: number[][] = [];
      for (let round = 0; round < rounds; round++) {
        perRound.push(await runRound(device, timer, unknown, repeats));
      }
      unknown.forEach(({ tactic }, i) =>
        cache.set(signature, tactic, Math.min(...perRound.map(times => times[i])) / repeats)
      );
    } finally {
      timer.destroy();
    }
  }
  return candidates.map(({ tactic }) => ({
    tactic,
    ms: cache.get(signature, tactic)!,
    cached: !unknown.some(candidate => candidate.tactic === tactic)
  }));
}

/** The candidate that ran fastest; the first listed (the kernel's default) on a tie. */
export function fastestTactic(timings: readonly TacticTiming[]): TacticTiming {
  if (timings.length === 0) {
    throw new Error('no tactics to choose from');
  }
  return timings.reduce((best, timing) => (timing.ms < best.ms ? timing : best));
}

/**
 * Runs every candidate `repeats` times, each in a compute pass of its own, and returns their
 * times in order when `timer` is given.
 */
async function runRound(
  device: GPUDevice,
  timer: GpuTimer | undefined,
  candidates: readonly TacticCandidate[],
  repeats: number
): Promise<number[]> {
  const encodeCandidate = (encoder: GPUCommandEncoder, { tactic, dispatches }: TacticCandidate) => {
    const pass = encoder.beginComputePass({
      label: 'tactic timing',
      timestampWrites: timer?.timestampWrites(tactic)
    });
    for (let run = 0; run < repeats; run++) {
      dispatches.forEach(dispatch => encodeDispatch(pass, dispatch));
    }
    pass.end();
  };
  if (!timer || timer.clock === 'timestamp-query') {
    const encoder = device.createCommandEncoder({ label: 'tactic timing' });
    candidates.forEach(candidate => encodeCandidate(encoder, candidate));
    timer?.resolve(encoder);
    device.queue.submit([encoder.finish()]);
    if (!timer) {
      await device.queue.onSubmittedWorkDone();
      return [];
    }
    return (await timer.read()).map(timing => timing.durationMs);
  }
  const times: number[] = [];
  for (const candidate of candidates) {
    const encoder = device.createCommandEncoder({ label: 'tactic timing' });
    encodeCandidate(encoder, candidate);
    const started = performance.now();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    times.push(performance.now() - started);
  }
  return times;
}
