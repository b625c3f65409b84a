import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sizeOf } from '../../src/engine/ir/tensor';
import {
  Int8GemmLayout,
  int8GemmKernels,
  Int8GemmTactic,
  int8GemmTacticName,
  int8GemmTactics,
  SubgroupMatrixSupport,
  subgroupMatrixSupport
} from '../../src/engine/kernels/int8-gemm';
import { activationMath } from '../../src/engine/ops/activation';
import type { Dp4aTactic } from '../../src/engine/kernels/int8-gemm';
import { resolveWindow } from '../../src/engine/ops/window';
import { testDevice } from '../helpers/gpu';
import { randomTensor } from '../helpers/random';
import {
  checkAgainstReference,
  Epilogue,
  epilogueActivation,
  epilogueInputs,
  floatForm,
  Storage
} from '../helpers/stored';

/** The tactics, asserting each is a dp4a one (no subgroup matrices were offered). */
function dp4aOnly(tactics: Int8GemmTactic[]): Dp4aTactic[] {
  return tactics.map(t => {
    assert.equal(t.kind, 'dp4a', int8GemmTacticName(t));
    return t as Dp4aTactic;
  });
}

// --- harness: one INT8 product on the test device against its op's CPU reference ----------

interface ConvLayer {
  kind: 'conv';
  x: number[];
  w: number[];
  attributes?: { group?: number; strides?: number[]; pads?: number[]; dilations?: number[] };
}

interface MatMulLayer {
  kind: 'matmul';
  a: number[];
  /** [K, N] */
  b: number[];
}

type Layer = ConvLayer | MatMulLayer;

/** A step that saturates some of X's values (|x| up to 2 quantizes to ±162 before clamping). */
const INPUT_SCALE = 0.0123;

/** The GEMM a layer is, as the kernels take it, and Y's shape. */
function productOf(layer: Layer): {
  M: number;
  N: number;
  K: number;
  batch: number;
  layout: Int8GemmLayout;
  yShape: number[];
} {
  if (layer.kind === 'matmul') {
    const [K, N] = layer.b;
    const M = sizeOf(layer.a) / K;
    return { M, N, K, batch: 1, layout: { kind: 'matmul' }, yShape: [...layer.a.slice(0, -1), N] };
  }
  const { x, w, attributes = {} } = layer;
  const group = attributes.group ?? 1;
  const axes = resolveWindow({ ...attributes, autoPad: 'NOTSET' }, x.slice(2), w.slice(2));
  const outputPoints = sizeOf(axes.map(a => a.output));
  return {
    M: w[0] / group,
    N: x[0] * outputPoints,
    K: sizeOf(w.slice(1)),
    batch: group,
    layout: {
      kind: 'convolution',
      convolution: { images: x[0], inChannels: x[1], outChannels: w[0], axes }
    },
    yShape: [x[0], w[0], ...axes.map(a => a.output)]
  };
}

let seed = 0;

/**
 * Runs `layer` with `tactic` (the default when absent) on the GPU and checks Y against the
 * Int8Conv / Int8MatMul CPU reference on the same random inputs; returns the tactic run.
 */
async function checkInt8(
  layer: Layer,
  epilogue: Epilogue,
  options: { tactic?: Int8GemmTactic; storage?: Storage } = {}
): Promise<Int8GemmTactic> {
  const device = await testDevice();
  const storage = options.storage ?? 'f32';
  const { dtype, stored } = floatForm(storage);
  const { yShape, ...product } = productOf(layer);
  const tactic =
    options.tactic ??
    int8GemmTactics(device.limits, { ...product, gathered: layer.kind === 'conv' })[0];
  const random = (shape: number[]) => randomTensor(shape, { dtype, seed: ++seed });
  const channels = yShape[layer.kind === 'conv' ? 1 : yShape.length - 1];
  const inputs = {
    x: random(layer.kind === 'conv' ? layer.x : layer.a),
    w: randomTensor(layer.kind === 'conv' ? layer.w : layer.b, {
      dtype: 'int8',
      low: -128,
      high: 128,
      seed: ++seed
    }),
    w_scale: randomTensor([channels], { low: 0.001, high: 0.02, seed: ++seed }),
    ...epilogueInputs(epilogue, channels, yShape, random)
  };
  const activation = epilogueActivation(epilogue);
  const kernels = int8GemmKernels({
    ...product,
    inputScale: INPUT_SCALE,
    tensors: {
      x: stored,
      w: { dtype: 'int8' },
      w_scale: { dtype: 'float32' },
      y: stored,
      bias: inputs.bias && stored,
      residual: inputs.residual && stored
    },
    activation: activation && activationMath(activation),
    tactic
  });
  await checkAgainstReference(device, kernels, inputs, {
    storage,
    yShape,
    workspace: elements => new Int32Array(elements).fill(12345),
    node: {
      opType: layer.kind === 'conv' ? 'Int8Conv' : 'Int8MatMul',
      domain: 'webtrt',
      inputs: [inputs.x, inputs.w, inputs.w_scale, inputs.bias, inputs.residual],
      attributes:
        layer.kind === 'conv'
          ? { ...layer.attributes, x_scale: INPUT_SCALE }
          : { a_scale: INPUT_SCALE }
    },
    activation,
    label: int8GemmTacticName(tactic)
  });
  return tactic;
}

// --- cases ---------------------------------------------------------------------------------

const LAYERS: [string, Layer][] = [
  ['conv 1x1, batch 2, odd points', { kind: 'conv', x: [2, 8, 5, 3], w: [6, 8, 1, 1] }],
  ['conv 1x1, K not a multiple of 4', { kind: 'conv', x: [1, 7, 4, 4], w: [8, 7, 1, 1] }],
  [
    'conv 1x1 stride 2',
    { kind: 'conv', x: [1, 5, 7, 7], w: [3, 5, 1, 1], attributes: { strides: [2, 2] } }
  ],
  [
    'conv 3x3 stride 2 pad 1, odd sizes',
    {
      kind: 'conv',
      x: [1, 5, 9, 7],
      w: [6, 5, 3, 3],
      attributes: { strides: [2, 2], pads: [1, 1, 1, 1] }
    }
  ],
  [
    'conv 3x2 dilation 2, asymmetric pads, batch 2',
    {
      kind: 'conv',
      x: [2, 3, 8, 7],
      w: [4, 3, 3, 2],
      attributes: { dilations: [2, 2], pads: [2, 1, 0, 2] }
    }
  ],
  [
    'conv grouped 3x3, 2 groups of 3 channels',
    {
      kind: 'conv',
      x: [2, 6, 6, 5],
      w: [8, 3, 3, 3],
      attributes: { group: 2, pads: [1, 1, 1, 1] }
    }
  ],
  [
    'conv depthwise 3x3 (runs, though the op declines it)',
    { kind: 'conv', x: [1, 4, 5, 5], w: [4, 1, 3, 3], attributes: { group: 4, pads: [1, 1, 1, 1] } }
  ],
  [
    // Channels in fours: K runs in blocks of four channels, each block tap by tap.
    'conv 3x3 stride 2 pad 1, channels in fours, batch 2',
    {
      kind: 'conv',
      x: [2, 8, 7, 6],
      w: [12, 8, 3, 3],
      attributes: { strides: [2, 2], pads: [1, 1, 1, 1] }
    }
  ],
  [
    'conv grouped 3x2 dilation 2, 2 groups of 4 channels',
    {
      kind: 'conv',
      x: [1, 8, 6, 7],
      w: [6, 4, 3, 2],
      attributes: { group: 2, dilations: [2, 1], pads: [2, 0, 1, 1] }
    }
  ],
  [
    'conv 1-D, stride 2, pads',
    { kind: 'conv', x: [2, 3, 9], w: [4, 3, 3], attributes: { strides: [2], pads: [1, 1] } }
  ],
  [
    'conv long K on a 3x3 map (K split)',
    { kind: 'conv', x: [1, 64, 3, 3], w: [4, 64, 3, 3], attributes: { pads: [1, 1, 1, 1] } }
  ],
  ['matmul 2-D', { kind: 'matmul', a: [9, 20], b: [20, 11] }],
  ['matmul with batch dims, K odd', { kind: 'matmul', a: [2, 3, 5, 13], b: [13, 6] }],
  ['matmul long K (K split)', { kind: 'matmul', a: [4, 600], b: [600, 8] }]
];

const ACTIVATIONS: [string, number[]][] = [
  ['Relu', []],
  ['Clip', [-0.5, 6]],
  ['HardSwish', []],
  ['Sigmoid', []]
];

/** Every tile shape the kernels offer somewhere, forced onto small problems. */
const TILES: Int8GemmTactic[] = [
  { kind: 'dp4a', tileM: 64, tileN: 64, tileK: 32, threadM: 4, threadN: 4 },
  { kind: 'dp4a', tileM: 128, tileN: 128, tileK: 32, threadM: 8, threadN: 8 },
  { kind: 'dp4a', tileM: 128, tileN: 64, tileK: 32, threadM: 8, threadN: 4 },
  { kind: 'dp4a', tileM: 64, tileN: 128, tileK: 32, threadM: 4, threadN: 8 },
  { kind: 'dp4a', tileM: 64, tileN: 64, tileK: 64, threadM: 8, threadN: 8 },
  { kind: 'dp4a', tileM: 32, tileN: 32, tileK: 64, threadM: 4, threadN: 4 },
  { kind: 'dp4a', tileM: 32, tileN: 16, tileK: 64, threadM: 4, threadN: 4 },
  { kind: 'dp4a', tileM: 16, tileN: 32, tileK: 64, threadM: 4, threadN: 4 },
  { kind: 'dp4a', tileM: 16, tileN: 16, tileK: 64, threadM: 4, threadN: 4 },
  { kind: 'dp4a', tileM: 16, tileN: 16, tileK: 16, threadM: 4, threadN: 4, splitK: 3 }
];

describe('INT8 GEMM kernels match the Int8Conv / Int8MatMul references', () => {
  for (const [label, layer] of LAYERS) {
    test(`${label}: every tactic offered, bias, residual and an activation`, async () => {
      const device = await testDevice();
      const tactics = int8GemmTactics(device.limits, {
        ...productOf(layer),
        gathered: layer.kind === 'conv'
      });
      assert.ok(tactics.length > 0);
      for (const [i, tactic] of tactics.entries()) {
        const activation = ACTIVATIONS[i % ACTIVATIONS.length];
        await checkInt8(layer, { bias: true, residual: true, activation }, { tactic });
      }
    });
    test(`${label}: no bias, residual or activation`, async () => {
      await checkInt8(layer, {});
    });
  }

  test('every tile shape on a grouped strided conv and a batched matmul', async () => {
    const conv = LAYERS.find(([label]) => label.startsWith('conv grouped'))![1];
    const matmul = LAYERS.find(([label]) => label.startsWith('matmul with batch'))![1];
    for (const tactic of TILES) {
      await checkInt8(conv, { bias: true, activation: ['Relu', []] }, { tactic });
      await checkInt8(matmul, { residual: true }, { tactic });
    }
  });

  test('long-K layers split K by default, and every slice counts', async () => {
    const device = await testDevice();
    for (const [label, layer] of LAYERS.filter(([label]) => label.includes('K split'))) {
      const [first] = int8GemmTactics(device.limits, {
        ...productOf(layer),
        gathered: layer.kind === 'conv'
      });
      assert.ok((first.splitK ?? 1) > 1, `${label}: ${int8GemmTacticName(first)}`);
      await checkInt8(layer, { bias: true, residual: true }, { tactic: first });
    }
  });

  test('float16 tensors in f32 storage are rounded to float16', async () => {
    for (const [, layer] of LAYERS) {
      await checkInt8(layer, { bias: true, residual: true }, { storage: 'float16 in f32' });
    }
  });
});

describe('INT8 GEMM kernels on native f16 storage', async () => {
  const device = await testDevice();
  const skip = device.features.has('shader-f16') ? false : 'needs shader-f16';
  test('every layer, bias, residual and Relu', { skip }, async () => {
    for (const [, layer] of LAYERS) {
      await checkInt8(
        layer,
        { bias: true, residual: true, activation: ['Relu', []] },
        { storage: 'f16' }
      );
    }
  });
});

describe('INT8 GEMM kernels on i8 subgroup matrices', async () => {
  const device = await testDevice();
  const support = subgroupMatrixSupport(device);
  const skip = support
    ? false
    : 'needs i8 subgroup matrices (chromium-experimental-subgroup-matrix with an i8 -> i32 config)';
  test(
    'every layer with every subgroup matrix tactic, bias, residual and Relu',
    { skip },
    async () => {
      for (const [, layer] of LAYERS) {
        const tactics = int8GemmTactics(
          device.limits,
          { ...productOf(layer), gathered: layer.kind === 'conv' },
          support
        ).filter(t => t.kind === 'subgroupMatrix');
        for (const tactic of tactics) {
          await checkInt8(
            layer,
            { bias: true, residual: true, activation: ['Relu', []] },
            { tactic }
          );
        }
      }
    }
  );
  test(
    'forced tiles on a grouped conv and a batched matmul, f32 and float16',
    { skip },
    async () => {
      const conv = LAYERS.find(([label]) => label.startsWith('conv grouped'))![1];
      const matmul = LAYERS.find(([label]) => label.startsWith('matmul with batch'))![1];
      const [matrix] = support!.shapes;
      for (const warp of [16, 32]) {
        const tactic: Int8GemmTactic = {
          kind: 'subgroupMatrix',
          tileM: 64,
          tileN: 64,
          tileK: 64,
          warpM: warp,
          warpN: warp,
          matrix,
          subgroupSize: support!.subgroupSize
        };
        for (const storage of ['f32', 'float16 in f32'] as const) {
          await checkInt8(conv, { bias: true }, { tactic, storage });
          await checkInt8(
            matmul,
            { residual: true },
            { tactic: { ...tactic, splitK: 2 }, storage }
          );
        }
      }
    }
  );
});

describe('int8GemmTactics', () => {
  const limits = {
    maxComputeWorkgroupStorageSize: 32768,
    maxComputeInvocationsPerWorkgroup: 256,
    maxComputeWorkgroupSizeX: 256,
    maxComputeWorkgroupSizeY: 256
  };

  test('a large conv (ResNet-50 3x3 at 56x56, batch 8) defaults to 64x64 tiles, unsplit', () => {
    const [first] = int8GemmTactics(limits, {
      M: 64,
      N: 8 * 56 * 56,
      K: 64 * 9,
      gathered: true
    });
    assert.equal(int8GemmTacticName(first), 'int8 dp4a 64x64x32 4x4');
  });

  test('a 7x7 map at batch 1 with long K splits K to fill the GPU', () => {
    const [first] = int8GemmTactics(limits, { M: 512, N: 49, K: 512 * 9, gathered: true });
    assert.ok((first.splitK ?? 1) > 1, int8GemmTacticName(first));
  });

  test('tiles past the problem size are left out; a gathered B keeps whole tile columns', () => {
    const tactics = int8GemmTactics(limits, { M: 16, N: 16, K: 64, gathered: true });
    assert.ok(tactics.length > 0);
    for (const t of dp4aOnly(tactics)) {
      assert.ok(t.tileM <= 32 && t.tileN <= 32, int8GemmTacticName(t));
      const threads = (t.tileM / t.threadM) * (t.tileN / t.threadN);
      assert.equal(threads % t.tileN, 0);
    }
  });

  test('subgroup matrix tactics follow the dp4a ones where i8 matrices are offered', () => {
    const support: SubgroupMatrixSupport = {
      shapes: [{ M: 16, N: 16, K: 32 }],
      subgroupSize: 32
    };
    const problem = { M: 256, N: 8 * 28 * 28, K: 128 * 9, gathered: true };
    const plain = int8GemmTactics(limits, problem);
    const tactics = int8GemmTactics(limits, problem, support);
    assert.deepEqual(tactics.slice(0, plain.length), plain);
    const matrices = tactics.slice(plain.length);
    assert.ok(matrices.length > 0);
    for (const tactic of matrices) {
      assert.equal(tactic.kind, 'subgroupMatrix');
      // Each generates one kernel (no split here) enabling the extension.
      const [kernel] = int8GemmKernels({
        M: problem.M,
        N: problem.N,
        K: problem.K,
        layout: { kind: 'matmul' },
        inputScale: INPUT_SCALE,
        tensors: {
          x: { dtype: 'float32' },
          w: { dtype: 'int8' },
          w_scale: { dtype: 'float32' },
          y: { dtype: 'float32' }
        },
        tactic
      });
      assert.match(kernel.code, /enable chromium_experimental_subgroup_matrix;/);
      assert.match(kernel.code, /subgroupMatrixMultiplyAccumulate/);
    }
    assert.equal(
      int8GemmTacticName(matrices[0]),
      'int8 subgroup matrix 64x64x64 warp 32x32 16x16x32'
    );
  });

  test('limits are respected', () => {
    const small = { ...limits, maxComputeInvocationsPerWorkgroup: 64 };
    for (const t of dp4aOnly(
      int8GemmTactics(small, { M: 512, N: 4096, K: 512, gathered: false })
    )) {
      assert.ok((t.tileM / t.threadM) * (t.tileN / t.threadN) <= 64, int8GemmTacticName(t));
    }
  });
});
