import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { type Report, reportMimeType } from '../../src/engine';
import type { IMagicContext, IMimeBundle, IProgressUpdate } from '../../src/lab/magics/context';
import { errorOutput, MagicError, runMagic } from '../../src/lab/magics/index';
import { WebtrtSession } from '../../src/lab/session';
import type { IWebtrtSettings } from '../../src/lab/settings';
import { testDevice } from './gpu';
import { MemoryFiles } from './memory-files';

/** The notebook's session of engines, on the test process's device. */
export function testSession(settings: IWebtrtSettings = DEFAULT_SETTINGS): WebtrtSession {
  return new WebtrtSession(settings, () => testDevice());
}

/** The settings as a user who changed none has them: the defaults of schema/plugin.json. */
export const DEFAULT_SETTINGS = Object.fromEntries(
  Object.entries(
    (
      JSON.parse(readFileSync('schema/plugin.json', 'utf8')) as {
        properties: Record<string, { default: unknown }>;
      }
    ).properties
  ).map(([name, property]) => [name, property.default])
) as unknown as IWebtrtSettings;

/** A IMagicContext in memory that records what the command showed. */
export interface TestContext extends IMagicContext {
  files: MemoryFiles;
  session: WebtrtSession;
  progressUpdates: IProgressUpdate[];
  outputs: IMimeBundle[];
}

export function testContext(
  options: {
    files?: MemoryFiles;
    session?: WebtrtSession;
    signal?: AbortSignal;
    settings?: Partial<IWebtrtSettings>;
    onProgress?: (update: IProgressUpdate) => void;
  } = {}
): TestContext {
  const progressUpdates: IProgressUpdate[] = [];
  const outputs: IMimeBundle[] = [];
  return {
    files: options.files ?? new MemoryFiles(),
    session: options.session ?? testSession(),
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

/** The one report a command displayed, checked to come with its text form. */
export function displayedReport<R extends Report>(
  outputs: readonly IMimeBundle[],
  kind: R['kind']
): R {
  assert.equal(outputs.length, 1, 'one output');
  const [bundle] = outputs;
  const report = bundle[reportMimeType(kind)] as R;
  assert.ok(report, `a ${reportMimeType(kind)} output, got ${Object.keys(bundle).join(', ')}`);
  assert.equal(report.kind, kind);
  assert.equal(typeof bundle['text/plain'], 'string');
  return report;
}

/** Runs a cell that must fail with a MagicError, shown without a stack; returns its message. */
export async function magicError(source: string, context: IMagicContext): Promise<string> {
  const error = await runMagic(source, context).then(
    () => assert.fail(`${source} succeeded`),
    (caught: unknown) => caught
  );
  assert.ok(error instanceof MagicError, `${source}: ${String(error)}`);
  assert.equal(errorOutput(error).ename, 'MagicError');
  return error.message;
}
