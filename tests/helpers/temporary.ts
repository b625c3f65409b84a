import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';

/**
 * A directory of the calling test file's own, made before its tests (and before the hooks it
 * registers after this call) and removed after them; returns the path of a name in it.
 */
export function temporaryDirectory(prefix: string): (name: string) => string {
  let directory = '';
  before(() => {
    directory = mkdtempSync(join(tmpdir(), prefix));
  });
  after(() => rmSync(directory, { recursive: true, force: true }));
  return name => join(directory, name);
}
