import { AttributeValue, Node } from '../ir/graph';
import { Tensor } from '../ir/tensor';
import { OpError } from './types';

/**
 * Typed reads of a node's attributes, each with the default the op's spec gives. A value
 * of the wrong kind is an OpError naming the node and the attribute.
 */
export class Attributes {
  constructor(private readonly node: Node) {}

  has(name: string): boolean {
    return name in this.node.attributes;
  }

  int(name: string, fallback: number): number;
  int(name: string): number | undefined;
  int(name: string, fallback?: number): number | undefined {
    const value = this.get(name);
    if (value === undefined) {
      return fallback;
    }
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      throw this.wrongKind(name, 'an integer', value);
    }
    return value;
  }

  float(name: string, fallback: number): number;
  float(name: string): number | undefined;
  float(name: string, fallback?: number): number | undefined {
    const value = this.get(name);
    if (value === undefined) {
      return fallback;
    }
    if (typeof value !== 'number') {
      throw this.wrongKind(name, 'a number', value);
    }
    return value;
  }

  string(name: string, fallback: string): string;
  string(name: string): string | undefined;
  string(name: string, fallback?: string): string | undefined {
    const value = this.get(name);
    if (value === undefined) {
      return fallback;
    }
    if (typeof value !== 'string') {
      throw this.wrongKind(name, 'a string', value);
    }
    return value;
  }

  ints(name: string, fallback: number[]): number[];
  ints(name: string): number[] | undefined;
  ints(name: string, fallback?: number[]): number[] | undefined {
    const value = this.get(name);
    if (value === undefined) {
      return fallback;
    }
    if (!Array.isArray(value) || value.some(v => typeof v !== 'number')) {
      throw this.wrongKind(name, 'a list of integers', value);
    }
    return value as number[];
  }

  floats(name: string): number[] | undefined {
    return this.ints(name);
  }

  strings(name: string): string[] | undefined {
    const value = this.get(name);
    if (value === undefined) {
      return undefined;
    }
    if (!Array.isArray(value) || value.some(v => typeof v !== 'string')) {
      throw this.wrongKind(name, 'a list of strings', value);
    }
    return value as string[];
  }

  tensor(name: string): Tensor | undefined {
    const value = this.get(name);
    if (value === undefined) {
      return undefined;
    }
    if (!(value instanceof Tensor)) {
      throw this.wrongKind(name, 'a tensor', value);
    }
    return value;
  }

  /** An error for an attribute whose value the op does not accept. */
  invalid(name: string, reason: string): OpError {
    return new OpError(this.node, `attribute '${name}' ${reason}`);
  }

  private get(name: string): AttributeValue | undefined {
    return this.node.attributes[name];
  }

  private wrongKind(name: string, expected: string, value: AttributeValue): OpError {
    const got = Array.isArray(value)
      ? 'a list'
      : value instanceof Tensor
        ? 'a tensor'
        : typeof value;
    return this.invalid(name, `must be ${expected}, got ${got}`);
  }
}
