/**
 * webtrt::Elementwise: a chain or small DAG of elementwise ops computed by one kernel, which
 * reads each input once and keeps every intermediate value in registers (TensorRT's
 * pointwise fusion). The builder's fuseElementwiseChains pass makes these nodes.
 *
 * Schema
 * - inputs: X0, X1, ..., the values the group reads from outside, of one float type, with
 *   shapes that broadcast together (numpy rules) into the output's shape.
 * - output: Y, the value of the last step.
 * - attribute `program` (strings): the steps in order, one per string, written
 *   `OpType operand operand ... [name=value ...]`, where an operand is `x<i>` (input i),
 *   `t<j>` (the value of step j), `_` (an omitted optional input) or a number (a scalar
 *   constant of the inputs' type), and each `name=value` is an ONNX attribute of the step
 *   (a number, or a string without spaces). E.g. PyTorch's spelled-out HardSwish:
 *   ['Add x0 3', 'Clip t0 0 6', 'Mul x0 t1', 'Div t2 6'].
 * Each step is the ai.onnx op of its type at opset STEP_OPSET (Clip takes its bounds as
 * operands), so the CPU reference is those ops' own references applied step after step,
 * rounding to the value type after each step exactly as the unfused ops do. The kernel
 * computes every step in f32 and rounds once, when it stores Y.
 */
import { DataType } from '../ir/dtype';
import { Node } from '../ir/graph';
import { Tensor } from '../ir/tensor';
import { computesAsFloat, GpuTensor, KernelContext, tensorStorage } from '../kernels/context';
import {
  bindings,
  broadcastOffset,
  coordinates,
  f32Literal,
  linearGrid,
  linearMain,
  readFloat,
  writeFloat
} from '../kernels/wgsl';
import { Attributes } from './attributes';
import { broadcastConcrete } from './broadcast';
import { elementwiseOps, unarySpec, WGSL_POW } from './elementwise';
import { InferInput, OpContext, OpDefinition, OpError } from './types';

/** The opset whose semantics every step has. */
const STEP_OPSET = 13;

/** A step's operand: an input of the node, an earlier step's value or a scalar constant. */
export type Operand = { input: number } | { step: number } | { literal: number } | 'omitted';

/** One step of a program, as the fusion pass writes it. */
export interface Step {
  opType: string;
  operands: Operand[];
  attributes: Record<string, number | string>;
}

/**
 * WGSL of the ops with two operands (Min and Max with any number, folded pairwise), over
 * the f32 expressions `a` and `b`.
 */
const MULTI_OPERAND_OPS = new Map<string, { expression: string; helpers?: string }>([
  ['Add', { expression: '(a + b)' }],
  ['Sub', { expression: '(a - b)' }],
  ['Mul', { expression: '(a * b)' }],
  ['Div', { expression: '(a / b)' }],
  ['Pow', { expression: 'pow_real(a, b)', helpers: WGSL_POW }],
  ['PRelu', { expression: 'select(a, b * a, a < 0.0)' }],
  ['Min', { expression: 'min(a, b)' }],
  ['Max', { expression: 'max(a, b)' }]
]);

/**
 * Whether a program may hold a step of `opType`: the unary ops with a kernel, the
 * broadcasting arithmetic above and Clip (with constant bounds).
 */
export function isFusableElementwise(opType: string): boolean {
  return (
    opType === 'Clip' || MULTI_OPERAND_OPS.has(opType) || unarySpec(opType)?.wgsl !== undefined
  );
}

/** A step as one string of `program`. */
export function formatStep(step: Step): string {
  const attributes = Object.entries(step.attributes).map(([name, value]) => `${name}=${value}`);
  return [step.opType, ...step.operands.map(operandText), ...attributes].join(' ');
}

function operandText(operand: Operand): string {
  if (operand === 'omitted') {
    return '_';
  }
  if ('input' in operand) {
    return `x${operand.input}`;
  }
  return 'step' in operand ? `t${operand.step}` : String(operand.literal);
}

/** A step bound to its op, ready to run. */
interface BoundStep extends Step {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  op: OpDefinition<any>;
  attrs: unknown;
  ctx: OpContext;
}

interface ElementwiseAttributes {
  steps: BoundStep[];
}

function parseProgram(node: Node): BoundStep[] {
  const program = new Attributes(node).strings('program');
  if (!program || program.length === 0) {
    throw new OpError(node, "attribute 'program' must list at least one step");
  }
  return program.map((text, index) => {
    const fail = (reason: string) =>
      new OpError(node, `program step ${index} '${text}': ${reason}`);
    const [opType, ...tokens] = text.split(' ');
    const op = elementwiseOps.find(definition => definition.opType === opType);
    if (!op || !isFusableElementwise(opType)) {
      throw fail(`'${opType}' is not an elementwise op a program can hold`);
    }
    const operands: Operand[] = [];
    const attributes: Record<string, number | string> = {};
    for (const token of tokens) {
      const [name, value] = token.split('=');
      if (value !== undefined) {
        const number = Number(value);
        attributes[name] =
          value !== '' && (value === 'NaN' || !Number.isNaN(number)) ? number : value;
      } else {
        operands.push(parseOperand(token, index, node.inputs.length, fail));
      }
    }
    const stepNode: Node = {
      name: `${node.name}/t${index}`,
      opType,
      domain: '',
      inputs: operands.map(operand => (operand === 'omitted' ? '' : operandText(operand))),
      outputs: [`t${index}`],
      attributes
    };
    const ctx: OpContext = { opset: STEP_OPSET, node: stepNode };
    return { opType, operands, attributes, op, attrs: op.parseAttributes(ctx), ctx };
  });
}

function parseOperand(
  token: string,
  step: number,
  inputs: number,
  fail: (reason: string) => OpError
): Operand {
  if (token === '_') {
    return 'omitted';
  }
  const reference = /^([xt])(\d+)$/.exec(token);
  if (reference) {
    const index = Number(reference[2]);
    if (reference[1] === 'x' ? index >= inputs : index >= step) {
      throw fail(`operand ${token} names no ${reference[1] === 'x' ? 'input' : 'earlier step'}`);
    }
    return reference[1] === 'x' ? { input: index } : { step: index };
  }
  const literal = Number(token);
  if (Number.isNaN(literal) && token !== 'NaN') {
    throw fail(`operand '${token}' is neither x<i>, t<j>, _ nor a number`);
  }
  return { literal };
}

/**
 * Runs the steps over values of some kind (types during inference, tensors on the CPU):
 * `read` gives an input's, `constant` a scalar literal's, `apply` a step's result.
 */
function evaluate<V>(
  steps: BoundStep[],
  read: (input: number) => V,
  constant: (value: number) => V,
  apply: (step: BoundStep, operands: (V | undefined)[]) => V
): V {
  const values: V[] = [];
  for (const step of steps) {
    const operands = step.operands.map(operand => {
      if (operand === 'omitted') {
        return undefined;
      }
      if ('input' in operand) {
        return read(operand.input);
      }
      return 'step' in operand ? values[operand.step] : constant(operand.literal);
    });
    values.push(apply(step, operands));
  }
  return values[values.length - 1];
}

/** The one float type of a node's inputs. */
function valueType(dtypes: (DataType | undefined)[], node: Node): DataType {
  const [dtype] = dtypes;
  if (!dtype || dtypes.some(d => d !== dtype) || !computesAsFloat(dtype) || dtype === 'float64') {
    throw new OpError(node, `inputs must share one float type, got ${dtypes.join(', ')}`);
  }
  return dtype;
}

// --- WGSL ---------------------------------------------------------------------------------

/** WGSL of one step over the f32 operand expressions, and the helper functions it calls. */
function stepExpression(step: BoundStep, operands: (string | undefined)[]): string {
  const [x] = operands;
  if (step.opType === 'Clip') {
    const [, lo, hi] = operands;
    const lower = lo === undefined ? x! : `max(${x}, ${lo})`;
    return hi === undefined ? lower : `min(${lower}, ${hi})`;
  }
  const multi = MULTI_OPERAND_OPS.get(step.opType);
  if (multi) {
    const present = operands.filter(o => o !== undefined) as string[];
    return present.reduce((a, b) => multi.expression.replace(/\ba\b/g, a).replace(/\bb\b/g, b));
  }
  const spec = unarySpec(step.opType)!;
  return spec.wgsl!(step.attrs as Record<string, number>).replace(/\bx\b/g, x!);
}

/** The helper functions the steps call, each defined once. */
function stepHelpers(steps: BoundStep[]): string {
  const helpers = steps.map(
    step => MULTI_OPERAND_OPS.get(step.opType)?.helpers ?? unarySpec(step.opType)?.helpers ?? ''
  );
  const functions = new Set(
    helpers.flatMap(text => text.split(/(?=^fn )/m).map(part => part.trim())).filter(f => f)
  );
  return [...functions].join('\n');
}

/**
 * `fn fused(x0: f32, ...) -> f32`: the program over one element, each step a `let`, so that
 * a value read by several steps is computed once.
 */
function fusedFunction(steps: BoundStep[], inputs: number): string {
  const parameters = Array.from({ length: inputs }, (_, i) => `x${i}: f32`).join(', ');
  const lines = steps.map((step, index) => {
    const operands = step.operands.map(operand => {
      if (operand === 'omitted') {
        return undefined;
      }
      if ('input' in operand) {
        return `x${operand.input}`;
      }
      return 'step' in operand ? `t${operand.step}` : f32Literal(operand.literal);
    });
    return `  let t${index} = ${stepExpression(step, operands)};`;
  });
  return `fn fused(${parameters}) -> f32 {\n${lines.join('\n')}\n  return t${steps.length - 1};\n}`;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The size of a tensor's last dim, 1 for a scalar. */
function lastDim(shape: readonly number[]): number {
  return shape.length > 0 ? shape[shape.length - 1] : 1;
}

/**
 * Whether four outputs per invocation fit: the output's rows (its last dim) hold a multiple
 * of 4 elements, and each input either runs along them (its last dim is theirs: four
 * consecutive outputs read four consecutive elements) or is constant along them (its last
 * dim is 1: one element for the four). A channel scale over NCHW maps is so.
 */
function fitsVectors(inputs: GpuTensor[], shape: readonly number[]): boolean {
  const row = lastDim(shape);
  return (
    shape.length > 0 &&
    row % 4 === 0 &&
    inputs.every(t => lastDim(t.shape) === row || lastDim(t.shape) === 1)
  );
}

/**
 * The vec4 kernel (see fitsVectors): inputs along the rows are read as vec4 at their
 * broadcast offset of the first of the four outputs (a multiple of 4), the others once.
 */
function vectorMain(inputs: GpuTensor[], out: GpuTensor): { code: string; invocations: number } {
  const rank = out.shape.length;
  const row = lastDim(out.shape);
  const alongRows = inputs.map(t => lastDim(t.shape) === row);
  const declarations = [...inputs, out].map((t, i) => {
    const access = i < inputs.length ? 'read' : 'read_write';
    const name = i < inputs.length ? `in${i}` : 'out';
    const element =
      i === inputs.length || alongRows[i] ? `vec4<${tensorStorage(t)}>` : tensorStorage(t);
    return `@group(0) @binding(${i}) var<storage, ${access}> ${name}: array<${element}>;`;
  });
  const broadcast = inputs.some(t => !sameShape(t.shape, out.shape));
  const reads = inputs.map((t, i) => {
    if (sameShape(t.shape, out.shape)) {
      return `  let v${i} = vec4<f32>(in${i}[index]);`;
    }
    const offset = broadcastOffset(t.shape, rank, 'c');
    return alongRows[i]
      ? `  let v${i} = vec4<f32>(in${i}[(${offset}) / 4u]);`
      : `  let v${i} = ${readFloat(t, `in${i}[${offset}]`)};`;
  });
  const lanes = ['x', 'y', 'z', 'w'].map(lane => {
    const operands = inputs.map((_, i) => (alongRows[i] ? `v${i}.${lane}` : `v${i}`));
    return writeFloat(out, `fused(${operands.join(', ')})`);
  });
  const invocations = out.size / 4;
  const body = [
    ...(broadcast ? ['  let first = index * 4u;', coordinates('first', out.shape, 'c')] : []),
    ...reads,
    `  out[index] = vec4<${tensorStorage(out)}>(${lanes.join(', ')});`
  ].join('\n');
  return { code: `${declarations.join('\n')}\n${linearMain(invocations, body)}`, invocations };
}

/** The scalar kernel: one element per invocation, each input read at its broadcast offset. */
function scalarMain(inputs: GpuTensor[], out: GpuTensor): { code: string; invocations: number } {
  const rank = out.shape.length;
  const broadcast = inputs.some(t => !sameShape(t.shape, out.shape));
  const reads = inputs.map((t, i) => {
    const offset = sameShape(t.shape, out.shape) ? 'index' : broadcastOffset(t.shape, rank, 'c');
    return `  let v${i} = ${readFloat(t, `in${i}[${offset}]`)};`;
  });
  const value = `fused(${inputs.map((_, i) => `v${i}`).join(', ')})`;
  const body = [
    ...(broadcast ? [coordinates('index', out.shape, 'c')] : []),
    ...reads,
    `  out[index] = ${writeFloat(out, value)};`
  ].join('\n');
  const declarations = bindings(
    inputs.map((t, i): [string, GpuTensor] => [`in${i}`, t]),
    [['out', out]]
  );
  return { code: `${declarations}\n${linearMain(out.size, body)}`, invocations: out.size };
}

function runOnGpu(ctx: KernelContext, inputs: GpuTensor[], steps: BoundStep[]): GpuTensor {
  const dtype = valueType(
    inputs.map(t => t.dtype),
    ctx.node
  );
  let shape: number[];
  try {
    shape = broadcastConcrete(inputs.map(t => t.shape));
  } catch (error) {
    throw new OpError(ctx.node, (error as Error).message);
  }
  const out = ctx.allocate(dtype, shape);
  const main = fitsVectors(inputs, shape) ? vectorMain(inputs, out) : scalarMain(inputs, out);
  ctx.dispatch({
    label: 'Elementwise',
    code: [stepHelpers(steps), fusedFunction(steps, inputs.length), main.code].join('\n'),
    bindings: [...inputs, out],
    workgroups: linearGrid(main.invocations)
  });
  return out;
}

const elementwise: OpDefinition<ElementwiseAttributes> = {
  opType: 'Elementwise',
  domain: 'webtrt',
  parseAttributes: ({ node }) => ({ steps: parseProgram(node) }),
  inferTypes: (inputs, { steps }, ctx) => {
    const present = inputs as InferInput[];
    const dtype = valueType(
      present.map(input => input?.dtype),
      ctx.node
    );
    const result = evaluate<InferInput>(
      steps,
      input => present[input],
      () => ({ dtype, shape: [] }),
      (step, operands) => step.op.inferTypes(operands, step.attrs, step.ctx)[0]
    );
    return [{ dtype: result.dtype, shape: result.shape }];
  },
  cpu: (inputs, { steps }, ctx) => {
    const dtype = valueType(
      inputs.map(t => t?.dtype),
      ctx.node
    );
    return [
      evaluate<Tensor>(
        steps,
        input => inputs[input]!,
        value => Tensor.scalar(dtype, value),
        (step, operands) => step.op.cpu(operands, step.attrs, step.ctx)[0]
      )
    ];
  },
  webgpu: {
    halfStorage: true,
    unsupported: dtypes => {
      const [first] = dtypes;
      return dtypes.every(d => d === first) && first && computesAsFloat(first)
        ? null
        : `inputs of types ${dtypes.join(', ')} run on the CPU`;
    },
    run: (ctx, inputs, _host, { steps }) => [runOnGpu(ctx, inputs as GpuTensor[], steps)]
  }
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const fusedElementwiseOps: OpDefinition<any>[] = [elementwise];
