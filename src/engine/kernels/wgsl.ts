/**
 * Small pieces of WGSL that every kernel generator needs: bindings, a 1-D grid that
 * covers any element count within the 65535-workgroups-per-dimension limit, index
 * arithmetic with shapes baked in as constants, and literals.
 */
import { stridesOf } from '../ir/tensor';
import { DataType } from '../ir/dtype';
import { GpuTensor, storageType, tensorStorage, WgslStorageType } from './context';

export const WORKGROUP_SIZE = 64;
const MAX_WORKGROUPS_PER_DIMENSION = 65535;

/** `@group(0) @binding(i) var<storage, ...> name: array<type>;` */
export function binding(
  index: number,
  name: string,
  type: WgslStorageType,
  access: 'read' | 'read_write'
): string {
  return `@group(0) @binding(${index}) var<storage, ${access}> ${name}: array<${type}>;`;
}

/** Declarations for read-only inputs followed by writable outputs, bound in that order. */
export function bindings(
  inputs: readonly [string, GpuTensor][],
  outputs: readonly [string, GpuTensor][]
): string {
  const lines = inputs.map(([name, t], i) => binding(i, name, wgslType(t), 'read'));
  outputs.forEach(([name, t], i) =>
    lines.push(binding(inputs.length + i, name, wgslType(t), 'read_write'))
  );
  return lines.join('\n');
}

export function wgslType(tensor: Pick<GpuTensor, 'dtype' | 'storage'>): WgslStorageType {
  return tensorStorage(tensor);
}

/**
 * An f32 expression of a float element of `tensor` read by `access` (e.g. 'x[i]'): kernels
 * that declare `halfStorage` compute in f32 whatever their tensors are stored as.
 */
export function readFloat(tensor: Pick<GpuTensor, 'dtype' | 'storage'>, access: string): string {
  return tensorStorage(tensor) === 'f16' ? `f32(${access})` : access;
}

/**
 * The value to store for the f32 expression `value` into a float element of `tensor`:
 * converted to f16 for f16 storage, and rounded to the nearest float16 for a float16 tensor
 * stored as f32, so that an FP16 layer rounds its outputs alike on every device.
 */
export function writeFloat(tensor: Pick<GpuTensor, 'dtype' | 'storage'>, value: string): string {
  if (tensorStorage(tensor) === 'f16') {
    return `f16(${value})`;
  }
  return tensor.dtype === 'float16' ? roundToHalf(value) : value;
}

/**
 * An f32 expression of the f32 expression `value` rounded to the nearest float16 (ties to
 * even, subnormals kept, overflow to infinity), as IEEE conversion rounds. WGSL's
 * quantizeToF16 does not promise that: SwiftShader's truncates toward zero and flushes
 * subnormals, a bias that builds up over the layers of a network.
 */
export function roundToHalf(value: string): string {
  return `round_to_f16(${value})`;
}

/** See roundToHalf; put in front of the shaders that call it by withPrelude. */
const ROUND_TO_F16 = `fn round_to_f16(x: f32) -> f32 {
  let magnitude = abs(x);
  if (magnitude < 6.103515625e-5) {
    // Below the smallest normal float16 its values are the multiples of 2^-24.
    return round(x * 16777216.0) / 16777216.0;
  }
  let bits = bitcast<u32>(x);
  if (magnitude >= 65520.0) {
    return bitcast<f32>((bits & 0x80000000u) | 0x7f800000u);
  }
  if (magnitude != magnitude) {
    return x;
  }
  // Keep 10 of the 23 fraction bits, ties to even; a carry moves into the exponent.
  return bitcast<f32>((bits + 0xfffu + ((bits >> 13u) & 1u)) & 0xffffe000u);
}`;

/** Workgroup counts for `count` invocations of WORKGROUP_SIZE threads, folded into 2-D. */
export function linearGrid(count: number): [number, number] {
  const groups = Math.max(1, Math.ceil(count / WORKGROUP_SIZE));
  const x = Math.min(groups, MAX_WORKGROUPS_PER_DIMENSION);
  return [x, Math.ceil(groups / x)];
}

/**
 * A compute entry point running `body` once per index in [0, count), with the index in
 * the u32 `index`. Pair with `linearGrid(count)`.
 */
export function linearMain(count: number, body: string): string {
  return `@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let index = gid.x + gid.y * nwg.x * ${WORKGROUP_SIZE}u;
  if (index >= ${count}u) {
    return;
  }
${body}
}`;
}

/**
 * Statements that split the flat row-major `index` of `shape` into u32 coordinates
 * `${prefix}0`, `${prefix}1`, ...
 */
export function coordinates(index: string, shape: readonly number[], prefix: string): string {
  const strides = stridesOf(shape);
  return shape
    .map((dim, axis) => {
      const quotient = strides[axis] === 1 ? index : `(${index} / ${strides[axis]}u)`;
      const value = axis === 0 ? quotient : `${quotient} % ${dim}u`;
      return `  let ${prefix}${axis} = ${value};`;
    })
    .join('\n');
}

/**
 * The flat offset into a tensor of `shape` that numpy broadcasting reads for the output
 * coordinates `${prefix}*` of a tensor of rank `outRank`.
 */
export function broadcastOffset(shape: readonly number[], outRank: number, prefix: string): string {
  const strides = stridesOf(shape);
  const shift = outRank - shape.length;
  const terms = shape
    .map((dim, axis) =>
      dim === 1
        ? ''
        : strides[axis] === 1
          ? `${prefix}${axis + shift}`
          : `${prefix}${axis + shift} * ${strides[axis]}u`
    )
    .filter(term => term !== '');
  return terms.length ? terms.join(' + ') : '0u';
}

/**
 * WGSL rejects infinities and NaN in constant expressions (and has no literal for
 * them), so `f32Literal` spells them as calls of this function, which the executor puts
 * in front of every shader (see `withPrelude`): a call of a user function is evaluated
 * at run time.
 */
const PRELUDE = 'fn f32_from_bits(bits: u32) -> f32 { return bitcast<f32>(bits); }';

/** A WGSL `enable` directive on a line of its own. */
const ENABLE_DIRECTIVE = /^[ \t]*enable\s+[\w\s,]+;[ \t]*\n?/gm;

/**
 * `code` with what every shader may need in front of it: the f16 extension where it names
 * f16 (and has not enabled it itself), and f32_from_bits and round_to_f16 where it calls
 * them. The code's own `enable` directives (e.g. `enable subgroups;`) are moved first, as
 * WGSL wants them before any declaration.
 */
export function withPrelude(code: string): string {
  const enableF16 = /\bf16\b/.test(code) && !/^\s*enable\s+f16\s*;/m.test(code);
  const directives = (code.match(ENABLE_DIRECTIVE) ?? []).map(line => `${line.trim()}\n`);
  const helpers = [
    code.includes('f32_from_bits(') ? PRELUDE : '',
    code.includes('round_to_f16(') ? ROUND_TO_F16 : ''
  ].filter(helper => helper);
  const prelude = helpers.map(helper => `${helper}\n`).join('');
  const body = code.replace(ENABLE_DIRECTIVE, '');
  return `${enableF16 ? 'enable f16;\n' : ''}${directives.join('')}${prelude}${body}`;
}

/** A WGSL f32 expression for any JavaScript number, infinities and NaN included. */
export function f32Literal(value: number): string {
  if (Number.isNaN(value)) {
    return 'f32_from_bits(0x7fc00000u)';
  }
  if (value === Infinity) {
    return 'f32_from_bits(0x7f800000u)';
  }
  if (value === -Infinity) {
    return 'f32_from_bits(0xff800000u)';
  }
  const f = Math.fround(value);
  if (f !== 0 && Math.abs(f) < 1.1754943508222875e-38) {
    // Subnormals are rejected as literals by some compilers; spell them by their bits.
    const bits = new Uint32Array(new Float32Array([f]).buffer)[0];
    return `bitcast<f32>(0x${bits.toString(16)}u)`;
  }
  if (Math.abs(f) >= 3.4028234663852886e38) {
    return f > 0 ? 'bitcast<f32>(0x7f7fffffu)' : 'bitcast<f32>(0xff7fffffu)';
  }
  const text = f.toPrecision(9);
  return /[.e]/.test(text) ? `f32(${text})` : `f32(${text}.0)`;
}

/** A WGSL literal of `value` in the storage type of `dtype`, clamped into its range. */
export function storageLiteral(dtype: DataType, value: number): string {
  switch (storageType(dtype)) {
    case 'f32':
      return f32Literal(value);
    case 'u32':
      if (dtype === 'bool') {
        return value ? '1u' : '0u';
      }
      return `${Math.trunc(Math.min(Math.max(value, 0), 4294967295))}u`;
    case 'i32': {
      const v = Math.trunc(Math.min(Math.max(value, -2147483648), 2147483647));
      // 2147483648i does not exist, so the smallest i32 is spelled as a difference.
      return v === -2147483648 ? '(-2147483647i - 1i)' : `${v}i`;
    }
  }
}

/**
 * An i32 expression wrapped into the range of a narrower integer `dtype` (two's
 * complement, as typed arrays wrap on store); wider types pass through.
 */
export function wrapInteger(expression: string, dtype: DataType): string {
  switch (dtype) {
    case 'int8':
      return `((${expression}) << 24u) >> 24u`;
    case 'int16':
      return `((${expression}) << 16u) >> 16u`;
    case 'uint8':
      return `((${expression}) & 255i)`;
    case 'uint16':
      return `((${expression}) & 65535i)`;
    default:
      return expression;
  }
}
