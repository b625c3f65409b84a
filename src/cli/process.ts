/** The command line as a process: exit codes, and every failure as one line on stderr. */
import { errorLine, EXIT_FAILURE, EXIT_USAGE, UsageError } from './errors';

/**
 * Runs `argv` (a command and its flags) and sets the exit code. The commands, and the
 * engine under them, load only once the handlers are in place, so that even an error
 * while loading them, or one thrown outside the command's promise chain, is one line.
 */
export function runAsProcess(argv: readonly string[]): void {
  const fail = (error: unknown) => {
    process.exitCode = report(error);
  };
  const failAndExit = (error: unknown) => {
    fail(error);
    process.exit();
  };
  process.on('uncaughtException', failAndExit);
  process.on('unhandledRejection', failAndExit);
  import('./cli').then(cli => cli.dispatch(argv)).catch(fail);
}

/** Prints the error line (and the stack with WEBTRT_DEBUG set); returns the exit code. */
function report(error: unknown): number {
  if (process.env.WEBTRT_DEBUG) {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  }
  if (error instanceof UsageError) {
    const help = error.command ? `webtrt ${error.command} --help` : 'webtrt --help';
    process.stderr.write(`${errorLine(error)} (see '${help}')\n`);
    return EXIT_USAGE;
  }
  process.stderr.write(`${errorLine(error)}\n`);
  return EXIT_FAILURE;
}
