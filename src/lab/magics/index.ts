/**
 * The `%trt` and `%%trt` cell magics: parsing a cell, the commands, and the errors a cell
 * shows. Independent of JupyterLab: the notebook's cell executor gives a IMagicContext over
 * its contents manager and output area, tests give one in memory.
 */
import type { IMagicContext } from './context';
import { parseMagic } from './parse';
import { commandHelp, overviewHelp } from './usage';
import { MAGIC_COMMANDS } from './commands/index';

export type { IMagicCommand, ICommandCall, IOperand } from './command';
export { MAGIC_COMMANDS } from './commands/index';
export { errorOutput, isAbort, MagicError } from './errors';
export type { IErrorOutput } from './errors';
export { isTrtMagic, parseMagic, tokenize } from './parse';
export type { ICommandInvocation, IHelpRequest, MagicInvocation } from './parse';
export { commandHelp, overviewHelp, usageLine } from './usage';

/**
 * Runs a `%trt` / `%%trt` cell: shows the help asked for, or runs the command, which shows
 * its outputs through `context.display`. Rejects with a MagicError for a mistake of the user
 * (shown by errorOutput without a stack) and with the signal's reason when interrupted.
 */
export async function runMagic(source: string, context: IMagicContext): Promise<void> {
  const invocation = parseMagic(source);
  if (invocation.kind === 'help') {
    const text = invocation.command
      ? commandHelp(invocation.command)
      : overviewHelp(MAGIC_COMMANDS);
    context.display({ 'text/plain': text });
    return;
  }
  context.signal.throwIfAborted();
  await invocation.command.run(invocation.call, context);
}
