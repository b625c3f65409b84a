/**
 * Reading a `%trt` cell: `%trt <command> [arguments]` on one line, or `%%trt <command>
 * [arguments]` with the command's options as YAML in the cell body. The line is split as a
 * shell splits it (quotes keep spaces in paths); flags are `--name value`, `--name=value` or a
 * short alias (`-o value`); list and map options may be repeated (`--input a=a.npy --input
 * b=b.npy`). Body keys are the options' long names, and `model` for the model path. An option
 * given both on the line and in the body is an error rather than one silently winning: the
 * cell says one thing or the other.
 */
import { parse as parseYaml, YAMLParseError } from 'yaml';

import type { ICommandCall, IMagicCommand } from './command';
import { MAGIC_COMMANDS } from './commands/index';
import { MagicError } from './errors';
import { IOption, OptionSpecs, text } from './options';
import { usageLine } from './usage';

export type MagicName = '%trt' | '%%trt';

/** `%trt help [command]`, `%trt <command> --help`, or `%trt` alone (the list of commands). */
export interface IHelpRequest {
  kind: 'help';
  magic: MagicName;
  /** The command to show the help of; the list of commands when absent. */
  command?: IMagicCommand;
}

export interface ICommandInvocation {
  kind: 'command';
  magic: MagicName;
  command: IMagicCommand;
  call: ICommandCall<OptionSpecs>;
}

export type MagicInvocation = IHelpRequest | ICommandInvocation;

/** `%trt` or `%%trt` at the start of a line, as a word of its own. */
const MAGIC = /^\s*(%%?trt)(?=\s|$)/;

const HELP_FLAGS = ['-h', '--help'];

/** Whether the cell's first non-blank line starts with `%trt` or `%%trt`. */
export function isTrtMagic(source: string): boolean {
  const first = source.split('\n').find(line => line.trim() !== '');
  return first !== undefined && MAGIC.test(first);
}

/**
 * The command a `%trt` / `%%trt` cell calls, with its arguments and options checked; a
 * mistake is a MagicError naming the flag, key or line, with the command's usage line when
 * the command is known.
 */
export function parseMagic(source: string): MagicInvocation {
  const lines = source.split(/\r?\n/);
  const start = lines.findIndex(line => line.trim() !== '');
  const match = start >= 0 ? MAGIC.exec(lines[start]) : null;
  if (!match) {
    throw new MagicError('not a %trt cell: its first line must start with %trt or %%trt');
  }
  const magic = match[1] as MagicName;
  const [name, ...args] = tokenize(lines[start].slice(match[0].length));
  const rest = lines.slice(start + 1);
  let body: Record<string, unknown> = {};
  if (magic === '%trt') {
    const extra = rest.findIndex(line => line.trim() !== '');
    if (extra >= 0) {
      throw new MagicError(
        `%trt is a line magic: the cell must hold that one line, but line ${start + extra + 2} ` +
          'holds more. Use %%trt to give options as YAML in the cell body, or move the rest ' +
          'to a cell of its own'
      );
    }
  } else {
    body = parseBody(rest.join('\n'), start + 2);
  }

  if (name === undefined || HELP_FLAGS.includes(name)) {
    return { kind: 'help', magic };
  }
  if (name === 'help') {
    if (args.length > 1) {
      throw new MagicError(`%trt help takes one command, got ${args.map(a => `'${a}'`).join(' ')}`);
    }
    return { kind: 'help', magic, ...(args.length === 1 && { command: findCommand(args[0]) }) };
  }
  const command = findCommand(name);
  if (args.some(arg => HELP_FLAGS.includes(arg))) {
    return { kind: 'help', magic, command };
  }
  try {
    return { kind: 'command', magic, command, call: parseCall(command, args, body) };
  } catch (error) {
    if (error instanceof MagicError && error.usage === undefined) {
      throw new MagicError(error.message, { usage: usageLine(command), cause: error.cause });
    }
    throw error;
  }
}

/**
 * Splits the magic line as a shell does: whitespace separates words; single quotes keep
 * everything inside; double quotes keep everything but `\"` and `\\`, which stand for `"` and
 * `\`; outside quotes a backslash keeps the next character (`my\ model.onnx`).
 */
export function tokenize(line: string): string[] {
  const tokens: string[] = [];
  let token = '';
  let inToken = false;
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const char = line[i];
    if (quote) {
      if (char === quote) {
        quote = undefined;
      } else if (char === '\\' && quote === '"' && (line[i + 1] === '"' || line[i + 1] === '\\')) {
        token += line[++i];
      } else {
        token += char;
      }
    } else if (char === '"' || char === "'") {
      quote = char;
      inToken = true;
    } else if (char === '\\' && i + 1 < line.length) {
      token += line[++i];
      inToken = true;
    } else if (/\s/.test(char)) {
      if (inToken) {
        tokens.push(token);
        token = '';
        inToken = false;
      }
    } else {
      token += char;
      inToken = true;
    }
  }
  if (quote) {
    throw new MagicError(`the %trt line has an unclosed ${quote} quote`);
  }
  if (inToken) {
    tokens.push(token);
  }
  return tokens;
}

/** The YAML body of a `%%trt` cell as a mapping; `firstLine` is its line in the cell. */
function parseBody(yaml: string, firstLine: number): Record<string, unknown> {
  let value: unknown;
  try {
    value = parseYaml(yaml);
  } catch (error) {
    if (error instanceof YAMLParseError) {
      const reason = error.message.split(' at line ')[0];
      const position = error.linePos?.[0];
      const where = position
        ? ` (line ${firstLine + position.line - 1} of the cell, column ${position.col})`
        : '';
      throw new MagicError(`the %%trt cell body is not valid YAML: ${reason}${where}`, {
        cause: error
      });
    }
    throw error;
  }
  if (value === null || value === undefined) {
    return {};
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new MagicError(
      "the %%trt cell body holds the command's options as YAML 'name: value' lines, got " +
        (Array.isArray(value) ? 'a list' : `'${String(value)}'`)
    );
  }
  return value as Record<string, unknown>;
}

function findCommand(name: string): IMagicCommand {
  const command = MAGIC_COMMANDS.find(c => c.name === name);
  if (!command) {
    const names = MAGIC_COMMANDS.map(c => c.name);
    const near = closest(name, names);
    throw new MagicError(
      `unknown command '${name}'${near ? ` (did you mean '${near}'?)` : ''}: the commands are ` +
        `${names.join(', ')} (%trt help describes them)`
    );
  }
  return command;
}

/** The line's flags and operands and the body's keys, checked against the command. */
function parseCall(
  command: IMagicCommand,
  args: readonly string[],
  body: Record<string, unknown>
): ICommandCall<OptionSpecs> {
  const options = new Map<string, unknown>();
  const operands: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--') {
      operands.push(...args.slice(i + 1));
      break;
    }
    if (!isFlag(arg)) {
      operands.push(arg);
      continue;
    }
    const equals = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const spelled = equals >= 0 ? arg.slice(0, equals) : arg;
    const [name, option] = findOption(command, spelled);
    let given = equals >= 0 ? arg.slice(equals + 1) : undefined;
    if (given === undefined) {
      given = args[i + 1];
      if (given === undefined || isFlag(given)) {
        const example = option.placeholder ? ` (${spelled} ${option.placeholder})` : '';
        throw new MagicError(`${spelled} needs a value${example}`);
      }
      i++;
    }
    const value = option.kind.fromText(given, spelled);
    const earlier = options.get(name);
    if (earlier === undefined) {
      options.set(name, value);
    } else if (option.kind.combine) {
      options.set(name, option.kind.combine(earlier, value, spelled));
    } else {
      throw new MagicError(`${spelled} is given twice`);
    }
  }

  const fromBody = new Map<number, string>();
  for (const [key, value] of Object.entries(body)) {
    const where = `'${key}' in the cell body`;
    const operand = command.operands.findIndex(o => o.name === key);
    if (operand >= 0) {
      if (operand < operands.length) {
        throw new MagicError(
          `the ${key} is given twice, as '${operands[operand]}' on the %%trt line and as ${where}`
        );
      }
      fromBody.set(operand, text.fromYaml(value, where));
      continue;
    }
    const option = Object.hasOwn(command.options, key) ? command.options[key] : undefined;
    if (!option) {
      throw new MagicError(`unknown option ${where}${suggestion(command, key, 'key')}`);
    }
    if (options.has(key)) {
      throw new MagicError(`--${key} is given on the %%trt line and as ${where}: give it once`);
    }
    options.set(key, option.kind.fromYaml(value, where));
  }
  for (let index = operands.length; fromBody.has(index); index++) {
    operands.push(fromBody.get(index)!);
  }

  if (operands.length > command.operands.length) {
    const extra = operands.slice(command.operands.length).map(o => `'${o}'`);
    throw new MagicError(`unexpected argument ${extra.join(' ')}`);
  }
  if (operands.length < command.operands.length) {
    const missing = command.operands[operands.length];
    throw new MagicError(
      `missing the ${missing.name}: %trt ${command.name} ${missing.placeholder}`
    );
  }
  return { operands, options: Object.fromEntries(options) };
}

/** A flag: `--name`, or `-x` for a one-letter alias (not a negative number). */
function isFlag(arg: string): boolean {
  return arg.startsWith('--') ? arg.length > 2 : /^-[A-Za-z]/.test(arg);
}

function findOption(command: IMagicCommand, spelled: string): [string, IOption<unknown>] {
  const entries = Object.entries(command.options);
  const found = spelled.startsWith('--')
    ? entries.find(([name]) => `--${name}` === spelled)
    : entries.find(([, option]) => `-${option.short}` === spelled);
  if (!found) {
    throw new MagicError(`unknown flag ${spelled}${suggestion(command, spelled, 'flag')}`);
  }
  return found;
}

/**
 * trtexec's flags that a trtexec user may reach for, and what `%trt` takes instead, by the
 * option that takes it.
 */
const TRTEXEC_FLAGS: Record<string, { option: string; instead: string }> = {
  fp16: { option: 'precision', instead: '--precision fp16' },
  int8: { option: 'precision', instead: '--precision int8' },
  best: { option: 'precision', instead: '--precision best' },
  saveEngine: { option: 'output', instead: '-o' },
  memPoolSize: { option: 'workspace', instead: '--workspace' },
  builderOptimizationLevel: { option: 'optimization-level', instead: '--optimization-level' },
  loadInputs: { option: 'input', instead: '--input' },
  exportProfile: { option: 'export-profile', instead: '--export-profile' }
};

/**
 * What the user may have meant by an unknown flag or key: a near spelling of one of the
 * command's options, what it takes for a trtexec flag, or the commands that have that option.
 */
function suggestion(command: IMagicCommand, spelled: string, as: 'flag' | 'key'): string {
  const name = spelled.replace(/^-+/, '');
  const spell = (option: string) => (as === 'flag' ? `--${option}` : `'${option}'`);
  const trtexec = TRTEXEC_FLAGS[name];
  if (trtexec && Object.hasOwn(command.options, trtexec.option)) {
    return ` (trtexec's --${name}: here it is ${trtexec.instead})`;
  }
  const near = closest(name, Object.keys(command.options));
  if (near) {
    return ` (did you mean ${spell(near)}?)`;
  }
  const others = MAGIC_COMMANDS.filter(c => Object.hasOwn(c.options, name)).map(c => c.name);
  if (others.length > 0) {
    const owners =
      others.length > 1
        ? `${others.slice(0, -1).join(', ')} and ${others.at(-1)} have`
        : `${others[0]} has`;
    return `: ${command.name} has no ${spell(name)}, ${owners} it`;
  }
  return ` (${command.name} --help lists its options)`;
}

/**
 * The candidate `word` most likely misspells: the same apart from case, '-' and '_'
 * (`minimum_segment_size`, `exportProfile`), else within two edits.
 */
function closest(word: string, candidates: readonly string[]): string | undefined {
  const plain = (spelling: string) => spelling.toLowerCase().replace(/[-_]/g, '');
  const same = candidates.find(candidate => plain(candidate) === plain(word));
  if (same) {
    return same;
  }
  const scored = candidates
    .map(candidate => ({ candidate, distance: editDistance(word, candidate) }))
    .filter(({ distance }) => distance <= 2)
    .sort((a, b) => a.distance - b.distance);
  return scored[0]?.candidate;
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j] + 1, current[j - 1] + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length];
}
