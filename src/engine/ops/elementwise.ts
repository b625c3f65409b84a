/**
 * Elementwise ops: unary math and activations, broadcasting binary arithmetic,
 * comparisons and logic, variadic Min / Max / Sum / Mean, Where, Clip and Cast.
 */
import { DataType, dataTypeFromOnnx, isFloat, isInteger } from '../ir/dtype';
import { ValueType } from '../ir/graph';
import { sizeOf, Tensor } from '../ir/tensor';
import { computesAsFloat, GpuTensor, KernelContext, storageType } from '../kernels/context';
import {
  bindings,
  broadcastOffset,
  coordinates,
  f32Literal,
  linearGrid,
  linearMain,
  readFloat,
  storageLiteral,
  wrapInteger,
  writeFloat
} from '../kernels/wgsl';
import { Attributes } from './attributes';
import { broadcastConcrete, broadcastIndices, broadcastShapes } from './broadcast';
import { InferInput, OpContext, OpDefinition, OpError } from './types';

type Numbers = Record<string, number>;

// --- shared inference and kernels -------------------------------------------------

function sameAsFirst(inputs: (InferInput | undefined)[]): ValueType[] {
  return [{ dtype: inputs[0]!.dtype, shape: inputs[0]!.shape }];
}

function broadcastType(
  inputs: (InferInput | undefined)[],
  ctx: OpContext,
  dtype: DataType
): ValueType[] {
  try {
    return [{ dtype, shape: broadcastShapes(inputs.filter(i => i).map(i => i!.shape)) }];
  } catch (error) {
    throw new OpError(ctx.node, (error as Error).message);
  }
}

/**
 * One WGSL kernel over a broadcast of its inputs: `expression` computes the output
 * element from the values `v0`, `v1`, ... read at the broadcast offsets (float values as
 * f32 whatever their storage, see readFloat; the output stored by writeFloat).
 */
function broadcastKernel(
  ctx: KernelContext,
  label: string,
  inputs: GpuTensor[],
  outDtype: DataType,
  expression: string,
  helpers = ''
): GpuTensor {
  let outShape: number[];
  try {
    outShape = broadcastConcrete(inputs.map(t => t.shape));
  } catch (error) {
    throw new Error(`${label}: ${(error as Error).message}`);
  }
  const out = ctx.allocate(outDtype, outShape);
  const rank = outShape.length;
  const needsCoordinates = inputs.some(t => !sameShape(t.shape, outShape));
  const reads = inputs
    .map((t, i) => {
      const offset = sameShape(t.shape, outShape) ? 'index' : broadcastOffset(t.shape, rank, 'c');
      return `  let v${i} = ${readFloat(t, `in${i}[${offset}]`)};`;
    })
    .join('\n');
  const body = [
    needsCoordinates ? coordinates('index', outShape, 'c') : '',
    reads,
    `  out[index] = ${writeFloat(out, expression)};`
  ].join('\n');
  const code = [
    bindings(
      inputs.map((t, i) => [`in${i}`, t]),
      [['out', out]]
    ),
    helpers,
    linearMain(out.size, body)
  ].join('\n');
  ctx.dispatch({ label, code, bindings: [...inputs, out], workgroups: linearGrid(out.size) });
  return out;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Applies `fn` elementwise under broadcasting, producing a tensor of `dtype`. */
function mapBroadcast(inputs: Tensor[], dtype: DataType, fn: (values: number[]) => number): Tensor {
  const outShape = broadcastConcrete(inputs.map(t => t.shape));
  const size = sizeOf(outShape);
  const values = inputs.map(t => t.toNumbers());
  const indices = inputs.map(t => broadcastIndices(t.shape, outShape));
  const out = new Float64Array(size);
  const args = new Array<number>(inputs.length);
  for (let i = 0; i < size; i++) {
    for (let k = 0; k < inputs.length; k++) {
      args[k] = values[k][indices[k][i]];
    }
    out[i] = fn(args);
  }
  return Tensor.fromNumbers(dtype, outShape, out);
}

// --- WGSL helpers shared by several expressions -------------------------------------

/** erf with |error| < 1.2e-7 (Numerical Recipes' erfc Chebyshev fit). */
const WGSL_ERF = `
fn erf_approx(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.5 * z);
  let r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
    t * (-0.82215223 + t * 0.17087277)))))))));
  return select(r - 1.0, 1.0 - r, x >= 0.0);
}`;

/** Real-valued pow: negative bases are defined for integral exponents, 0^0 is 1. */
export const WGSL_POW = `
fn pow_real(x: f32, y: f32) -> f32 {
  if (y == 0.0) {
    return 1.0;
  }
  if (x >= 0.0) {
    return pow(x, y);
  }
  if (y != floor(y)) {
    return ${f32Literal(NaN)};
  }
  let magnitude = pow(-x, y);
  return select(magnitude, -magnitude, (abs(y) % 2.0) == 1.0);
}`;

/** tanh that stays finite for large |x| where exp-based builtins overflow. */
const WGSL_TANH = `
fn tanh_safe(x: f32) -> f32 {
  return tanh(clamp(x, -15.0, 15.0));
}`;

/** The ONNX Round: half to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** erf to double precision, for the CPU reference (W. J. Cody's rational fits). */
export function erf(x: number): number {
  const z = Math.abs(x);
  let result: number;
  if (z < 0.5) {
    const t = z * z;
    const p = [
      3.1611237438705655, 113.86415415105016, 377.485237685302, 3209.3775891384694,
      0.18577770618460315
    ];
    const q = [23.601290952344122, 244.02463793444417, 1282.6165260773723, 2844.236833439171];
    const num = (((p[4] * t + p[0]) * t + p[1]) * t + p[2]) * t + p[3];
    const den = (((t + q[0]) * t + q[1]) * t + q[2]) * t + q[3];
    return (x * num) / den;
  } else if (z < 4) {
    const p = [
      0.5641884969886701, 8.883149794388377, 66.11919063714163, 298.6351381974001, 881.952221241769,
      1712.0476126340707, 2051.0783778260716, 1230.3393547979972, 2.1531153547440383e-8
    ];
    const q = [
      15.744926110709835, 117.6939508913125, 537.1811018620099, 1621.3895745666903,
      3290.7992357334597, 4362.619090143247, 3439.3676741437216, 1230.3393548037495
    ];
    let num = p[8] * z;
    let den = z;
    for (let i = 0; i < 7; i++) {
      num = (num + p[i]) * z;
      den = (den + q[i]) * z;
    }
    const erfc = (num + p[7]) / (den + q[7]);
    result = 1 - Math.exp(-z * z) * erfc;
  } else {
    const p = [
      0.30532663496123236, 0.36034489994980445, 0.12578172611122926, 0.016083785148742275,
      0.0006587491615298378, 0.016315387137302097
    ];
    const q = [
      2.568520192289822, 1.8729528499234673, 0.5279051029514285, 0.06051834131244132,
      0.0023352049762686918
    ];
    const t = 1 / (z * z);
    let num = p[5] * t;
    let den = t;
    for (let i = 0; i < 4; i++) {
      num = (num + p[i]) * t;
      den = (den + q[i]) * t;
    }
    const erfc =
      (Math.exp(-z * z) / z) * (1 / Math.sqrt(Math.PI) - (t * (num + p[4])) / (den + q[4]));
    result = z > 26 ? 1 : 1 - erfc;
  }
  return x < 0 ? -result : result;
}

// --- unary ops ------------------------------------------------------------------------

export interface UnarySpec {
  opType: string;
  attributes?: (a: Attributes) => Numbers;
  cpu: (x: number, a: Numbers) => number;
  /** WGSL expression of `x` (an f32) and the attributes, or undefined for CPU only. */
  wgsl?: (a: Numbers) => string;
  helpers?: string;
  /** Integer inputs allowed (on the CPU); floats only when false. */
  integers?: boolean;
}

function unary(spec: UnarySpec): OpDefinition<Numbers> {
  const wgsl = spec.wgsl;
  return {
    opType: spec.opType,
    parseAttributes: ({ node }) => spec.attributes?.(new Attributes(node)) ?? {},
    inferTypes: (inputs, _attrs, ctx) => {
      const dtype = inputs[0]!.dtype;
      if (!spec.integers && !isFloat(dtype)) {
        throw new OpError(ctx.node, `${dtype} input is not supported (float types only)`);
      }
      return sameAsFirst(inputs);
    },
    cpu: ([x], a, ctx) => {
      if (!spec.integers && !isFloat(x!.dtype)) {
        throw new OpError(ctx.node, `${x!.dtype} input is not supported (float types only)`);
      }
      const values = x!.toNumbers();
      return [
        Tensor.fromNumbers(
          x!.dtype,
          x!.shape,
          values.map(v => spec.cpu(v, a))
        )
      ];
    },
    webgpu: wgsl && {
      halfStorage: true,
      run: (ctx, [x], _host, a) => [
        broadcastKernel(
          ctx,
          spec.opType,
          [x!],
          x!.dtype,
          wgsl(a).replace(/\bx\b/g, 'v0'),
          spec.helpers
        )
      ]
    }
  };
}

const alpha = (fallback: number) => (a: Attributes) => ({ alpha: a.float('alpha', fallback) });

const UNARY_SPECS: readonly UnarySpec[] = [
  { opType: 'Relu', cpu: x => Math.max(x, 0), wgsl: () => 'max(x, 0.0)', integers: true },
  {
    opType: 'LeakyRelu',
    attributes: alpha(0.01),
    cpu: (x, a) => (x >= 0 ? x : a.alpha * x),
    wgsl: a => `select(${f32Literal(a.alpha)} * x, x, x >= 0.0)`
  },
  {
    opType: 'Elu',
    attributes: alpha(1),
    cpu: (x, a) => (x >= 0 ? x : a.alpha * (Math.exp(x) - 1)),
    wgsl: a => `select(${f32Literal(a.alpha)} * (exp(x) - 1.0), x, x >= 0.0)`
  },
  {
    opType: 'Selu',
    attributes: a => ({
      alpha: a.float('alpha', 1.67326319217681884765625),
      gamma: a.float('gamma', 1.05070102214813232421875)
    }),
    cpu: (x, a) => a.gamma * (x > 0 ? x : a.alpha * (Math.exp(x) - 1)),
    wgsl: a =>
      `${f32Literal(a.gamma)} * select(${f32Literal(a.alpha)} * (exp(x) - 1.0), x, x > 0.0)`
  },
  {
    opType: 'Celu',
    attributes: alpha(1),
    cpu: (x, a) => Math.max(0, x) + Math.min(0, a.alpha * (Math.exp(x / a.alpha) - 1)),
    wgsl: a =>
      `max(0.0, x) + min(0.0, ${f32Literal(a.alpha)} * (exp(x / ${f32Literal(a.alpha)}) - 1.0))`
  },
  {
    opType: 'ThresholdedRelu',
    attributes: alpha(1),
    cpu: (x, a) => (x > a.alpha ? x : 0),
    wgsl: a => `select(0.0, x, x > ${f32Literal(a.alpha)})`
  },
  {
    opType: 'Sigmoid',
    cpu: x => 1 / (1 + Math.exp(-x)),
    wgsl: () => '1.0 / (1.0 + exp(-x))'
  },
  {
    opType: 'HardSigmoid',
    attributes: a => ({ alpha: a.float('alpha', 0.2), beta: a.float('beta', 0.5) }),
    cpu: (x, a) => Math.min(1, Math.max(0, a.alpha * x + a.beta)),
    wgsl: a => `clamp(${f32Literal(a.alpha)} * x + ${f32Literal(a.beta)}, 0.0, 1.0)`
  },
  {
    opType: 'HardSwish',
    cpu: x => x * Math.min(1, Math.max(0, x / 6 + 0.5)),
    wgsl: () => 'x * clamp(x / 6.0 + 0.5, 0.0, 1.0)'
  },
  { opType: 'Tanh', cpu: Math.tanh, wgsl: () => 'tanh_safe(x)', helpers: WGSL_TANH },
  { opType: 'Erf', cpu: erf, wgsl: () => 'erf_approx(x)', helpers: WGSL_ERF },
  {
    opType: 'Gelu',
    attributes: a => {
      const approximate = a.string('approximate', 'none');
      if (approximate !== 'none' && approximate !== 'tanh') {
        throw a.invalid('approximate', `must be 'none' or 'tanh', got '${approximate}'`);
      }
      return { tanh: approximate === 'tanh' ? 1 : 0 };
    },
    cpu: (x, a) =>
      a.tanh
        ? 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)))
        : 0.5 * x * (1 + erf(x / Math.SQRT2)),
    wgsl: a =>
      a.tanh
        ? '0.5 * x * (1.0 + tanh_safe(0.7978845608 * (x + 0.044715 * x * x * x)))'
        : '0.5 * x * (1.0 + erf_approx(x * 0.7071067811865476))',
    helpers: WGSL_ERF + WGSL_TANH
  },
  {
    opType: 'Softplus',
    cpu: x => (x > 20 ? x : Math.log1p(Math.exp(x))),
    wgsl: () => 'select(log(1.0 + exp(x)), x, x > 20.0)'
  },
  { opType: 'Softsign', cpu: x => x / (1 + Math.abs(x)), wgsl: () => 'x / (1.0 + abs(x))' },
  {
    opType: 'Mish',
    cpu: x => x * Math.tanh(x > 20 ? x : Math.log1p(Math.exp(x))),
    wgsl: () => 'x * tanh_safe(select(log(1.0 + exp(x)), x, x > 20.0))',
    helpers: WGSL_TANH
  },
  { opType: 'Sqrt', cpu: Math.sqrt, wgsl: () => 'sqrt(x)' },
  { opType: 'Reciprocal', cpu: x => 1 / x, wgsl: () => '1.0 / x' },
  { opType: 'Neg', cpu: x => -x, wgsl: () => '-x', integers: true },
  { opType: 'Abs', cpu: Math.abs, wgsl: () => 'abs(x)', integers: true },
  { opType: 'Sign', cpu: Math.sign, wgsl: () => 'sign(x)', integers: true },
  { opType: 'Exp', cpu: Math.exp, wgsl: () => 'exp(x)' },
  { opType: 'Log', cpu: Math.log, wgsl: () => 'log(x)' },
  { opType: 'Floor', cpu: Math.floor, wgsl: () => 'floor(x)' },
  { opType: 'Ceil', cpu: Math.ceil, wgsl: () => 'ceil(x)' },
  { opType: 'Round', cpu: roundHalfEven, wgsl: () => 'round(x)' },
  { opType: 'Sin', cpu: Math.sin, wgsl: () => 'sin(x)' },
  { opType: 'Cos', cpu: Math.cos, wgsl: () => 'cos(x)' }
];

const unaryOps = UNARY_SPECS.map(unary);

/** The math of the unary op `opType`, for kernels that fuse it into another layer. */
export function unarySpec(opType: string): UnarySpec | undefined {
  return UNARY_SPECS.find(spec => spec.opType === opType);
}

// --- broadcasting binary and variadic ops ------------------------------------------

interface BroadcastSpec {
  opType: string;
  cpu: (values: number[], dtype: DataType, a: Numbers) => number;
  /** WGSL expression over `a` and `b` (f32), or undefined for CPU only. */
  wgsl?: (a: Numbers) => string;
  helpers?: string;
  attributes?: (a: Attributes) => Numbers;
  /** Output element type; the first input's by default. */
  output?: 'bool';
  /** Accepted input types; any numeric type by default. */
  inputs?: 'bool';
  variadic?: boolean;
  /**
   * The GPU kernel also runs on integer types: i32 / u32 arithmetic, wrapped back into
   * narrower types' ranges as the CPU reference's typed arrays wrap.
   */
  integers?: boolean;
  /** Operands are converted to f32 before the expression (Pow of a float by an integer). */
  floatOperands?: boolean;
}

function truncateIfInteger(value: number, dtype: DataType): number {
  return isInteger(dtype) ? Math.trunc(value) : value;
}

function broadcastOp(spec: BroadcastSpec): OpDefinition<Numbers> {
  const expression = spec.wgsl;
  const checkTypes = (dtypes: DataType[], ctx: OpContext) => {
    if (dtypes.some(d => d !== dtypes[0])) {
      throw new OpError(ctx.node, `inputs must share one type, got ${dtypes.join(' and ')}`);
    }
    if (spec.inputs === 'bool' && dtypes[0] !== 'bool') {
      throw new OpError(ctx.node, `inputs must be bool, got ${dtypes[0]}`);
    }
  };
  return {
    opType: spec.opType,
    parseAttributes: ({ node }) => spec.attributes?.(new Attributes(node)) ?? {},
    inferTypes: (inputs, _a, ctx) => {
      const present = inputs.filter(i => i) as InferInput[];
      if (spec.opType !== 'PRelu' && spec.opType !== 'Pow') {
        checkTypes(
          present.map(i => i.dtype),
          ctx
        );
      }
      return broadcastType(present, ctx, spec.output ?? present[0].dtype);
    },
    cpu: (inputs, a, ctx) => {
      const present = inputs.filter(i => i) as Tensor[];
      if (spec.opType !== 'PRelu' && spec.opType !== 'Pow') {
        checkTypes(
          present.map(t => t.dtype),
          ctx
        );
      }
      const dtype = present[0].dtype;
      try {
        return [
          mapBroadcast(present, spec.output ?? dtype, values =>
            truncateIfInteger(spec.cpu(values, dtype, a), spec.output ?? dtype)
          )
        ];
      } catch (error) {
        throw new OpError(ctx.node, (error as Error).message);
      }
    },
    webgpu: expression && {
      halfStorage: true,
      unsupported: dtypes => {
        const present = dtypes.filter(d => d !== undefined) as DataType[];
        const accepted = (d: DataType, i: number) =>
          spec.inputs === 'bool'
            ? d === 'bool'
            : computesAsFloat(d) ||
              (d !== 'bool' && (spec.integers || (spec.floatOperands && i > 0)));
        const other = present.find((d, i) => !accepted(d, i));
        return other ? `${other} inputs run on the CPU` : null;
      },
      run: (ctx, inputs, _host, a) => {
        const present = inputs.filter(i => i) as GpuTensor[];
        const outDtype = spec.output ?? present[0].dtype;
        const boolean = spec.inputs === 'bool';
        const operand = (i: number) =>
          boolean ? `(v${i} != 0u)` : spec.floatOperands ? `f32(v${i})` : `v${i}`;
        let body: string;
        if (spec.variadic) {
          body = present
            .map((_, i) => operand(i))
            .reduce((acc, v) => expression(a).replace(/\ba\b/g, acc).replace(/\bb\b/g, v));
          if (spec.opType === 'Mean') {
            body = `(${body}) / ${f32Literal(present.length)}`;
          }
        } else {
          body = expression(a).replace(/\ba\b/g, operand(0)).replace(/\bb\b/g, operand(1));
        }
        if (outDtype === 'bool') {
          body = `select(0u, 1u, ${body})`;
        } else if (!computesAsFloat(outDtype)) {
          body = wrapInteger(body, outDtype);
        }
        return [broadcastKernel(ctx, spec.opType, present, outDtype, body, spec.helpers)];
      }
    }
  };
}

function integerDivide(a: number, b: number): number {
  return b === 0 ? 0 : Math.trunc(a / b);
}

const binaryOps = [
  broadcastOp({ integers: true, opType: 'Add', cpu: ([a, b]) => a + b, wgsl: () => '(a + b)' }),
  broadcastOp({ integers: true, opType: 'Sub', cpu: ([a, b]) => a - b, wgsl: () => '(a - b)' }),
  broadcastOp({ integers: true, opType: 'Mul', cpu: ([a, b]) => a * b, wgsl: () => '(a * b)' }),
  broadcastOp({
    integers: true,
    opType: 'Div',
    cpu: ([a, b], dtype) => (isInteger(dtype) ? integerDivide(a, b) : a / b),
    wgsl: () => '(a / b)'
  }),
  broadcastOp({
    opType: 'Pow',
    floatOperands: true,
    cpu: ([a, b]) => (b === 0 ? 1 : Math.pow(a, b)),
    wgsl: () => 'pow_real(a, b)',
    helpers: WGSL_POW
  }),
  broadcastOp({
    opType: 'Mod',
    attributes: a => ({ fmod: a.int('fmod', 0) }),
    cpu: ([a, b], _dtype, attrs) => {
      if (attrs.fmod) {
        return a % b;
      }
      const r = a % b;
      return r !== 0 && r < 0 !== b < 0 ? r + b : r;
    }
  }),
  broadcastOp({
    opType: 'PRelu',
    cpu: ([x, slope]) => (x < 0 ? slope * x : x),
    wgsl: () => 'select(a, b * a, a < 0.0)'
  }),
  broadcastOp({
    integers: true,
    opType: 'Equal',
    cpu: ([a, b]) => +(a === b),
    wgsl: () => '(a == b)',
    output: 'bool'
  }),
  broadcastOp({
    integers: true,
    opType: 'Less',
    cpu: ([a, b]) => +(a < b),
    wgsl: () => '(a < b)',
    output: 'bool'
  }),
  broadcastOp({
    integers: true,
    opType: 'Greater',
    cpu: ([a, b]) => +(a > b),
    wgsl: () => '(a > b)',
    output: 'bool'
  }),
  broadcastOp({
    integers: true,
    opType: 'LessOrEqual',
    cpu: ([a, b]) => +(a <= b),
    wgsl: () => '(a <= b)',
    output: 'bool'
  }),
  broadcastOp({
    integers: true,
    opType: 'GreaterOrEqual',
    cpu: ([a, b]) => +(a >= b),
    wgsl: () => '(a >= b)',
    output: 'bool'
  }),
  broadcastOp({
    opType: 'And',
    cpu: ([a, b]) => +(a && b),
    wgsl: () => '(a && b)',
    output: 'bool',
    inputs: 'bool'
  }),
  broadcastOp({
    opType: 'Or',
    cpu: ([a, b]) => +(a || b),
    wgsl: () => '(a || b)',
    output: 'bool',
    inputs: 'bool'
  }),
  broadcastOp({
    opType: 'Xor',
    cpu: ([a, b]) => +(!a !== !b),
    wgsl: () => '(a != b)',
    output: 'bool',
    inputs: 'bool'
  }),
  broadcastOp({
    integers: true,
    opType: 'Min',
    cpu: v => Math.min(...v),
    wgsl: () => 'min(a, b)',
    variadic: true
  }),
  broadcastOp({
    integers: true,
    opType: 'Max',
    cpu: v => Math.max(...v),
    wgsl: () => 'max(a, b)',
    variadic: true
  }),
  broadcastOp({
    integers: true,
    opType: 'Sum',
    cpu: v => v.reduce((s, x) => s + x, 0),
    wgsl: () => '(a + b)',
    variadic: true
  }),
  broadcastOp({
    opType: 'Mean',
    cpu: v => v.reduce((s, x) => s + x, 0) / v.length,
    wgsl: () => '(a + b)',
    variadic: true
  })
];

// --- Not, Where, Clip, Cast -------------------------------------------------------

const not: OpDefinition<Numbers> = {
  opType: 'Not',
  parseAttributes: () => ({}),
  inferTypes: inputs => [{ dtype: 'bool', shape: inputs[0]!.shape }],
  cpu: ([x]) => [
    Tensor.fromNumbers(
      'bool',
      x!.shape,
      x!.toNumbers().map(v => +!v)
    )
  ],
  webgpu: {
    halfStorage: true,
    unsupported: ([d]) => (d === 'bool' ? null : `${d} input is not bool`),
    run: (ctx, [x]) => [broadcastKernel(ctx, 'Not', [x!], 'bool', 'select(1u, 0u, v0 != 0u)')]
  }
};

const where: OpDefinition<Numbers> = {
  opType: 'Where',
  parseAttributes: () => ({}),
  inferTypes: (inputs, _a, ctx) => broadcastType(inputs, ctx, inputs[1]!.dtype),
  cpu: ([condition, x, y], _a, ctx) => {
    try {
      return [mapBroadcast([condition!, x!, y!], x!.dtype, ([c, a, b]) => (c ? a : b))];
    } catch (error) {
      throw new OpError(ctx.node, (error as Error).message);
    }
  },
  webgpu: {
    halfStorage: true,
    unsupported: ([c, x, y]) =>
      c !== 'bool'
        ? `condition must be bool, got ${c}`
        : x !== y
          ? `values of two types (${x}, ${y}) run on the CPU`
          : null,
    run: (ctx, [c, x, y]) => [
      broadcastKernel(ctx, 'Where', [c!, x!, y!], x!.dtype, 'select(v2, v1, v0 != 0u)')
    ]
  }
};

/** Clip's bounds: attributes before opset 11, optional inputs from 11 on. */
interface ClipAttributes {
  min?: number;
  max?: number;
  fromInputs: boolean;
}

function clipBounds(attrs: ClipAttributes, inputs: (Tensor | undefined)[]): [number, number] {
  if (!attrs.fromInputs) {
    return [attrs.min ?? -Infinity, attrs.max ?? Infinity];
  }
  const bound = (t: Tensor | undefined, fallback: number) =>
    t && t.size > 0 ? t.toNumbers()[0] : fallback;
  return [bound(inputs[1], -Infinity), bound(inputs[2], Infinity)];
}

const clip: OpDefinition<ClipAttributes> = {
  opType: 'Clip',
  parseAttributes: ({ node, opset }) => {
    const a = new Attributes(node);
    return opset < 11
      ? { fromInputs: false, min: a.float('min'), max: a.float('max') }
      : { fromInputs: true };
  },
  hostInputs: attrs => (attrs.fromInputs ? [1, 2] : []),
  inferTypes: inputs => sameAsFirst(inputs),
  cpu: (inputs, attrs) => {
    const x = inputs[0]!;
    const [lo, hi] = clipBounds(attrs, inputs);
    return [
      Tensor.fromNumbers(
        x.dtype,
        x.shape,
        x.toNumbers().map(v => Math.min(Math.max(v, lo), hi))
      )
    ];
  },
  webgpu: {
    halfStorage: true,
    unsupported: ([dtype]) => (dtype === 'bool' ? 'bool input is not numeric' : null),
    run: (ctx, [x], host, attrs) => {
      const [lo, hi] = clipBounds(attrs, host);
      const literal = (bound: number) => storageLiteral(x!.dtype, bound);
      return [
        broadcastKernel(ctx, 'Clip', [x!], x!.dtype, `min(max(v0, ${literal(lo)}), ${literal(hi)})`)
      ];
    }
  }
};

/** Converts values as ONNX Cast does (float to integer truncates toward zero). */
export function castTensor(x: Tensor, to: DataType): Tensor {
  if (x.dtype === to) {
    return x;
  }
  return Tensor.fromNumbers(to, x.shape, x.toNumbers());
}

const cast: OpDefinition<{ to: DataType }> = {
  opType: 'Cast',
  parseAttributes: ({ node }) => {
    const a = new Attributes(node);
    const code = a.int('to');
    if (code === undefined) {
      throw a.invalid('to', 'is required');
    }
    const to = dataTypeFromOnnx(code);
    if (!to) {
      throw a.invalid('to', `names type code ${code}, which the engine does not support`);
    }
    return { to };
  },
  inferTypes: (inputs, a) => [{ dtype: a.to, shape: inputs[0]!.shape }],
  cpu: ([x], a) => [castTensor(x!, a.to)],
  webgpu: {
    halfStorage: true,
    // Every type the GPU stores converts to every other (see castExpression).
    unsupported: () => null,
    run: (ctx, [x], _host, a) => [
      broadcastKernel(ctx, 'Cast', [x!], a.to, castExpression(x!.dtype, a.to))
    ]
  }
};

/** WGSL converting `v0` from the storage of `from` to that of `to`, as the CPU cast does. */
function castExpression(from: DataType, to: DataType): string {
  const source = storageType(from);
  if (to === 'bool') {
    return `select(0u, 1u, v0 != ${source}(0))`;
  }
  switch (storageType(to)) {
    case 'f32':
      return 'f32(v0)';
    case 'u32':
      // Through i32 so that negative values wrap as a Uint32Array store wraps them.
      return source === 'f32' ? 'bitcast<u32>(i32(v0))' : 'bitcast<u32>(v0)';
    case 'i32':
      return wrapInteger(source === 'u32' ? 'bitcast<i32>(v0)' : 'i32(v0)', to);
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const elementwiseOps: OpDefinition<any>[] = [
  ...unaryOps,
  ...binaryOps,
  not,
  where,
  clip,
  cast
];
