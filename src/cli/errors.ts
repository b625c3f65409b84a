/** A mistake in how a command was called (unknown flag, missing argument): exit code 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    /** The command whose --help to point at, if any. */
    readonly command?: string
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/**
 * The one line printed for an error. Engine and Dawn messages may span lines (WGSL
 * diagnostics, "While ..." context); they are joined so that stderr stays one line.
 */
export function errorLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const oneLine = message
    .split('\n')
    .map(line => line.trim())
    .filter(line => line)
    .join(' ');
  return `webtrt: error: ${oneLine || 'unknown error'}`;
}

/**
 * An error message from the file system, without Node's code and syscall prefix
 * ("ENOENT: no such file or directory, open 'x'" becomes "no such file or directory").
 */
export function describeFileError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EISDIR':
      return 'is a directory';
    case 'EEXIST':
      return 'a file of that name exists';
    case 'ENOTDIR':
      return 'a parent of it is not a directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    default:
      return error instanceof Error ? error.message : String(error);
  }
}
