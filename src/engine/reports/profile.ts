import { Engine, EngineProfile } from '../runtime/engine';
import { describeAdapter } from '../runtime/fingerprint';
import { chromeTrace, ChromeTrace } from '../runtime/stats';
import type { ProfileReport } from './types';

/** How each clock times a layer, in the words reports print. */
export const PROFILE_CLOCKS: Record<ProfileReport['clock'], string> = {
  gpu: 'GPU timestamps around each layer’s compute pass',
  'wall-clock':
    "wall-clock (the device has no 'timestamp-query'): each layer submitted alone, timed until the queue finished it"
};

/**
 * An engine's per-layer profile (ExecutionContext.profile) with what the engine knows of each
 * layer: its precision, tactic and the ONNX nodes fused into it.
 */
export function profileReport(
  engine: Engine,
  profile: EngineProfile,
  source: string
): ProfileReport {
  const layers = new Map(engine.layers.map(layer => [layer.name, layer]));
  return {
    kind: 'profile',
    source,
    device: describeAdapter(engine.device.adapterInfo),
    clock: profile.clock,
    iterations: profile.layers[0]?.timesMs.length ?? 0,
    layers: profile.layers.map(({ name, opType, timesMs }) => {
      const layer = layers.get(name);
      if (!layer) {
        throw new Error(`profileReport: the engine has no layer '${name}' of this profile`);
      }
      return {
        name,
        opType,
        precision: layer.precision,
        ...(layer.tactic !== undefined && { tactic: layer.tactic }),
        fusedNodes: [...layer.fusedNodes],
        timesMs: [...timesMs]
      };
    })
  };
}

/** A profile as a Chrome trace, with each layer's average and how it was timed in its metadata. */
export interface ProfileTrace extends ChromeTrace {
  metadata: {
    clock: string;
    iterations: number;
    layout: string;
    layers: { name: string; opType: string; averageMs: number }[];
  };
}

/**
 * The last profiled iteration as a timeline (Perfetto, chrome://tracing). Only each layer's
 * duration is measured, not when it began, so each layer is drawn starting where the one
 * before it ended. The process is named `processName` (by default the report's source).
 */
export function profileTrace(report: ProfileReport, processName = report.source): ProfileTrace {
  const averages = report.layers.map(({ name, opType, timesMs }) => ({
    name,
    opType,
    averageMs: timesMs.reduce((total, t) => total + t, 0) / timesMs.length
  }));
  let endMs = 0;
  const events = report.layers.map(({ name, opType, precision, tactic, timesMs }, i) => {
    const durationMs = timesMs[timesMs.length - 1];
    const startMs = endMs;
    endMs += durationMs;
    return {
      name,
      category: 'layers',
      startMs,
      durationMs,
      args: {
        opType,
        precision,
        ...(tactic !== undefined && { tactic }),
        averageMs: averages[i].averageMs
      }
    };
  });
  return {
    ...chromeTrace(events, processName),
    metadata: {
      clock: PROFILE_CLOCKS[report.clock],
      iterations: report.iterations,
      layout:
        'the last iteration; only durations are measured, so each layer starts where the previous one ended',
      layers: averages
    }
  };
}
