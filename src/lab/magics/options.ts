/**
 * The typed options of `%trt` commands. Each option takes its value from a flag on the magic
 * line (`--precision fp16`) or from a key of the `%%trt` cell's YAML body (`precision: fp16`),
 * so every kind reads both a flag's text and a YAML value; a bad value is a MagicError that
 * names the flag or key.
 */
import { MagicError } from './errors';

/** How an option's value is read and checked. */
export interface IOptionKind<T> {
  /** The value of a flag; `where` names it for messages ("--precision"). */
  fromText(text: string, where: string): T;
  /** The value of a YAML key; `where` names it for messages ("'precision' in the cell body"). */
  fromYaml(value: unknown, where: string): T;
  /** Combines the values of a repeated flag; without it, the flag may be given once. */
  combine?(earlier: T, later: T, where: string): T;
}

export interface IOption<T> {
  kind: IOptionKind<T>;
  /** The value as usage shows it: 'model.wtrt', 'fp32|fp16|best'. */
  placeholder?: string;
  /** A one-letter alias: 'o' for -o. */
  short?: string;
  /** What it does, with its default. */
  help: string;
}

export type OptionSpecs = Record<string, IOption<unknown>>;

/** The values given, by option name; an option not given is absent. */
export type OptionValues<S extends OptionSpecs> = {
  [K in keyof S]?: S[K] extends IOption<infer T> ? T : never;
};

function fail(message: string): never {
  throw new MagicError(message);
}

/** What a YAML value is, in a message ("a list", "the number 3"). */
function describeYaml(value: unknown): string {
  if (value === null || value === undefined) {
    return 'no value';
  }
  if (Array.isArray(value)) {
    return 'a list';
  }
  if (typeof value === 'object') {
    return 'a mapping';
  }
  return `${typeof value === 'string' ? 'the text' : `the ${typeof value}`} '${String(value)}'`;
}

/** A YAML scalar as text: numbers become their digits (`output: 1.npy` is a string anyway). */
function yamlText(value: unknown, where: string, expected: string): string {
  if (typeof value === 'string' || typeof value === 'number') {
    return String(value);
  }
  return fail(`${where} must be ${expected}, got ${describeYaml(value)}`);
}

/** A mapping of YAML (tensor name → value), in order. */
function yamlEntries(value: unknown, where: string, example: string): [string, unknown][] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail(
      `${where} must be a mapping of input names, e.g. ${example}; got ${describeYaml(value)}`
    );
  }
  return Object.entries(value);
}

/** Merges two maps of a repeated flag, refusing a name given twice. */
function mergeMaps<V>(
  earlier: Map<string, V>,
  later: Map<string, V>,
  where: string
): Map<string, V> {
  const merged = new Map(earlier);
  for (const [name, value] of later) {
    if (merged.has(name)) {
      fail(`${where} gives '${name}' twice`);
    }
    merged.set(name, value);
  }
  return merged;
}

/** A path or other free text. */
function nonEmpty(value: string, where: string): string {
  return value === '' ? fail(`${where} needs a value`) : value;
}

export const text: IOptionKind<string> = {
  fromText: nonEmpty,
  fromYaml: (value, where) => nonEmpty(yamlText(value, where, 'a string'), where)
};

/** A whole number from `min` to `max`. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER): IOptionKind<number> {
  const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
  const fromText = (value: string, where: string): number => {
    const number = Number(value);
    if (!/^-?\d+$/.test(value) || number < min || number > max) {
      fail(`${where} must be a whole number ${range}, got '${value}'`);
    }
    return number;
  };
  return {
    fromText,
    fromYaml: (value, where) => fromText(yamlText(value, where, `a whole number ${range}`), where)
  };
}

/**
 * A number from `min` to `max`; above `min` where `min` itself is left out (a percentile of
 * 0 keeps nothing).
 */
export function decimal(
  min: number,
  max = Infinity,
  { excludeMin = false } = {}
): IOptionKind<number> {
  const range = excludeMin
    ? `a number above ${min}${max === Infinity ? '' : ` and at most ${max}`}`
    : `a number ${max === Infinity ? `of at least ${min}` : `from ${min} to ${max}`}`;
  const fromText = (value: string, where: string): number => {
    const number = Number(value);
    const inRange = (excludeMin ? number > min : number >= min) && number <= max;
    if (value.trim() === '' || !inRange) {
      fail(`${where} must be ${range}, got '${value}'`);
    }
    return number;
  };
  return {
    fromText,
    fromYaml: (value, where) => fromText(yamlText(value, where, range), where)
  };
}

/** One of a few words. */
export function choice<T extends string>(choices: readonly T[]): IOptionKind<T> {
  const words = choices.join(', ');
  const fromText = (value: string, where: string): T => {
    if (!(choices as readonly string[]).includes(value)) {
      fail(`${where} must be one of ${words}, got '${value}'`);
    }
    return value as T;
  };
  return {
    fromText,
    fromYaml: (value, where) => fromText(yamlText(value, where, `one of ${words}`), where)
  };
}

/**
 * A list of items: comma separated or a repeated flag on the line (`--batch 1,8`), a YAML
 * list or the same comma separated text in the body (`batch: [1, 8]`).
 */
export function list<T>(item: IOptionKind<T>): IOptionKind<T[]> {
  const fromText = (value: string, where: string): T[] => {
    const items = value.split(',').map(part => part.trim());
    if (items.some(part => part === '')) {
      fail(`${where} '${value}' has an empty item: separate the items with single commas`);
    }
    return items.map(part => item.fromText(part, where));
  };
  return {
    fromText,
    fromYaml(value, where) {
      if (!Array.isArray(value)) {
        return fromText(yamlText(value, where, 'a list'), where);
      }
      if (value.length === 0) {
        fail(`${where} is an empty list`);
      }
      return value.map(element => item.fromYaml(element, where));
    },
    combine: (earlier, later) => [...earlier, ...later]
  };
}

const SHAPE_EXAMPLE = 'input:1x3x224x224';

function parseDims(dims: string, name: string, where: string): number[] {
  if (!/^\d+(x\d+)*$/.test(dims)) {
    fail(`${where} gives '${name}' the shape '${dims}': write the sizes as 1x3x224x224`);
  }
  return dims.split('x').map(Number);
}

/**
 * Input shapes by input name, in trtexec's syntax on the line (`--shapes input:1x3x224x224`,
 * comma separated or repeated; the name ends at the last colon, as tensor names may hold
 * colons) and as a mapping in the body (`shapes: {input: [1, 3, 224, 224]}`).
 */
function shapesFromText(value: string, where: string): Map<string, number[]> {
  let parsed = new Map<string, number[]>();
  for (const item of value.split(',')) {
    const split = item.lastIndexOf(':');
    if (split <= 0) {
      fail(`${where} '${item}' must be name:dims, e.g. ${SHAPE_EXAMPLE}`);
    }
    const name = item.slice(0, split);
    const dims = parseDims(item.slice(split + 1), name, where);
    parsed = mergeMaps(parsed, new Map([[name, dims]]), where);
  }
  return parsed;
}

export const shapes: IOptionKind<Map<string, number[]>> = {
  fromText: shapesFromText,
  fromYaml(value, where) {
    if (typeof value === 'string') {
      return shapesFromText(value, where);
    }
    const entries = yamlEntries(value, where, '{input: [1, 3, 224, 224]}');
    return new Map(
      entries.map(([name, dims]) => {
        if (Array.isArray(dims)) {
          if (!dims.every(size => Number.isInteger(size) && size >= 0)) {
            fail(
              `${where} gives '${name}' the shape [${dims.join(', ')}]: sizes must be whole numbers`
            );
          }
          return [name, dims as number[]];
        }
        return [name, parseDims(yamlText(dims, where, 'a list of sizes'), name, where)];
      })
    );
  },
  combine: mergeMaps
};

/**
 * Files by tensor name: `--input name=file.npy` on the line (repeated for several inputs),
 * a mapping in the body (`input: {x: x.npy}`).
 */
function tensorFileFromText(value: string, where: string): Map<string, string> {
  const split = value.indexOf('=');
  if (split <= 0 || split === value.length - 1) {
    fail(`${where} '${value}' must be name=file.npy`);
  }
  return new Map([[value.slice(0, split), value.slice(split + 1)]]);
}

export const tensorFiles: IOptionKind<Map<string, string>> = {
  fromText: tensorFileFromText,
  fromYaml(value, where) {
    if (typeof value === 'string') {
      return tensorFileFromText(value, where);
    }
    const entries = yamlEntries(value, where, '{input: x.npy}');
    return new Map(
      entries.map(([name, path]) => [name, text.fromYaml(path, `${where} for '${name}'`)])
    );
  },
  combine: mergeMaps
};
