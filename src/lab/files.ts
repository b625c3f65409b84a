import { PathExt } from '@jupyterlab/coreutils';
import { Contents, ServerConnection } from '@jupyterlab/services';

import { MagicError } from './magics/errors';
import type { IDirectoryEntry, IMagicFiles } from './magics/context';

/**
 * Files of a notebook's directory through JupyterLab's contents manager: what `%trt` commands
 * read and write lands where the notebook's kernel (and the file browser) sees it.
 * Binary files travel base64-encoded, as the contents REST API carries them; the server
 * writes each file atomically, so an interrupted command leaves no half-written file.
 */
export class ContentsFiles implements IMagicFiles {
  constructor(
    private readonly contents: Contents.IManager,
    /** The notebook's directory, relative to the server's root ('' for the root). */
    private readonly directory: string
  ) {}

  async read(path: string): Promise<Uint8Array> {
    const resolved = this.resolve(path);
    let model: Contents.IModel;
    try {
      model = await this.contents.get(resolved, { type: 'file', format: 'base64', content: true });
    } catch (error) {
      throw fileError(path, readFailure(error));
    }
    if (model.type === 'directory') {
      throw fileError(path, 'is a directory, not a file');
    }
    return fromBase64(String(model.content));
  }

  async write(path: string, data: Uint8Array | string): Promise<void> {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    const resolved = this.resolve(path);
    try {
      await this.contents.save(resolved, {
        type: 'file',
        format: 'base64',
        content: toBase64(bytes)
      });
    } catch (error) {
      throw fileError(path, `could not be written: ${(error as Error).message}`);
    }
  }

  async list(directory: string): Promise<IDirectoryEntry[]> {
    let model: Contents.IModel;
    try {
      model = await this.contents.get(this.resolve(directory), {
        type: 'directory',
        content: true
      });
    } catch (error) {
      // The server answers 400 "… is not a directory" for a file.
      const notFolder = isStatus(error, 400) && (await this.exists(directory));
      throw fileError(directory, notFolder ? 'is a file, not a folder' : readFailure(error));
    }
    return (model.content as Contents.IModel[]).map(entry => ({
      name: entry.name,
      path: PathExt.join(directory, entry.name),
      isDirectory: entry.type === 'directory'
    }));
  }

  async exists(path: string): Promise<boolean> {
    try {
      await this.contents.get(this.resolve(path), { content: false });
      return true;
    } catch (error) {
      if (isNotFound(error)) {
        return false;
      }
      throw fileError(path, readFailure(error));
    }
  }

  /**
   * The path relative to the server's root. Paths are relative to the notebook; a leading
   * '/' means the server's root, as in the file browser.
   */
  private resolve(path: string): string {
    const joined = path.startsWith('/') ? path : PathExt.join(this.directory, path);
    const normalized = PathExt.normalize(joined);
    if (normalized === '..' || normalized.startsWith('../')) {
      throw fileError(path, "is outside the server's root directory");
    }
    return normalized;
  }
}

function fileError(path: string, reason: string): MagicError {
  return new MagicError(`'${path}' ${reason}`);
}

function isStatus(error: unknown, status: number): boolean {
  return error instanceof ServerConnection.ResponseError && error.response.status === status;
}

function isNotFound(error: unknown): boolean {
  return isStatus(error, 404);
}

function readFailure(error: unknown): string {
  return isNotFound(error) ? 'does not exist' : `could not be read: ${(error as Error).message}`;
}

// btoa and atob take one character per byte; chunks keep the argument lists of
// String.fromCharCode within what engines accept.
const CHUNK = 0x8000;

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += CHUNK) {
    binary += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  }
  return btoa(binary);
}

function fromBase64(base64: string): Uint8Array {
  const binary = atob(base64.replace(/\s/g, ''));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) {
    bytes[i] = binary.charCodeAt(i);
  }
  return bytes;
}
