/**
 * Errors of `%trt` commands and how a cell shows them. A MagicError is a mistake the user can
 * fix (a bad flag, a missing file, a model that does not build): the cell shows its message
 * and nothing else. An interrupt shows that the command stopped and wrote nothing. Anything
 * else is a fault of webtrt, shown with its stack so that it can be reported.
 */

export interface IMagicErrorOptions {
  /** The usage line of the command that was called wrong, shown under the message. */
  usage?: string;
  /** The error this one explains (an engine error, a YAML parse error). */
  cause?: unknown;
}

/** A mistake in a `%trt` cell or in what it names; the message says what and where. */
export class MagicError extends Error {
  readonly usage: string | undefined;

  constructor(message: string, options: IMagicErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MagicError';
    this.usage = options.usage;
  }
}

/** A Jupyter error output (nbformat's `error` output type, less `output_type`). */
export interface IErrorOutput {
  ename: string;
  evalue: string;
  traceback: string[];
}

/** IPython colours the error name of a traceback red; JupyterLab renders the ANSI codes. */
const RED = '\u001b[0;31m';
const RESET = '\u001b[0m';

/** What an interrupted command reports: IPython's name for an interrupt. */
const INTERRUPTED: IErrorOutput = {
  ename: 'KeyboardInterrupt',
  evalue: 'Interrupted: the command was stopped before it finished, and it wrote no files',
  traceback: []
};

/** The error output a failed `%trt` cell shows for `error`. */
export function errorOutput(error: unknown): IErrorOutput {
  if (isAbort(error)) {
    return { ...INTERRUPTED, traceback: [headline(INTERRUPTED.ename, INTERRUPTED.evalue)] };
  }
  if (error instanceof MagicError) {
    const usage = error.usage ? ['', error.usage] : [];
    return {
      ename: error.name,
      evalue: error.message,
      traceback: [headline(error.name, error.message), ...usage]
    };
  }
  if (error instanceof Error) {
    const stack = (error.stack ?? '').split('\n').filter(line => /^\s+at /.test(line));
    return {
      ename: error.name,
      evalue: error.message,
      traceback: [headline(error.name, error.message), ...stack]
    };
  }
  const evalue = String(error);
  return { ename: 'Error', evalue, traceback: [headline('Error', evalue)] };
}

/** Whether `error` is an abort: the reason an aborted AbortSignal rejects with. */
export function isAbort(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { name?: unknown }).name === 'AbortError'
  );
}

function headline(ename: string, evalue: string): string {
  return `${RED}${ename}${RESET}: ${evalue}`;
}
