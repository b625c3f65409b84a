import { OptionSpecs, ParsedArgs } from './args';

/** One `webtrt <name>` subcommand. `--help` is added to every command's options. */
export interface Command {
  name: string;
  /** One line for the list of commands. */
  summary: string;
  /** The text of `webtrt <name> --help`. */
  help: string;
  options: OptionSpecs;
  /** Prints its result to stdout; failures are thrown (see errors.ts). */
  run(args: ParsedArgs): Promise<void>;
}
