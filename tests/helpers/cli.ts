/** The `webtrt` command run as a user runs it: a child process, by default on the sources through tsx. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `webtrt args` through `entry` (the sources through tsx, or a bundle). */
export function webtrt(args: string[], entry = ['--import', 'tsx', 'src/cli/main.ts']): CliResult {
  const env = { ...process.env };
  // Debug output would add stack traces to the single error line the tests look for.
  delete env.WEBTRT_DEBUG;
  const result = spawnSync(process.execPath, [...entry, ...args], { encoding: 'utf8', env });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs `webtrt args`, asserts it exits 0, and returns what it printed. */
export function succeeds(args: string[]): string {
  const result = webtrt(args);
  assert.equal(result.status, 0, `webtrt ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/** Exit code `status` and exactly one error line on stderr, matching `message`. */
export function failsWith(args: string[], status: number, message: RegExp): void {
  const result = webtrt(args);
  assert.equal(result.status, status, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
  const errors = result.stderr.split('\n').filter(line => line.startsWith('webtrt: error:'));
  assert.equal(errors.length, 1, result.stderr);
  assert.match(errors[0], message);
}
