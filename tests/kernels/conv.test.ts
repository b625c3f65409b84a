import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ConvGeometry,
  convKernels,
  ConvTactic,
  convTacticName,
  convTactics,
  StoredTensor
} from '../../src/engine/kernels/conv';
import { implicitGemmRestriction } from '../../src/engine/kernels/gemm';
import { activationMath } from '../../src/engine/ops/activation';
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

// --- harness: one convolution kernel on the test device against FusedConv's reference ------

interface Layer {
  x: number[];
  w: number[];
  attributes?: { group?: number; strides?: number[]; pads?: number[]; dilations?: number[] };
}

function geometryOf({ x, w, attributes = {} }: Layer): ConvGeometry {
  const axes = resolveWindow({ ...attributes, autoPad: 'NOTSET' }, x.slice(2), w.slice(2));
  return { batch: x[0], inChannels: x[1], outChannels: w[0], group: attributes.group ?? 1, axes };
}

let seed = 0;

/**
 * Runs `layer` with `tactic` (the default when absent) on the GPU and checks Y against
 * webtrt::FusedConv's CPU reference on the same random inputs; returns the tactic run.
 */
async function checkConv(
  layer: Layer,
  epilogue: Epilogue,
  options: { tactic?: ConvTactic; storage?: Storage } = {}
): Promise<ConvTactic> {
  const device = await testDevice();
  const storage = options.storage ?? 'f32';
  const { dtype, stored } = floatForm(storage);
  const g = geometryOf(layer);
  const tactic = options.tactic ?? convTactics(g, device.limits)[0];
  const random = (shape: number[]) => randomTensor(shape, { dtype, seed: ++seed });
  const yShape = [g.batch, g.outChannels, ...g.axes.map(a => a.output)];
  const inputs = {
    x: random(layer.x),
    w: random(layer.w),
    ...epilogueInputs(epilogue, layer.w[0], yShape, random)
  };
  const activation = epilogueActivation(epilogue);
  const kernels = convKernels({
    geometry: g,
    tactic,
    tensors: {
      x: stored,
      w: stored,
      y: stored,
      bias: inputs.bias && stored,
      residual: inputs.residual && stored
    },
    activation: activation && activationMath(activation)
  });
  await checkAgainstReference(device, kernels, inputs, {
    storage,
    yShape,
    workspace: elements => new Float32Array(elements).fill(1e4),
    node: {
      opType: 'FusedConv',
      domain: 'webtrt',
      inputs: [inputs.x, inputs.w, inputs.bias, inputs.residual],
      attributes: { ...layer.attributes }
    },
    activation,
    label: convTacticName(tactic)
  });
  return tactic;
}

// --- cases ---------------------------------------------------------------------------------

/** Layers, each with the kind of kernel its default tactic runs. */
const LAYERS: [string, Layer, ConvTactic['kind']][] = [
  ['1x1, batch 2, odd points', { x: [2, 8, 5, 3], w: [6, 8, 1, 1] }, 'gemm'],
  ['1x1, points a multiple of 4 (vec4)', { x: [1, 8, 4, 4], w: [8, 8, 1, 1] }, 'gemm'],
  [
    '1x1 stride 2',
    { x: [1, 5, 7, 7], w: [3, 5, 1, 1], attributes: { strides: [2, 2] } },
    'implicitGemm'
  ],
  [
    '3x3 stride 2 pad 1, odd sizes',
    { x: [1, 5, 9, 7], w: [6, 5, 3, 3], attributes: { strides: [2, 2], pads: [1, 1, 1, 1] } },
    'implicitGemm'
  ],
  [
    '3x3 pad 1, 4x4 output (vec4 stores), batch 2',
    { x: [2, 4, 4, 4], w: [8, 4, 3, 3], attributes: { pads: [1, 1, 1, 1] } },
    'implicitGemm'
  ],
  [
    '3x2 dilation 2, asymmetric pads, batch 2',
    { x: [2, 3, 8, 7], w: [4, 3, 3, 2], attributes: { dilations: [2, 2], pads: [2, 1, 0, 2] } },
    'implicitGemm'
  ],
  [
    'grouped 3x3, 2 groups of 3 channels',
    { x: [2, 6, 6, 5], w: [8, 3, 3, 3], attributes: { group: 2, pads: [1, 1, 1, 1] } },
    'implicitGemm'
  ],
  [
    '1-D, stride 2, pads',
    { x: [2, 3, 9], w: [4, 3, 3], attributes: { strides: [2], pads: [1, 1] } },
    'implicitGemm'
  ],
  [
    'long K on a 3x3 map (K split)',
    { x: [1, 64, 3, 3], w: [4, 64, 3, 3], attributes: { pads: [1, 1, 1, 1] } },
    'implicitGemm'
  ],
  [
    'long K, 2 groups, batch 2 (K split)',
    { x: [2, 128, 3, 3], w: [4, 64, 3, 3], attributes: { group: 2, pads: [1, 1, 1, 1] } },
    'implicitGemm'
  ],
  [
    'depthwise 3x3 stride 1 pad 1, batch 2',
    { x: [2, 5, 7, 9], w: [5, 1, 3, 3], attributes: { group: 5, pads: [1, 1, 1, 1] } },
    'depthwise'
  ],
  [
    'depthwise 3x3 stride 2 pad 1',
    {
      x: [1, 4, 9, 8],
      w: [4, 1, 3, 3],
      attributes: { group: 4, strides: [2, 2], pads: [1, 1, 1, 1] }
    },
    'depthwise'
  ],
  [
    'depthwise, channel multiplier 2, 5x5 dilated along W',
    {
      x: [1, 3, 9, 10],
      w: [6, 1, 5, 5],
      attributes: { group: 3, dilations: [1, 2], pads: [2, 4, 2, 4] }
    },
    'depthwise'
  ]
];

const ACTIVATIONS: [string, number[]][] = [
  ['Relu', []],
  ['Clip', [-0.5, 6]],
  ['HardSwish', []],
  ['Sigmoid', []]
];

/** One layer of each kind of kernel: pointwise GEMM, implicit GEMM, depthwise. */
const ONE_OF_EACH_KIND = (['gemm', 'implicitGemm', 'depthwise'] as const).map(
  kind => LAYERS.find(([, , k]) => k === kind)![1]
);

describe('convolution kernels match FusedConv reference', () => {
  for (const [label, layer, kind] of LAYERS) {
    test(`${label}: ${kind}, every tactic offered, bias, residual and an activation`, async () => {
      const device = await testDevice();
      const tactics = convTactics(geometryOf(layer), device.limits);
      assert.equal(tactics[0].kind, kind, tactics.map(convTacticName).join('; '));
      for (const [i, tactic] of tactics.entries()) {
        const activation = ACTIVATIONS[i % ACTIVATIONS.length];
        await checkConv(layer, { bias: true, residual: true, activation }, { tactic });
      }
    });
    test(`${label}: no bias, residual or activation`, async () => {
      const tactic = await checkConv(layer, {});
      assert.equal(tactic.kind, kind);
    });
  }

  test('every activation with bias only, on each kind of kernel', async () => {
    for (const layer of ONE_OF_EACH_KIND) {
      for (const activation of ACTIVATIONS) {
        await checkConv(layer, { bias: true, activation });
      }
    }
  });

  test('float16 tensors in f32 storage are rounded to float16 on each kind of kernel', async () => {
    for (const layer of ONE_OF_EACH_KIND) {
      await checkConv(layer, { bias: true, residual: true }, { storage: 'float16 in f32' });
    }
  });
});

describe('convolution kernels on native f16 storage', async () => {
  const device = await testDevice();
  const skip = device.features.has('shader-f16') ? false : 'needs shader-f16';
  test('each kind of kernel, bias, residual and Relu', { skip }, async () => {
    for (const [, layer] of LAYERS) {
      await checkConv(
        layer,
        { bias: true, residual: true, activation: ['Relu', []] },
        { storage: 'f16' }
      );
    }
  });
});

// --- tactic choice ---------------------------------------------------------------------------

describe('convTactics', () => {
  const limits = {
    maxComputeWorkgroupStorageSize: 32768,
    maxComputeInvocationsPerWorkgroup: 256,
    maxComputeWorkgroupSizeX: 256,
    maxComputeWorkgroupSizeY: 256
  };
  const square = (
    batch: number,
    channels: number,
    size: number,
    filters: number,
    kernel: number,
    group = 1
  ): ConvGeometry => {
    const pad = (kernel - 1) / 2;
    return geometryOf({
      x: [batch, channels, size, size],
      w: [filters, channels / group, kernel, kernel],
      attributes: { group, pads: [pad, pad, pad, pad] }
    });
  };
  const gemmOf = (t: ConvTactic) => (t as Extract<ConvTactic, { gemm: unknown }>).gemm;
  const workgroups = (g: ConvGeometry, t: ConvTactic) => {
    assert.notEqual(t.kind, 'depthwise');
    const gemm = gemmOf(t);
    const points = g.axes.reduce((p, a) => p * a.output, 1);
    return (
      Math.ceil(g.outChannels / g.group / gemm.tileM) *
      Math.ceil((g.batch * points) / gemm.tileN) *
      g.group
    );
  };

  test('a 7x7 map at batch 1 splits its long K to occupy the GPU', () => {
    const g = square(1, 512, 7, 512, 3);
    const tactics = convTactics(g, limits);
    const splitK = gemmOf(tactics[0]).splitK ?? 1;
    assert.ok(splitK > 1, convTacticName(tactics[0]));
    assert.ok(workgroups(g, tactics[0]) * splitK >= 128);
    // The same tile unsplit is offered too, for the tuner to compare.
    assert.ok(tactics.some(t => gemmOf(t).tileM === gemmOf(tactics[0]).tileM && !gemmOf(t).splitK));
  });

  test('a 56x56 map at batch 8 gets a 64x64 tile, unsplit', () => {
    const g = square(8, 64, 56, 64, 3);
    const [first] = convTactics(g, limits);
    assert.ok(workgroups(g, first) >= 128);
    assert.equal(gemmOf(first).tileM * gemmOf(first).tileN, 64 * 64, convTacticName(first));
    assert.equal(gemmOf(first).splitK, undefined);
  });

  test('the long-K cases above split K', async () => {
    const device = await testDevice();
    for (const [label, layer] of LAYERS.filter(([label]) => label.includes('K split'))) {
      const [first] = convTactics(geometryOf(layer), device.limits);
      assert.ok((gemmOf(first).splitK ?? 1) > 1, `${label}: ${convTacticName(first)}`);
    }
  });

  test('pointwise, depthwise and implicit GEMM layers get their kind of kernel', () => {
    assert.ok(convTactics(square(1, 32, 14, 64, 1), limits).every(t => t.kind === 'gemm'));
    const batched = convTactics(square(4, 32, 7, 64, 1), limits).map(t => t.kind);
    assert.ok(batched.includes('gemm') && batched.includes('implicitGemm'), batched.join());
    assert.ok(convTactics(square(1, 32, 14, 32, 3, 32), limits).every(t => t.kind === 'depthwise'));
    const implicit = convTactics(square(1, 32, 14, 64, 3), limits);
    assert.ok(implicit.every(t => t.kind === 'implicitGemm'));
    for (const t of implicit) {
      assert.equal(implicitGemmRestriction(gemmOf(t)), null, convTacticName(t));
    }
  });

  test('depthwise rows narrower than 4 take fewer outputs per invocation', () => {
    const tactics = convTactics(square(1, 8, 3, 8, 3, 8), limits);
    assert.deepEqual(
      tactics.map(t => (t.kind === 'depthwise' ? t.outputsPerThread : 0)),
      [2, 1]
    );
  });

  test("the 'gemm' tactic refuses a window that is not 1x1 at stride 1", () => {
    const g = square(1, 4, 5, 4, 3);
    const [implicit] = convTactics(g, limits);
    const gemm = gemmOf(implicit);
    const f32: StoredTensor = { dtype: 'float32' };
    assert.throws(
      () =>
        convKernels({
          geometry: g,
          tactic: { kind: 'gemm', gemm },
          tensors: { x: f32, w: f32, y: f32 }
        }),
      /only 1x1 convolutions at stride 1 without padding/
    );
  });
});
