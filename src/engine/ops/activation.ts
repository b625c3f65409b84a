/**
 * Activations that fused layers apply as they store their outputs (TensorRT's
 * conv/GEMM + activation fusion). A fused node names its activation as ONNX Runtime's fused
 * ops do: the attribute `activation` holds the op type ('Relu', 'Clip', 'Gelu', ...) and
 * `activation_params` its numeric attributes in a fixed order (Clip: min, max; LeakyRelu:
 * alpha; HardSigmoid: alpha, beta; Gelu: 1 for the tanh approximation, else 0).
 *
 * The math is the unary op's own definition (elementwise.ts), so a fused activation
 * computes exactly what the op it replaced computed.
 */
import { Node } from '../ir/graph';
import { Tensor } from '../ir/tensor';
import { f32Literal } from '../kernels/wgsl';
import { Attributes } from './attributes';
import { unarySpec } from './elementwise';
import { OpError } from './types';

/** The unary ops a layer can apply to its outputs; Clip besides, with constant bounds. */
const FUSABLE_UNARY_OPS = [
  'Relu',
  'LeakyRelu',
  'Elu',
  'Selu',
  'Celu',
  'ThresholdedRelu',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Tanh',
  'Gelu',
  'Softplus',
  'Softsign',
  'Mish'
] as const;

export interface Activation {
  opType: string;
  params: number[];
}

/** An activation as a kernel applies it. */
export interface ActivationMath {
  cpu(x: number): number;
  /** A WGSL f32 expression of `x`. */
  expression: string;
  /** WGSL functions the expression calls. */
  helpers: string;
}

/** Whether a layer can apply `opType` as its activation. */
export function isFusableActivation(opType: string): boolean {
  return opType === 'Clip' || (FUSABLE_UNARY_OPS as readonly string[]).includes(opType);
}

/**
 * The parameter names of a unary activation, in `activation_params` order: the keys of
 * its parsed attributes, read from a node that sets none (so every default applies).
 */
function parameterNames(opType: string): string[] {
  const spec = unarySpec(opType)!;
  const bare = new Attributes({
    name: '',
    opType,
    domain: '',
    inputs: [],
    outputs: [],
    attributes: {}
  });
  return Object.keys(spec.attributes?.(bare) ?? {});
}

export function activationMath({ opType, params }: Activation): ActivationMath {
  if (opType === 'Clip') {
    const [lo, hi] = params;
    return {
      cpu: x => Math.min(Math.max(x, lo), hi),
      expression: `clamp(x, ${f32Literal(lo)}, ${f32Literal(hi)})`,
      helpers: ''
    };
  }
  const spec = unarySpec(opType);
  if (!spec?.wgsl || !isFusableActivation(opType)) {
    throw new Error(`'${opType}' is not an activation a layer can fuse`);
  }
  const names = parameterNames(opType);
  if (params.length !== names.length) {
    throw new Error(
      `activation '${opType}' takes ${names.length} parameters (${names.join(', ') || 'none'}), got ${params.length}`
    );
  }
  const numbers = Object.fromEntries(names.map((name, i) => [name, params[i]]));
  return {
    cpu: x => spec.cpu(x, numbers),
    expression: spec.wgsl(numbers),
    helpers: spec.helpers ?? ''
  };
}

/**
 * The activation a node computes, when it is one a layer can fuse: a fusable unary op, or
 * a Clip whose bounds are attributes or constants. `constants` resolves Clip's bound inputs.
 */
export function activationOfNode(
  node: Node,
  opset: number,
  constants: ReadonlyMap<string, Tensor>
): Activation | undefined {
  if (node.domain !== '' || !isFusableActivation(node.opType)) {
    return undefined;
  }
  if (node.opType === 'Clip') {
    return clipActivation(node, opset, constants);
  }
  const spec = unarySpec(node.opType)!;
  const numbers = spec.attributes?.(new Attributes(node)) ?? {};
  return { opType: node.opType, params: parameterNames(node.opType).map(name => numbers[name]) };
}

function clipActivation(
  node: Node,
  opset: number,
  constants: ReadonlyMap<string, Tensor>
): Activation | undefined {
  if (opset < 11) {
    const a = new Attributes(node);
    return { opType: 'Clip', params: [a.float('min', -Infinity), a.float('max', Infinity)] };
  }
  const bound = (index: number, fallback: number): number | undefined => {
    const name = node.inputs[index];
    if (!name) {
      return fallback;
    }
    const value = constants.get(name);
    return value && value.size === 1 ? value.toNumbers()[0] : undefined;
  };
  const lo = bound(1, -Infinity);
  const hi = bound(2, Infinity);
  return lo === undefined || hi === undefined ? undefined : { opType: 'Clip', params: [lo, hi] };
}

/** The attributes that name `activation` on a fused node. */
export function activationAttributes(
  activation: Activation | undefined
): Record<string, string | number[]> {
  return activation
    ? { activation: activation.opType, activation_params: [...activation.params] }
    : {};
}

/** The activation a fused node's attributes name, or undefined when it has none. */
export function readActivation(node: Node): Activation | undefined {
  const a = new Attributes(node);
  const opType = a.string('activation', '');
  if (!opType) {
    return undefined;
  }
  if (!isFusableActivation(opType)) {
    throw new OpError(node, `activation '${opType}' is not one a layer can fuse`);
  }
  const params = a.floats('activation_params') ?? [];
  try {
    activationMath({ opType, params });
  } catch (error) {
    throw new OpError(node, (error as Error).message);
  }
  return { opType, params };
}
