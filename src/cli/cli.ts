/** `webtrt <command> ...`: the commands, --help and --version. */
import { parseCommandArgs } from './args';
import { Command } from './command';
import { buildCommand } from './commands/build';
import { calibrateCommand } from './commands/calibrate';
import { compareCommand } from './commands/compare';
import { conformanceCommand } from './commands/conformance';
import { execCommand } from './commands/exec';
import { infoCommand } from './commands/info';
import { inspectCommand } from './commands/inspect';
import { runCommand } from './commands/run';
import { summaryCommand } from './commands/summary';
import { UsageError } from './errors';
import { columns } from './engine';

const COMMANDS: readonly Command[] = [
  infoCommand,
  inspectCommand,
  summaryCommand,
  runCommand,
  calibrateCommand,
  buildCommand,
  compareCommand,
  execCommand,
  conformanceCommand
];

function mainHelp(): string {
  return [
    'Usage: webtrt <command> [options]',
    '',
    'Runs ONNX models on WebGPU (Dawn) in Node, in the manner of trtexec.',
    '',
    'Commands:',
    ...columns(COMMANDS.map(command => [command.name, command.summary])),
    '',
    'Options:',
    ...columns([
      ['-h, --help', 'show this help (webtrt <command> --help for a command)'],
      ['-V, --version', 'show the version']
    ]),
    '',
    'Errors are one line on stderr; set WEBTRT_DEBUG=1 for the stack trace.',
    'Exit codes: 0 done, 1 failed, 2 wrong usage.'
  ].join('\n');
}

function version(): string {
  // A require, not an import: esbuild inlines it into the bundle, and tsx reads it from
  // the source tree, so both find the version without package.json under src/.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return (require('../../package.json') as { version: string }).version;
}

/** Runs one command line; failures are thrown (see process.ts for how they are shown). */
export async function dispatch(argv: readonly string[]): Promise<void> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    throw new UsageError('no command given');
  }
  if (first === '-h' || first === '--help' || first === 'help') {
    process.stdout.write(`${mainHelp()}\n`);
    return;
  }
  if (first === '-V' || first === '--version') {
    process.stdout.write(`webtrt ${version()}\n`);
    return;
  }
  const command = COMMANDS.find(c => c.name === first);
  if (!command) {
    const known = COMMANDS.map(c => c.name).join(', ');
    throw new UsageError(
      first.startsWith('-')
        ? `unknown option '${first}'`
        : `unknown command '${first}' (commands: ${known})`
    );
  }
  const args = parseCommandArgs(command.name, rest, {
    ...command.options,
    help: { type: 'boolean', short: 'h' }
  });
  if (args.values.help) {
    process.stdout.write(`${command.help}\n`);
    return;
  }
  await command.run(args);
}
