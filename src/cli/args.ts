/** Flag parsing for the commands, on node:util's parseArgs, with usage errors that read well. */
import { parseArgs, ParseArgsConfig } from 'node:util';
import { UsageError } from './errors';

export type OptionSpecs = NonNullable<ParseArgsConfig['options']>;

export interface ParsedArgs {
  command: string;
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

export function parseCommandArgs(
  command: string,
  argv: readonly string[],
  options: OptionSpecs
): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options,
      strict: true,
      allowPositionals: true
    });
    return { command, values, positionals };
  } catch (error) {
    throw new UsageError(parseErrorMessage(error as Error & { code?: string }), command);
  }
}

/** Node's parseArgs messages, shortened to what the user needs to read. */
function parseErrorMessage(error: Error & { code?: string }): string {
  const option = /'(-[^' ]+)/.exec(error.message)?.[1] ?? '';
  const message = error.message;
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    return `unknown option '${option}'`;
  }
  if (error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    if (message.includes('ambiguous')) {
      return `option '${option}' needs a value (write ${option}=-1 for one starting with '-')`;
    }
    if (message.includes('argument missing')) {
      return `option '${option}' needs a value`;
    }
    if (message.includes('does not take an argument')) {
      return `option '${option}' takes no value`;
    }
  }
  return message.split('\n')[0];
}

export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === 'string' ? value : undefined;
}

export function stringListFlag(args: ParsedArgs, name: string): string[] {
  const value = args.values[name];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

export function booleanFlag(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

export function integerFlag(args: ParsedArgs, name: string, min: number): number | undefined {
  const text = stringFlag(args, name);
  if (text === undefined) {
    return undefined;
  }
  const value = Number(text);
  if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(value) || value < min) {
    throw new UsageError(
      `--${name} must be an integer of at least ${min}, got '${text}'`,
      args.command
    );
  }
  return value;
}

export function numberFlag(
  args: ParsedArgs,
  name: string,
  range: [number, number]
): number | undefined {
  const text = stringFlag(args, name);
  if (text === undefined) {
    return undefined;
  }
  const value = Number(text);
  if (text.trim() === '' || !(value >= range[0] && value <= range[1])) {
    throw new UsageError(
      `--${name} must be a number from ${range[0]} to ${range[1]}, got '${text}'`,
      args.command
    );
  }
  return value;
}

export function choiceFlag<T extends string>(
  args: ParsedArgs,
  name: string,
  choices: readonly T[],
  fallback: T
): T {
  const text = stringFlag(args, name);
  if (text === undefined) {
    return fallback;
  }
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(
      `--${name} must be one of ${choices.join(', ')}, got '${text}'`,
      args.command
    );
  }
  return text as T;
}

/** The command's positional arguments, exactly as many as `names` (for the message). */
export function positionalArgs(args: ParsedArgs, names: readonly string[]): string[] {
  if (args.positionals.length < names.length) {
    throw new UsageError(`missing ${names.slice(args.positionals.length).join(' ')}`, args.command);
  }
  if (args.positionals.length > names.length) {
    const extra = args.positionals
      .slice(names.length)
      .map(p => `'${p}'`)
      .join(', ');
    throw new UsageError(`unexpected argument ${extra}`, args.command);
  }
  return args.positionals;
}
