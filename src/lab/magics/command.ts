import type { IMagicContext } from './context';
import type { OptionSpecs, OptionValues } from './options';

/** A positional argument: the model a command works on. */
export interface IOperand {
  /** Its key in a `%%trt` cell's YAML body ('model'). */
  name: string;
  /** How usage shows it: 'model.onnx', 'model.wtrt|model.onnx'. */
  placeholder: string;
}

/** What a command is called with, checked against its operands and options. */
export interface ICommandCall<S extends OptionSpecs> {
  /** One per declared operand, in order. */
  operands: string[];
  options: OptionValues<S>;
}

/** One `%trt <name>` command. `-h` / `--help` is every command's and prints its help. */
export interface IMagicCommand<S extends OptionSpecs = OptionSpecs> {
  name: string;
  /** One line, for the list of commands. */
  summary: string;
  /** What it does, in a few lines of its help. */
  description: string;
  operands: IOperand[];
  options: S;
  /** A `%%trt` cell that calls it with YAML options, shown in its help. */
  cellExample?: string;
  /** Does the work; a mistake of the user is a MagicError, an interrupt rejects with the abort. */
  run(call: ICommandCall<S>, context: IMagicContext): Promise<void>;
}

/**
 * A command whose `run` sees its options typed by their specs (`options.iterations` is a
 * number); the registry holds commands of different specs as plain IMagicCommands.
 */
export function defineCommand<S extends OptionSpecs>(command: IMagicCommand<S>): IMagicCommand {
  return command;
}
