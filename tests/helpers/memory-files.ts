import { IDirectoryEntry, IMagicFiles } from '../../src/lab/magics/context';
import { MagicError } from '../../src/lab/magics/errors';

/**
 * A notebook's directory in memory, for the `%trt` commands: files by path, and a log of
 * every write, so tests can tell what a command wrote and that a failed one wrote nothing.
 */
export class MemoryFiles implements IMagicFiles {
  readonly files = new Map<string, Uint8Array>();
  readonly writes: string[] = [];

  constructor(seed: Record<string, Uint8Array | string> = {}) {
    for (const [path, data] of Object.entries(seed)) {
      this.files.set(path, toBytes(data));
    }
  }

  async read(path: string): Promise<Uint8Array> {
    const data = this.files.get(path);
    if (!data) {
      // As the notebook's files (src/lab/files.ts) word it.
      throw new MagicError(`'${path}' does not exist`);
    }
    return data.slice();
  }

  async write(path: string, data: Uint8Array | string): Promise<void> {
    this.files.set(path, toBytes(data));
    this.writes.push(path);
  }

  async exists(path: string): Promise<boolean> {
    return this.files.has(path);
  }

  /** Folders exist as the paths of the files in them, as they do in a Git tree. */
  async list(directory: string): Promise<IDirectoryEntry[]> {
    const folder = directory.replace(/\/+$/, '');
    if (this.files.has(folder)) {
      throw new MagicError(`'${directory}' is a file, not a folder`);
    }
    const prefix = folder === '' || folder === '.' ? '' : `${folder}/`;
    const entries = new Map<string, IDirectoryEntry>();
    for (const path of this.files.keys()) {
      if (path.startsWith(prefix)) {
        const [name, ...deeper] = path.slice(prefix.length).split('/');
        entries.set(name, { name, path: `${prefix}${name}`, isDirectory: deeper.length > 0 });
      }
    }
    if (entries.size === 0 && prefix !== '') {
      throw new MagicError(`'${directory}' does not exist`);
    }
    return [...entries.values()];
  }

  text(path: string): string {
    const data = this.files.get(path);
    if (!data) {
      throw new Error(`no file '${path}' was written`);
    }
    return new TextDecoder().decode(data);
  }
}

function toBytes(data: Uint8Array | string): Uint8Array {
  return typeof data === 'string' ? new TextEncoder().encode(data) : data.slice();
}
