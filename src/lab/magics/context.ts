/**
 * What a `%trt` command is given to do its work: files relative to the notebook, the session's
 * GPU device and engines, the user's settings, a way to show progress and outputs, and the
 * signal of JupyterLab's interrupt button. The notebook's cell executor implements it on top of
 * JupyterLab's contents manager and output area; tests implement it in memory. Nothing here
 * depends on JupyterLab, so the commands run in Node as well as in the browser.
 */
import type { Engine, EngineReport, ProfileReport } from '../../engine';
import type { IWebtrtSettings } from '../settings';

/** Files as the notebook sees them: paths relative to the notebook's directory. */
export interface MagicFiles {
  /** Rejects with a FileError naming the path when there is no such file. */
  read(path: string): Promise<Uint8Array>;
  /** Writes the whole file at once (a partly written file is never left behind). */
  write(path: string, data: Uint8Array | string): Promise<void>;
  exists(path: string): Promise<boolean>;
}

/** A Jupyter MIME bundle: each value is a string, or a JSON object for `+json` types. */
export interface MimeBundle {
  [mimeType: string]: string | object;
}

/** Transient progress of long work, shown in the cell while it runs and replaced by its outputs. */
export interface ProgressUpdate {
  /** What is being done ("Building small_cnn.onnx"). */
  title: string;
  done: number;
  total: number;
  /** The current step ("layer 12 of 33: Conv_4"). */
  detail?: string;
}

/** An engine built or loaded in this browser session, as the sidebar lists it. */
export interface SessionEngine {
  /** The plan path, or for an engine built from a model and not saved, the model path. */
  name: string;
  engine: Engine;
  report: EngineReport;
  /** Its latest profile, once `%trt profile` ran it. */
  profile?: ProfileReport;
}

/** The engines of this browser session (the sidebar shows them). */
export interface EngineSession {
  /** The GPU device every engine of the session is built on; requested on first use. */
  device(): Promise<GPUDevice>;
  /** Adds or replaces (by name) an engine; the session destroys the one it replaces. */
  addEngine(entry: SessionEngine): void;
  findEngine(name: string): SessionEngine | undefined;
  setProfile(name: string, profile: ProfileReport): void;
}

export interface MagicContext {
  files: MagicFiles;
  session: EngineSession;
  settings: IWebtrtSettings;
  /** Aborted by the interrupt button: long work stops and rejects with the signal's reason. */
  signal: AbortSignal;
  progress(update: ProgressUpdate): void;
  /** Appends an output to the cell (and clears any progress). */
  display(bundle: MimeBundle): void;
}
