import type { IMagicCommand } from '../command';
import { benchCommand } from './bench';
import { calibrateCommand } from './calibrate';
import { compareCommand } from './compare';
import { convertCommand } from './convert';
import { infoCommand } from './info';
import { inspectCommand } from './inspect';
import { profileCommand } from './profile';
import { runCommand } from './run';

/** Every `%trt` command, in the order `%trt help` lists them: the workflow's order. */
export const MAGIC_COMMANDS: readonly IMagicCommand[] = [
  infoCommand,
  calibrateCommand,
  convertCommand,
  runCommand,
  benchCommand,
  compareCommand,
  profileCommand,
  inspectCommand
];
