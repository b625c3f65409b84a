/** Runs one node test on one backend and classifies the result. */
import { performance } from 'node:perf_hooks';
import { Runner } from '../backends';
import { NativeRunResult, NodePlacement, UnsupportedOpError } from '../engine';
import { LoadedCase } from './cases';
import { compareTensors, Tolerance } from './compare';

/**
 * pass: every output matched. fail: an output differed, or running threw. unsupported:
 * the engine declined (an op, attribute or type it does not implement). cpu-fallback
 * (webgpu only): the outputs matched but some node ran on the CPU reference ops, so
 * the test says nothing about the WebGPU kernels.
 */
export type Status = 'pass' | 'fail' | 'unsupported' | 'cpu-fallback';

export const STATUSES: readonly Status[] = ['pass', 'fail', 'cpu-fallback', 'unsupported'];

export interface Outcome {
  status: Status;
  reason?: string;
  ms: number;
}

/** A failure to import the model or decode its data, as the outcome on every backend. */
export function loadFailure(error: unknown): Outcome {
  return { ...classifyError(error), ms: 0 };
}

export async function runOnBackend(
  loaded: LoadedCase,
  runner: Runner,
  tolerance: Tolerance
): Promise<Outcome> {
  const start = performance.now();
  const outcome = await classifyRun(loaded, runner, tolerance);
  return { ...outcome, ms: performance.now() - start };
}

async function classifyRun(
  { graph, dataSets }: LoadedCase,
  runner: Runner,
  tolerance: Tolerance
): Promise<Omit<Outcome, 'ms'>> {
  const fallbacks: NodePlacement[] = [];
  for (const dataSet of dataSets) {
    let result: NativeRunResult;
    try {
      result = await runner.run(graph, dataSet.feeds);
    } catch (error) {
      return classifyError(error);
    }
    if (runner.backend === 'webgpu') {
      fallbacks.push(...result.placements.filter(p => p.device === 'cpu'));
    }
    for (const [name, expected] of Object.entries(dataSet.expected)) {
      const actual = result.outputs[name];
      const reason = actual
        ? compareTensors(name, actual, expected, tolerance)
        : `output '${name}' was not produced`;
      if (reason) {
        return {
          status: 'fail',
          reason: dataSets.length > 1 ? `${dataSet.name}: ${reason}` : reason
        };
      }
    }
  }
  if (fallbacks.length) {
    return { status: 'cpu-fallback', reason: fallbackReason(fallbacks) };
  }
  return { status: 'pass' };
}

/** "Cast ran on the CPU: no WebGPU kernel", one clause per distinct op and reason. */
function fallbackReason(fallbacks: readonly NodePlacement[]): string {
  const clauses = new Set(
    fallbacks.map(p => `${p.opType} ran on the CPU: ${p.reason ?? 'no reason given'}`)
  );
  return [...clauses].join('; ');
}

function classifyError(error: unknown): Omit<Outcome, 'ms'> {
  const message = error instanceof Error ? error.message : String(error);
  return {
    status: isUnsupported(error) ? 'unsupported' : 'fail',
    reason: message.replace(/\s*\n\s*/g, ' ')
  };
}

/**
 * The engine declines what it does not implement with UnsupportedOpError (ops, op
 * variants) or, in the importer, with a message saying "... is not supported" (strings,
 * sequences, bfloat16 and other types it does not carry).
 */
function isUnsupported(error: unknown): boolean {
  return (
    error instanceof UnsupportedOpError ||
    /\bnot supported\b/.test(String((error as Error)?.message))
  );
}
