import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { float16BitsToNumber, numberToFloat16Bits } from '../../src/engine/ir/dtype';
import {
  GemmBindingName,
  GemmEpilogue,
  GemmSpec,
  GemmTactic,
  gemmKernel,
  gemmKernels,
  gemmTactics,
  tacticFootprint
} from '../../src/engine/kernels/gemm';
import { dispatchNamedKernels } from '../helpers/dispatch';
import { testDevice } from '../helpers/gpu';
import { seededRandom } from '../helpers/random';

// --- harness: dispatch a generated kernel on the test device and read C back -------------

type Inputs = Partial<Record<GemmBindingName, number[]>>;

const isF16 = (spec: GemmSpec) => spec.precision === 'f16';

/** Bytes of `values` as the kernel stores them (native and packed f16 share one layout). */
function encode(
  spec: GemmSpec,
  values: number[],
  elements: number
): Uint16Array<ArrayBuffer> | Float32Array<ArrayBuffer> {
  // Room for whole vec4 reads, and a multiple of 4 bytes as buffers need.
  const padded = Math.ceil(Math.max(elements, 1) / 4) * 4;
  const array = isF16(spec) ? new Uint16Array(padded) : new Float32Array(padded);
  values.forEach((v, i) => (array[i] = isF16(spec) ? numberToFloat16Bits(v) : v));
  return array;
}

function decode(spec: GemmSpec, bytes: ArrayBuffer, elements: number): number[] {
  if (isF16(spec)) {
    return Array.from(new Uint16Array(bytes, 0, elements), float16BitsToNumber);
  }
  return Array.from(new Float32Array(bytes, 0, elements));
}

/** Runs every kernel of the spec; split K's workspace starts with garbage. */
async function runGemm(device: GPUDevice, spec: GemmSpec, inputs: Inputs): Promise<number[]> {
  const bytes = await dispatchNamedKernels(
    device,
    gemmKernels(spec),
    (name, elements) =>
      name === 'partial'
        ? new Float32Array(elements).fill(1e4)
        : encode(spec, inputs[name] ?? [], elements),
    'c'
  );
  return decode(spec, bytes, spec.M * spec.N * (spec.batch ?? 1));
}

// --- the float64 reference ---------------------------------------------------------------

/** Random values in [-2, 2), never zero, rounded to what the storage format holds. */
function randomValues(spec: GemmSpec, count: number, seed: number): number[] {
  const next = seededRandom(seed);
  return Array.from({ length: count }, () => {
    const v = -2 + 4 * next() || 0.5;
    return isF16(spec) ? float16BitsToNumber(numberToFloat16Bits(v)) : v;
  });
}

/** Each expected element with the scale its rounding error is measured against. */
function reference(
  spec: GemmSpec,
  inputs: Inputs,
  activation: (x: number) => number
): { value: number; scale: number }[] {
  const { M, N, K, batch = 1, alpha = 1, epilogue = {} } = spec;
  const strideA = spec.batchStrideA ?? M * K;
  const strideB = spec.batchStrideB ?? K * N;
  const a = inputs.a!;
  const b = inputs.b!;
  const out: { value: number; scale: number }[] = [];
  for (let n = 0; n < batch; n++) {
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let sum = 0;
        let scale = 0;
        for (let k = 0; k < K; k++) {
          const av = a[n * strideA + (spec.transA ? k * M + i : i * K + k)];
          const bv = b[n * strideB + (spec.transB ? j * K + k : k * N + j)];
          sum += av * bv;
          scale += Math.abs(av * bv);
        }
        let value = alpha * sum;
        scale *= Math.abs(alpha);
        const added: number[] = [];
        if (epilogue.bias) {
          added.push(inputs.bias![{ row: j, col: i, scalar: 0 }[epilogue.bias]]);
        }
        if (epilogue.residual) {
          added.push(inputs.residual![(n * M + i) * N + j]);
        }
        for (const v of added) {
          value += v;
          scale += Math.abs(v);
        }
        out.push({ value: activation(value), scale });
      }
    }
  }
  return out;
}

const relu = { wgsl: 'max(x, 0.0)', js: (x: number) => Math.max(x, 0) };
const silu = { wgsl: 'x / (1.0 + exp(-x))', js: (x: number) => x / (1 + Math.exp(-x)) };

interface Case {
  spec: GemmSpec;
  activation?: { wgsl: string; js: (x: number) => number };
}

/** Tolerance relative to the sum of magnitudes each output is made of. */
function toleranceOf(spec: GemmSpec): number {
  if (spec.roundToF16) {
    return 2 ** -10;
  }
  if (!isF16(spec)) {
    return 1e-5;
  }
  // f16 output rounding (2^-11), doubled; f16 accumulation adds up to 2^-11 per term.
  return spec.accumulation === 'f16' ? 2 ** -11 * (spec.K + 2) : 2 ** -10;
}

async function check({ spec, activation }: Case): Promise<void> {
  const full: GemmSpec = activation
    ? { ...spec, epilogue: { ...spec.epilogue, activation: activation.wgsl } }
    : spec;
  const inputs: Inputs = {};
  // C starts with garbage too, so an element left unwritten (or half a packed word
  // cleared wrongly) shows.
  gemmKernels(full)
    .flatMap(kernel => kernel.bindings)
    .forEach(({ name, elements }, i) => {
      if (name !== 'partial') {
        inputs[name] = randomValues(full, elements, 17 + i * 101 + elements);
      }
    });
  const actual = await runGemm(await testDevice(), full, inputs);
  const expected = reference(full, inputs, activation?.js ?? (x => x));
  const tolerance = toleranceOf(full);
  let worst = { index: -1, error: 0 };
  expected.forEach(({ value, scale }, index) => {
    const error = Math.abs(actual[index] - value) / Math.max(scale, 1e-6);
    if (!(error <= worst.error)) {
      worst = { index, error };
    }
  });
  const { index } = worst;
  assert.ok(
    worst.error <= tolerance,
    `element ${index} (batch-row-col ${Math.floor(index / (spec.M * spec.N))}-` +
      `${Math.floor(index / spec.N) % spec.M}-${index % spec.N}): got ${actual[index]}, ` +
      `expected ${expected[index]?.value}; error ${worst.error} of its scale exceeds ${tolerance}`
  );
}

// --- cases -------------------------------------------------------------------------------

const f32 = { precision: 'f32' } as const;
const packed = { precision: 'f16', f16Storage: 'packed' } as const;

const tactic = (
  tileM: number,
  tileN: number,
  tileK: number,
  threadM: number,
  threadN: number,
  vector: 1 | 4
): GemmTactic => ({ tileM, tileN, tileK, threadM, threadN, vector });

const VEC4 = tactic(32, 32, 16, 4, 4, 4);
const SCALAR = tactic(16, 16, 8, 2, 2, 1);
const TACTICS = [
  SCALAR,
  tactic(32, 16, 4, 4, 1, 1),
  VEC4,
  tactic(64, 32, 8, 8, 4, 4),
  tactic(16, 64, 32, 4, 8, 4)
];

/** Odd sizes: every edge partial, no dimension a multiple of 4 (scalar storage access). */
const ODD = { M: 37, N: 19, K: 53 };
/** Multiples of 4 that still leave partial tiles (vec4 storage access). */
const ALIGNED = { M: 36, N: 20, K: 52 };

const name = (t: GemmTactic) =>
  `${t.tileM}x${t.tileN}x${t.tileK} tile, ${t.threadM}x${t.threadN} per thread, vec${t.vector}`;

describe('f32 GEMM matches a float64 product', () => {
  for (const t of TACTICS) {
    for (const [label, shape] of [
      ['37x19x53', ODD],
      ['36x20x52', ALIGNED]
    ] as const) {
      test(`${label}, ${name(t)}`, () => check({ spec: { ...f32, ...shape, tactic: t } }));
    }
  }

  test('every tactic gemmTactics offers for this device, 37x19x53 and 36x20x52', async () => {
    const device = await testDevice();
    const tactics = gemmTactics(device.limits, 512, 512, 512);
    assert.ok(tactics.length >= 3, `only ${tactics.length} tactics`);
    for (const t of tactics) {
      await check({ spec: { ...f32, ...ODD, tactic: t } });
      await check({ spec: { ...f32, ...ALIGNED, tactic: t } });
    }
  });

  test('K = 1', async () => {
    await check({ spec: { ...f32, M: 9, N: 7, K: 1, tactic: SCALAR } });
    await check({ spec: { ...f32, M: 8, N: 12, K: 1, tactic: VEC4 } });
    await check({ spec: { ...f32, M: 5, N: 8, K: 1, transA: true, tactic: VEC4 } });
  });

  test('a single element, 1x1x1', () =>
    check({ spec: { ...f32, M: 1, N: 1, K: 1, tactic: VEC4 } }));

  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      const label = `A${transA ? 'ᵀ' : ''} x B${transB ? 'ᵀ' : ''}`;
      for (const t of [SCALAR, VEC4]) {
        test(`${label}, 37x19x53 and 36x20x52, ${name(t)}`, async () => {
          await check({ spec: { ...f32, ...ODD, transA, transB, tactic: t } });
          await check({ spec: { ...f32, ...ALIGNED, transA, transB, tactic: t } });
        });
      }
    }
  }

  describe('batches', () => {
    const { M, N, K } = ALIGNED;
    for (const t of [SCALAR, VEC4]) {
      test(`3 batches, each operand its own, ${name(t)}`, () =>
        check({ spec: { ...f32, ...ODD, batch: 3, tactic: t } }));
      test(`A broadcast to 3 batches (batchStrideA 0), ${name(t)}`, () =>
        check({ spec: { ...f32, M, N, K, batch: 3, batchStrideA: 0, tactic: t } }));
      test(`B broadcast to 3 batches (batchStrideB 0), transposed B, ${name(t)}`, () =>
        check({
          spec: { ...f32, ...ODD, batch: 3, batchStrideB: 0, transB: true, tactic: t }
        }));
    }
    test('operands strided wider than one matrix', () =>
      check({
        spec: {
          ...f32,
          M,
          N,
          K,
          batch: 2,
          batchStrideA: M * K + 8,
          batchStrideB: K * N + 4,
          tactic: VEC4
        }
      }));
  });

  describe('epilogues', () => {
    const epilogues: [string, GemmEpilogue, Case['activation']?][] = [
      ['row bias', { bias: 'row' }],
      ['column bias', { bias: 'col' }],
      ['scalar bias', { bias: 'scalar' }],
      ['relu', {}, relu],
      ['silu', {}, silu],
      ['residual', { residual: true }],
      ['column bias, residual, relu', { bias: 'col', residual: true }, relu]
    ];
    for (const [label, epilogue, activation] of epilogues) {
      for (const t of [SCALAR, VEC4]) {
        test(`${label}, 2 batches of 37x19x53 and 36x20x52, ${name(t)}`, async () => {
          await check({ spec: { ...f32, ...ODD, batch: 2, tactic: t, epilogue }, activation });
          await check({ spec: { ...f32, ...ALIGNED, batch: 2, tactic: t, epilogue }, activation });
        });
      }
    }
    test('roundToF16 stores f32 outputs rounded to float16', async () => {
      for (const t of [SCALAR, VEC4]) {
        for (const shape of [ODD, ALIGNED]) {
          const spec: GemmSpec = { ...f32, ...shape, roundToF16: true, tactic: t };
          await check({ spec });
          const inputs = {
            a: randomValues(spec, shape.M * shape.K, 3),
            b: randomValues(spec, shape.K * shape.N, 4)
          };
          const c = await runGemm(await testDevice(), spec, inputs);
          assert.ok(c.every(v => float16BitsToNumber(numberToFloat16Bits(v)) === v));
        }
      }
    });
    test('alpha scales the product only, with row bias and residual', () =>
      check({
        spec: {
          ...f32,
          ...ALIGNED,
          alpha: -0.75,
          tactic: VEC4,
          epilogue: { bias: 'row', residual: true }
        }
      }));
  });
});

describe('split K: slices summed into C through the epilogue', () => {
  const split = (t: GemmTactic, splitK: number): GemmTactic => ({ ...t, splitK });
  for (const t of [SCALAR, VEC4]) {
    test(`37x19x53 and 36x20x52 in 3 slices, ${name(t)}`, async () => {
      await check({ spec: { ...f32, ...ODD, tactic: split(t, 3) } });
      await check({ spec: { ...f32, ...ALIGNED, tactic: split(t, 3) } });
    });
    test(`2 batches, alpha, column bias, residual and relu, ${name(t)}`, async () => {
      for (const shape of [ODD, ALIGNED]) {
        await check({
          spec: {
            ...f32,
            ...shape,
            batch: 2,
            alpha: 0.5,
            tactic: split(t, 4),
            epilogue: { bias: 'col', residual: true }
          },
          activation: relu
        });
      }
    });
  }
  test('packed f16 with a row bias, float16 rounding of f32 outputs', async () => {
    await check({
      spec: { ...packed, ...ODD, tactic: split(VEC4, 2), epilogue: { bias: 'row' } }
    });
    await check({ spec: { ...f32, ...ALIGNED, roundToF16: true, tactic: split(VEC4, 2) } });
  });
  test('more slices than K has tiles: no slice is empty', () =>
    check({ spec: { ...f32, M: 8, N: 8, K: 20, tactic: split(VEC4, 16) } }));
  test('gemmKernel refuses a split K, gemmKernels gives two kernels', () => {
    const spec: GemmSpec = { ...f32, ...ODD, tactic: split(VEC4, 2) };
    assert.throws(() => gemmKernel(spec), /needs gemmKernels/);
    assert.deepEqual(
      gemmKernels(spec).map(k => k.bindings.map(b => b.name)),
      [
        ['a', 'b', 'partial'],
        ['partial', 'c']
      ]
    );
  });
});

describe('f16 packed two per u32, f32 arithmetic, matches a float64 product of the f16 inputs', () => {
  const shapes = [
    ['37x19x53 (odd N: invocations share output words)', ODD],
    ['36x18x52 (even N: whole words per invocation)', { M: 36, N: 18, K: 52 }],
    ['36x20x52 (vec4 reads and writes)', ALIGNED]
  ] as const;
  for (const [label, shape] of shapes) {
    for (const t of [SCALAR, VEC4, tactic(64, 32, 8, 8, 4, 4)]) {
      test(`${label}, ${name(t)}`, () => check({ spec: { ...packed, ...shape, tactic: t } }));
    }
  }
  test('transposed operands, 3 batches with A broadcast', async () => {
    for (const t of [SCALAR, VEC4]) {
      for (const shape of [ODD, ALIGNED]) {
        await check({
          spec: {
            ...packed,
            ...shape,
            transA: true,
            transB: true,
            batch: 3,
            batchStrideA: 0,
            tactic: t
          }
        });
      }
    }
  });
  test('row bias, residual and silu, alpha 0.5', async () => {
    for (const t of [SCALAR, VEC4]) {
      for (const shape of [ODD, ALIGNED]) {
        await check({
          spec: {
            ...packed,
            ...shape,
            alpha: 0.5,
            batch: 2,
            tactic: t,
            epilogue: { bias: 'row', residual: true }
          },
          activation: silu
        });
      }
    }
  });
  test('K = 1', () => check({ spec: { ...packed, M: 7, N: 9, K: 1, tactic: VEC4 } }));
});

describe('f16 native (enable f16)', async () => {
  const device = await testDevice();
  const skip = device.features.has('shader-f16')
    ? false
    : "the adapter does not offer 'shader-f16' (SwiftShader never does)";
  const native = { precision: 'f16', f16Storage: 'native' } as const;
  for (const accumulation of ['f32', 'f16'] as const) {
    test(
      `${accumulation} accumulation, odd and aligned shapes, bias, residual, relu; runs only where the adapter offers 'shader-f16'`,
      { skip },
      async () => {
        for (const t of [SCALAR, VEC4]) {
          for (const shape of [ODD, ALIGNED]) {
            await check({ spec: { ...native, ...shape, accumulation, tactic: t } });
            await check({
              spec: {
                ...native,
                ...shape,
                accumulation,
                batch: 2,
                tactic: t,
                epilogue: { bias: 'col', residual: true }
              },
              activation: relu
            });
          }
        }
      }
    );
  }
});

describe('gemmTactics', () => {
  const limits = {
    maxComputeWorkgroupStorageSize: 16384,
    maxComputeInvocationsPerWorkgroup: 256,
    maxComputeWorkgroupSizeX: 256,
    maxComputeWorkgroupSizeY: 256
  };

  test('offers only tactics within the workgroup storage and invocation limits', () => {
    const small = {
      ...limits,
      maxComputeWorkgroupStorageSize: 8192,
      maxComputeInvocationsPerWorkgroup: 64
    };
    const tactics = gemmTactics(small, 4096, 4096, 4096);
    assert.ok(tactics.length > 0);
    for (const t of tactics) {
      const { threadsX, threadsY, storageBytes } = tacticFootprint(t, 4);
      assert.ok(threadsX * threadsY <= 64, `${name(t)}: ${threadsX * threadsY} invocations`);
      assert.ok(storageBytes <= 8192, `${name(t)}: ${storageBytes} bytes`);
    }
    assert.ok(gemmTactics(limits, 4096, 4096, 4096).length > tactics.length);
  });

  test('drops tiles far larger than a small problem', () => {
    for (const t of gemmTactics(limits, 8, 4096, 4096)) {
      assert.ok(t.tileM <= 16, name(t));
    }
  });

  test('every tactic offered generates a kernel', () => {
    for (const t of gemmTactics(limits, 4096, 4096, 4096)) {
      assert.ok(
        gemmKernel({ ...f32, M: 4096, N: 4096, K: 4096, tactic: t }).code.includes('fn main')
      );
    }
  });
});

/** A 1-D convolution of 4 channels into 6 over 5 points, 3 wide, padded by 1. */
const CONV: GemmSpec['convolution'] = {
  images: 1,
  inChannels: 4,
  outChannels: 6,
  axes: [{ input: 5, output: 5, kernel: 3, stride: 1, dilation: 1, padBegin: 1 }]
};

describe('gemmKernel refuses what it cannot compute', () => {
  const base: GemmSpec = { ...f32, ...ODD, tactic: VEC4 };
  const cases: [string, GemmSpec, RegExp][] = [
    [
      'thread tile not dividing the tile',
      { ...base, tactic: tactic(32, 32, 8, 3, 4, 1) },
      /divide/
    ],
    [
      'vec4 with 2 columns per thread',
      { ...base, tactic: tactic(32, 32, 8, 4, 2, 4) },
      /divisible by 4/
    ],
    [
      'f16 accumulation on packed storage',
      { ...packed, ...ODD, accumulation: 'f16', tactic: VEC4 },
      /native/
    ],
    ['f16 without a storage choice', { ...base, precision: 'f16' }, /f16Storage/],
    ['a zero dimension', { ...base, K: 0 }, /K must be a positive integer/],
    [
      'packed f16 mixed with f32',
      { ...packed, ...ODD, bindingStorage: { c: 'f32' }, tactic: VEC4 },
      /does not mix/
    ],
    ['a convolution whose sizes are not M, N and K', { ...base, convolution: CONV }, /makes M 6/],
    [
      'a convolution on packed f16',
      { ...packed, M: 6, N: 5, K: 12, convolution: CONV, tactic: VEC4 },
      /not packed/
    ],
    [
      'a convolution with fewer invocations than tile columns',
      { ...f32, M: 6, N: 5, K: 12, convolution: CONV, tactic: tactic(16, 64, 32, 4, 8, 4) },
      /multiple of tileN 64/
    ]
  ];
  for (const [label, spec, message] of cases) {
    test(label, () => assert.throws(() => gemmKernel(spec), message));
  }
});
