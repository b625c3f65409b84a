/** The help texts of `%trt`: the usage line of a command, its help, and the list of commands. */
import type { IMagicCommand } from './command';
import type { IOption } from './options';

/** Help text wraps here, as a terminal-width usage text does. */
const WIDTH = 88;

/** "%trt convert model.onnx [-o model.wtrt] [--precision fp32|fp16|best] ..." */
export function usageLine(command: IMagicCommand): string {
  const options = Object.entries(command.options).map(
    ([name, option]) => `[${flagSpelling(option.short ? `-${option.short}` : `--${name}`, option)}]`
  );
  const words = [command.name, ...command.operands.map(o => o.placeholder), ...options];
  return `usage: %trt ${words.join(' ')}`;
}

/** What `%trt help <command>` and `%trt <command> --help` print. */
export function commandHelp(command: IMagicCommand): string {
  const rows: [string, string][] = [
    ...Object.entries(command.options).map(([name, option]): [string, string] => [
      `${option.short ? `-${option.short}, ` : ''}${flagSpelling(`--${name}`, option)}`,
      option.help
    ]),
    ['-h, --help', 'show this help']
  ];
  const sections = [
    wrap(usageLine(command), '        '),
    wrap(command.description),
    ['Options:', ...table(rows)].join('\n')
  ];
  if (command.cellExample) {
    sections.push(
      wrap(
        'In a %%trt cell the options go in the cell body as YAML, keyed by their long names ' +
          '(flags on the %%trt line may be added, but not the same option twice):'
      ),
      indent(command.cellExample)
    );
  }
  return sections.join('\n\n');
}

/** What `%trt help` (and `%trt` alone) prints. */
export function overviewHelp(commands: readonly IMagicCommand[]): string {
  return [
    'usage: %trt <command> [arguments] [options]',
    wrap(
      'Runs in the browser on WebGPU, with files relative to the notebook. %%trt <command> takes ' +
        "the command's options as YAML in the cell body instead."
    ),
    ['Commands:', ...table(commands.map(command => [command.name, command.summary]))].join('\n'),
    "%trt help <command> or %trt <command> --help shows a command's arguments and options."
  ].join('\n\n');
}

function flagSpelling(flag: string, option: IOption<unknown>): string {
  return option.placeholder ? `${flag} ${option.placeholder}` : flag;
}

/** Two columns, the second wrapped under itself. */
function table(rows: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(...rows.map(([left]) => left.length)) + 4;
  return rows.map(([left, right]) => wrap(right, ' '.repeat(width), `  ${left}`.padEnd(width)));
}

/**
 * Words filled to WIDTH columns: the first line after `lead`, the others after `hang`.
 * Each paragraph of `text` (split at newlines) starts a line of its own.
 */
function wrap(text: string, hang = '', lead = ''): string {
  const lines: string[] = [];
  let line = lead;
  for (const [index, paragraph] of text.split('\n').entries()) {
    if (index > 0) {
      lines.push(line);
      line = hang;
    }
    let empty = true;
    for (const word of paragraph.split(' ').filter(w => w)) {
      if (!empty && line.length + 1 + word.length > WIDTH) {
        lines.push(line);
        line = hang + word;
      } else {
        line += empty ? word : ` ${word}`;
      }
      empty = false;
    }
  }
  lines.push(line);
  return lines.join('\n');
}

function indent(text: string): string {
  return text
    .split('\n')
    .map(line => `  ${line}`)
    .join('\n');
}
