import { readFileSync } from 'node:fs';

import type { ProfileReport } from '../../src/engine';
import type {
  IEngineSession,
  IMagicContext,
  IMimeBundle,
  IProgressUpdate,
  ISessionEngine
} from '../../src/lab/magics/context';
import type { IWebtrtSettings } from '../../src/lab/settings';
import { testDevice } from './gpu';
import { MemoryFiles } from './memory-files';

/** The engines of a test, on the test process's device, as the notebook's session keeps them. */
export class TestSession implements IEngineSession {
  readonly engines = new Map<string, ISessionEngine>();

  device(): Promise<GPUDevice> {
    return testDevice();
  }

  addEngine(entry: ISessionEngine): void {
    const replaced = this.engines.get(entry.name);
    if (replaced && replaced.engine !== entry.engine) {
      replaced.engine.destroy();
    }
    this.engines.set(entry.name, entry);
  }

  findEngine(name: string): ISessionEngine | undefined {
    return this.engines.get(name);
  }

  setProfile(name: string, profile: ProfileReport): void {
    const entry = this.engines.get(name);
    if (entry) {
      entry.profile = profile;
    }
  }

  /** Destroys every engine; the device is the process's and stays. */
  dispose(): void {
    this.engines.forEach(({ engine }) => engine.destroy());
    this.engines.clear();
  }
}

/** The settings schema/plugin.json declares, with its defaults. */
export const DEFAULT_SETTINGS: IWebtrtSettings = {
  precision: 'fp32',
  workspaceMiB: 256,
  minimumSegmentSize: 3,
  maximumCachedEngines: 1,
  powerPreference: 'high-performance'
};

/** A IMagicContext in memory that records what the command showed. */
export interface TestContext extends IMagicContext {
  files: MemoryFiles;
  session: TestSession;
  progressUpdates: IProgressUpdate[];
  outputs: IMimeBundle[];
}

export function testContext(
  options: {
    files?: MemoryFiles;
    session?: TestSession;
    signal?: AbortSignal;
    settings?: Partial<IWebtrtSettings>;
    onProgress?: (update: IProgressUpdate) => void;
  } = {}
): TestContext {
  const progressUpdates: IProgressUpdate[] = [];
  const outputs: IMimeBundle[] = [];
  return {
    files: options.files ?? new MemoryFiles(),
    session: options.session ?? new TestSession(),
    settings: { ...DEFAULT_SETTINGS, ...options.settings },
    signal: options.signal ?? new AbortController().signal,
    progressUpdates,
    outputs,
    progress(update) {
      progressUpdates.push(update);
      options.onProgress?.(update);
    },
    display(bundle) {
      outputs.push(bundle);
    }
  };
}

/** examples/models/small_cnn.onnx: input [batch, 3, 32, 32] float32, logits [batch, 10]. */
export const SMALL_CNN = readFileSync('examples/models/small_cnn.onnx');
