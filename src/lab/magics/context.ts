/**
 * What a `%trt` command is given to do its work: files relative to the notebook, the session's
 * GPU device and engines, the user's settings, a way to show progress and outputs, and the
 * signal of JupyterLab's interrupt button. The notebook's cell executor implements it on top of
 * JupyterLab's contents manager and output area; tests implement it in memory. Nothing here
 * depends on JupyterLab, so the commands run in Node as well as in the browser.
 */
import type {
  ConversionReport,
  ConvertedModel,
  Engine,
  EngineReport,
  ProfileReport
} from '../../engine';
import type { IWebtrtSettings } from '../settings';

/** One entry of a listed directory. */
export interface IDirectoryEntry {
  name: string;
  /** The directory's path as it was given, joined with the name: what `read` takes. */
  path: string;
  isDirectory: boolean;
}

/** Files as the notebook sees them: paths relative to the notebook's directory. */
export interface IMagicFiles {
  /** Rejects with a MagicError naming the path when there is no such file. */
  read(path: string): Promise<Uint8Array>;
  /** Writes the whole file at once (a partly written file is never left behind). */
  write(path: string, data: Uint8Array | string): Promise<void>;
  exists(path: string): Promise<boolean>;
  /**
   * The files and folders in a folder, in no set order; rejects with a MagicError naming the
   * path when it does not exist or is a file.
   */
  list(directory: string): Promise<IDirectoryEntry[]>;
}

/** A Jupyter MIME bundle: each value is a string, or a JSON object for `+json` types. */
export interface IMimeBundle {
  [mimeType: string]: string | object;
}

/** Transient progress of long work, shown in the cell while it runs and replaced by its outputs. */
export interface IProgressUpdate {
  /** What is being done ("Building small_cnn.onnx"). */
  title: string;
  done: number;
  total: number;
  /** The current step ("layer 12 of 33: Conv_4"). */
  detail?: string;
}

/** An engine built or loaded in this browser session, as the sidebar lists it. */
export interface ISessionEngine {
  /** The plan path, or for an engine built from a model and not saved, the model path. */
  name: string;
  engine: Engine;
  report: EngineReport;
  /** Its latest profile, once `%trt profile` ran it. */
  profile?: ProfileReport;
}

/**
 * A converted model (TF-TRT's converted graph: engine segments and CPU fallback) built or
 * loaded in this browser session, as the sidebar lists it.
 */
export interface ISessionConverted {
  /** The plan path. */
  name: string;
  converted: ConvertedModel;
  /** Its summary, with its engine caches as they were after its latest build or run. */
  report: ConversionReport;
}

/** What a plan holds once loaded: one engine, or a converted model. */
export type ISessionModel = ISessionEngine | ISessionConverted;

export function isConverted(entry: ISessionModel): entry is ISessionConverted {
  return 'converted' in entry;
}

/** The engines and converted models of this browser session (the sidebar shows them). */
export interface IEngineSession {
  /** The GPU device every engine of the session is built on; requested on first use. */
  device(): Promise<GPUDevice>;
  /**
   * Adds or replaces (by name) an engine or a converted model; the session destroys the one
   * it replaces. Adding the same one again with a new report updates it.
   */
  add(entry: ISessionModel): void;
  /** The engine or converted model of that name. */
  find(name: string): ISessionModel | undefined;
  findEngine(name: string): ISessionEngine | undefined;
  setProfile(name: string, profile: ProfileReport): void;
}

export interface IMagicContext {
  files: IMagicFiles;
  session: IEngineSession;
  settings: IWebtrtSettings;
  /** Aborted by the interrupt button: long work stops and rejects with the signal's reason. */
  signal: AbortSignal;
  progress(update: IProgressUpdate): void;
  /** Appends an output to the cell (and clears any progress). */
  display(bundle: IMimeBundle): void;
}
