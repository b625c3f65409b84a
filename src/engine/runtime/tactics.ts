/**
 * Tactic selection while an engine records its layers: a layer whose kernel lists several
 * tactics is recorded with each, the candidates are timed on the device (builder/tuner.ts),
 * and the fastest recording is kept; the others' buffers are released. A plan's engine
 * reuses the tactics it was built with.
 */
import { BuilderConfig } from '../builder/config';
import {
  fastestTactic,
  TacticTiming,
  TimingCache,
  timeTactics,
  TuningOptions
} from '../builder/tuner';
import { Dispatch, GpuTensor } from '../kernels/context';
import { OpError } from '../ops/types';
import { bindDispatch, BoundDispatch, PipelineCache } from './native';
import { PreparedNode } from './prepare';

/** trtexec's default --builderOptimizationLevel. */
export const DEFAULT_OPTIMIZATION_LEVEL = 3;

/** One recording of a layer with one tactic. */
export interface LayerRecording {
  dispatches: Dispatch[];
  /** Buffers the recording keeps (kernel-internal tables). */
  scratch: GPUBuffer[];
}

export interface ChosenTactic {
  tactic?: string;
  tacticTimings?: TacticTiming[];
}

/** The recording kept for a layer, bound, with how its tactic was chosen. */
export interface ChosenRecording extends LayerRecording {
  bound: BoundDispatch[];
  tuning: ChosenTactic;
}

/**
 * How the builder picks each layer's tactic: the ones a plan recorded, else by timing the
 * candidates (optimization level 1 and up) with the timing cache, else the kernel's default.
 */
export interface TacticSelection {
  /** By layer name: the tactic a plan was built with, and the timings that chose it. */
  recorded?: ReadonlyMap<string, ChosenTactic>;
  timingCache?: TimingCache;
}

/** More timing at higher optimization levels: steadier choices, longer builds. */
function effortAt(level: number): TuningOptions {
  return level >= 4
    ? { repeats: 10, rounds: 3 }
    : level >= 2
      ? { repeats: 5, rounds: 2 }
      : { repeats: 2, rounds: 1 };
}

export class LayerTuner {
  private readonly level: number;
  private readonly cache: TimingCache;

  constructor(
    private readonly device: GPUDevice,
    private readonly pipelines: PipelineCache,
    config: BuilderConfig,
    private readonly selection: TacticSelection
  ) {
    this.level = config.optimizationLevel ?? DEFAULT_OPTIMIZATION_LEVEL;
    this.cache = selection.timingCache ?? new TimingCache();
  }

  /**
   * Records `step` with the tactic the plan names, the kernel's only or default one, or the
   * fastest of its candidates; `inputs` are the layer's GPU inputs, for the kernel to size
   * its candidates by.
   */
  async record(
    step: PreparedNode,
    inputs: (GpuTensor | undefined)[],
    recordWith: (tactic: string | undefined) => LayerRecording
  ): Promise<ChosenRecording> {
    const tacticsAt = (level?: number) =>
      step.op.webgpu!.tactics?.(inputs, step.attrs, this.device.limits, this.device, level) ?? [];
    const recorded = this.selection.recorded?.get(step.node.name);
    const planned = recorded?.tactic;
    if (planned !== undefined && !tacticsAt().includes(planned)) {
      throw new OpError(
        step.node,
        `the plan runs it with tactic '${planned}', which its kernel no longer offers (${tacticsAt().join(', ') || 'none'}): rebuild the engine`
      );
    }
    const offered = tacticsAt(this.level);
    if (recorded) {
      return { ...this.bind(recordWith(planned)), tuning: recorded };
    }
    if (offered.length < 2 || this.level === 0) {
      const tactic = offered[0];
      return { ...this.bind(recordWith(tactic)), tuning: tactic ? { tactic } : {} };
    }
    const signature = layerSignature(step, inputs);
    const known = cachedTimings(this.cache, signature, offered);
    if (known) {
      // A layer timed before (an equal one of this build, or the loaded timing cache's):
      // only its fastest tactic is compiled.
      const { tactic } = fastestTactic(known);
      return { ...this.bind(recordWith(tactic)), tuning: { tactic, tacticTimings: known } };
    }
    const candidates = offered.map(tactic => ({ tactic, ...this.bind(recordWith(tactic)) }));
    const timings = await timeTactics(
      this.device,
      signature,
      candidates.map(({ tactic, bound }) => ({ tactic, dispatches: bound })),
      this.cache,
      effortAt(this.level)
    );
    const best = fastestTactic(timings);
    for (const candidate of candidates) {
      if (candidate.tactic !== best.tactic) {
        candidate.scratch.forEach(buffer => buffer.destroy());
      }
    }
    const chosen = candidates.find(candidate => candidate.tactic === best.tactic)!;
    return { ...chosen, tuning: { tactic: best.tactic, tacticTimings: timings } };
  }

  private bind(recording: LayerRecording): LayerRecording & { bound: BoundDispatch[] } {
    const bound = recording.dispatches.map(d => bindDispatch(this.device, this.pipelines, d));
    return { ...recording, bound };
  }
}

/** Every tactic's timing from `cache`, or undefined when one has none. */
function cachedTimings(
  cache: TimingCache,
  signature: string,
  tactics: readonly string[]
): TacticTiming[] | undefined {
  const timings = tactics.map(tactic => ({
    tactic,
    ms: cache.get(signature, tactic),
    cached: true
  }));
  return timings.every((timing): timing is TacticTiming => timing.ms !== undefined)
    ? timings
    : undefined;
}

/**
 * What makes two layers time alike: op, the attributes its speed depends on, and input
 * types, storage and shapes.
 */
function layerSignature(step: PreparedNode, inputs: readonly (GpuTensor | undefined)[]): string {
  const described = inputs.map(t => (t ? `${t.storage ?? t.dtype}[${t.shape.join(',')}]` : '-'));
  const attrs = step.op.webgpu?.timedAttributes?.(step.attrs) ?? step.attrs;
  return `${step.node.domain}::${step.node.opType} ${JSON.stringify(attrs)} (${described.join(' ')})`;
}
