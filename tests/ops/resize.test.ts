import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AttributeValue } from '../../src/engine/ir/graph';
import { Tensor } from '../../src/engine/ir/tensor';
import { checkKernel } from '../helpers/compare';
import { checkConformance, conformanceSkip } from '../helpers/conformance-case';
import { inferNode } from '../helpers/infer-node';
import { randomTensor } from '../helpers/random';

let seed = 200;
const image = (...shape: number[]) => randomTensor(shape, { seed: ++seed });
const floats = (...values: number[]) => Tensor.fromNumbers('float32', [values.length], values);
const int64s = (...values: number[]) => Tensor.fromNumbers('int64', [values.length], values);

interface Sizing {
  scales?: number[];
  sizes?: number[];
  roi?: number[];
}

/** Resize (opset 11 on) of `x` on the GPU against the CPU reference; returns the output. */
async function checkResize(
  x: Tensor,
  { scales, sizes, roi }: Sizing,
  attributes: Record<string, AttributeValue> = {},
  opset = 17
): Promise<Tensor> {
  const inputs = [
    x,
    roi ? floats(...roi) : undefined,
    scales ? floats(...scales) : undefined,
    sizes ? int64s(...sizes) : undefined
  ];
  const [y] = await checkKernel({
    opType: 'Resize',
    inputs,
    attributes,
    opset,
    constants: [1, 2, 3]
  });
  return y;
}

// --- nearest -------------------------------------------------------------------------------

test('Resize nearest, each nearest_mode, upsampling by scales', async () => {
  for (const nearest_mode of ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil']) {
    const y = await checkResize(
      image(1, 2, 3, 4),
      { scales: [1, 1, 2, 1.5] },
      { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode }
    );
    assert.deepEqual(y.shape, [1, 2, 6, 6], nearest_mode);
  }
});

test('Resize nearest rounds half toward floor or ceil as asked', async () => {
  // asymmetric at scale 2: output 1 samples input 0.5, exactly halfway.
  const x = Tensor.fromNumbers('float32', [1, 1, 1, 2], [10, 20]);
  const sample = async (nearest_mode: string) =>
    Array.from(
      (
        await checkResize(
          x,
          { scales: [1, 1, 1, 2] },
          { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode }
        )
      ).toNumbers()
    );
  assert.deepEqual(await sample('round_prefer_floor'), [10, 10, 20, 20]);
  assert.deepEqual(await sample('round_prefer_ceil'), [10, 20, 20, 20]);
});

test('Resize nearest keeps samples that fall exactly on a rounding tie', async () => {
  // half_pixel from 2 to 7: output 3 samples (3 + 0.5) / 3.5 - 0.5 = 0.5, which
  // round_prefer_floor takes to input 0 and round_prefer_ceil to input 1.
  const x = Tensor.fromNumbers('float32', [1, 1, 2, 1], [10, 20]);
  for (const [nearest_mode, expected] of [
    ['round_prefer_floor', [10, 10, 10, 10, 20, 20, 20]],
    ['round_prefer_ceil', [10, 10, 10, 20, 20, 20, 20]]
  ] as const) {
    const y = await checkResize(x, { sizes: [1, 1, 7, 1] }, { mode: 'nearest', nearest_mode });
    assert.deepEqual(Array.from(y.toNumbers()), expected, nearest_mode);
  }
});

test('Resize with every scale 1 copies its input', async () => {
  const x = image(2, 3, 4);
  const y = await checkResize(x, { scales: [1, 1, 1] }, { mode: 'linear' });
  assert.deepEqual(Array.from(y.toNumbers()), Array.from(x.toNumbers()));
});

test('Resize nearest, downsampling to sizes, half_pixel', async () => {
  const y = await checkResize(image(2, 3, 7, 8), { sizes: [2, 3, 3, 5] }, { mode: 'nearest' });
  assert.deepEqual(y.shape, [2, 3, 3, 5]);
});

// --- linear and cubic, per coordinate transform ------------------------------------------------

const transforms = ['half_pixel', 'pytorch_half_pixel', 'align_corners', 'asymmetric'];

test('Resize linear, each coordinate_transformation_mode, scales and sizes', async () => {
  for (const coordinate_transformation_mode of transforms) {
    const attributes = { mode: 'linear', coordinate_transformation_mode };
    const up = await checkResize(image(1, 2, 4, 5), { scales: [1, 1, 1.5, 2] }, attributes);
    assert.deepEqual(up.shape, [1, 2, 6, 10], coordinate_transformation_mode);
    const down = await checkResize(image(1, 2, 5, 6), { sizes: [1, 2, 3, 1] }, attributes);
    assert.deepEqual(down.shape, [1, 2, 3, 1], coordinate_transformation_mode);
  }
});

test('Resize cubic, each coordinate_transformation_mode', async () => {
  for (const coordinate_transformation_mode of transforms) {
    const y = await checkResize(
      image(1, 1, 5, 4),
      { scales: [1, 1, 0.6, 1.75] },
      { mode: 'cubic', coordinate_transformation_mode }
    );
    assert.deepEqual(y.shape, [1, 1, 3, 7], coordinate_transformation_mode);
  }
});

test('Resize cubic with cubic_coeff_a and exclude_outside', async () => {
  const y = await checkResize(
    image(1, 2, 4, 4),
    { sizes: [1, 2, 7, 3] },
    { mode: 'cubic', cubic_coeff_a: -0.5, exclude_outside: 1 }
  );
  assert.deepEqual(y.shape, [1, 2, 7, 3]);
});

test('Resize tf_crop_and_resize crops to roi and extrapolates outside it', async () => {
  for (const mode of ['nearest', 'linear', 'cubic']) {
    const y = await checkResize(
      image(1, 1, 5, 6),
      { sizes: [1, 1, 4, 5], roi: [0, 0, -0.3, 0.15, 1, 1, 0.8, 1.2] },
      { mode, coordinate_transformation_mode: 'tf_crop_and_resize', extrapolation_value: 7.5 }
    );
    const values = Array.from(y.toNumbers());
    // The crop starts above the image and ends right of it: both sides extrapolate.
    assert.ok(values.includes(7.5), mode);
    assert.ok(
      values.some(v => v !== 7.5),
      mode
    );
  }
  // A crop of the whole image samples its corners exactly, not just outside them.
  const x = image(1, 1, 3, 5);
  const whole = await checkResize(
    x,
    { sizes: [1, 1, 7, 9], roi: [0, 0, 0, 0, 1, 1, 1, 1] },
    {
      mode: 'linear',
      coordinate_transformation_mode: 'tf_crop_and_resize',
      extrapolation_value: 7.5
    }
  );
  assert.ok(!whole.toNumbers().includes(7.5));
  assert.equal(whole.toNumbers()[62], x.toNumbers()[14]);
});

test('Resize half_pixel_symmetric (opset 19)', async () => {
  for (const mode of ['nearest', 'linear']) {
    const y = await checkResize(
      image(1, 2, 4, 5),
      { scales: [1, 1, 1.7, 0.5] },
      { mode, coordinate_transformation_mode: 'half_pixel_symmetric' },
      19
    );
    assert.deepEqual(y.shape, [1, 2, 6, 2]);
  }
});

test('Resize antialias widens linear and cubic filters when downsampling (opset 18)', async () => {
  const x = image(1, 2, 8, 9);
  for (const mode of ['linear', 'cubic']) {
    const sizing = { scales: [1, 1, 0.5, 0.3] };
    const smooth = await checkResize(x, sizing, { mode, antialias: 1 }, 18);
    const sharp = await checkResize(x, sizing, { mode }, 18);
    assert.deepEqual(smooth.shape, [1, 2, 4, 2]);
    assert.notDeepEqual(Array.from(smooth.toNumbers()), Array.from(sharp.toNumbers()), mode);
    await checkResize(x, { sizes: [1, 2, 3, 12] }, { mode, antialias: 1, exclude_outside: 1 }, 18);
  }
});

test('Resize of rank 3 along every axis', async () => {
  const y = await checkResize(image(3, 4, 5), { scales: [2, 0.5, 1.4] }, { mode: 'linear' });
  assert.deepEqual(y.shape, [6, 2, 7]);
});

// --- opset 18's axes and keep_aspect_ratio_policy, and the older ops ------------------------

test('Resize axes and keep_aspect_ratio_policy (opset 18)', async () => {
  const shapes: Record<string, number[]> = {
    stretch: [1, 2, 8, 3],
    // sizes / input = 2 and 0.6: not_larger scales both axes by 0.6, not_smaller by 2.
    not_larger: [1, 2, 2, 3],
    not_smaller: [1, 2, 8, 10]
  };
  for (const [keep_aspect_ratio_policy, shape] of Object.entries(shapes)) {
    const y = await checkResize(
      image(1, 2, 4, 5),
      { sizes: [3, 8] },
      { mode: 'linear', axes: [-1, 2], keep_aspect_ratio_policy },
      18
    );
    assert.deepEqual(y.shape, shape, keep_aspect_ratio_policy);
  }
});

test('Resize-10 and Upsample sample asymmetrically, floor up and ceil down', async () => {
  for (const mode of ['nearest', 'linear']) {
    const [y10] = await checkKernel({
      opType: 'Resize',
      inputs: [image(1, 2, 4, 6), floats(1, 1, 1.5, 0.5)],
      attributes: { mode },
      opset: 10,
      constants: [1]
    });
    assert.deepEqual(y10.shape, [1, 2, 6, 3], mode);
    const [y9] = await checkKernel({
      opType: 'Upsample',
      inputs: [image(1, 2, 3, 4), floats(1, 1, 2, 2.5)],
      attributes: { mode },
      opset: 9,
      constants: [1]
    });
    assert.deepEqual(y9.shape, [1, 2, 6, 10], mode);
    const [y7] = await checkKernel({
      opType: 'Upsample',
      inputs: [image(1, 2, 3, 4)],
      attributes: { mode, scales: [1, 1, 2, 3] },
      opset: 7
    });
    assert.deepEqual(y7.shape, [1, 2, 6, 12], mode);
  }
  // Upsample nearest at integer scales repeats each element.
  const x = Tensor.fromNumbers('float32', [1, 1, 1, 2], [1, 2]);
  const [repeated] = await checkKernel({
    opType: 'Upsample',
    inputs: [x],
    attributes: { scales: [1, 1, 2, 3] },
    opset: 7
  });
  assert.deepEqual(Array.from(repeated.toNumbers()), [1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2]);
});

// --- shape inference and errors -----------------------------------------------------------------

test('Resize shape inference carries symbolic dims that scales keep', () => {
  const x = { dtype: 'float32' as const, shape: ['N', 3, 10, 'W'] };
  const [scaled] = inferNode('Resize', [x, undefined, floats(1, 1, 1.5, 2)]);
  assert.deepEqual(scaled.shape, ['N', 3, 15, null]);
  const [sized] = inferNode('Resize', [x, undefined, undefined, int64s(2, 3, 4, 5)]);
  assert.deepEqual(sized.shape, [2, 3, 4, 5]);
  const [runtime] = inferNode('Resize', [x, undefined, { dtype: 'float32', shape: [4] }]);
  assert.deepEqual(runtime.shape, [null, null, null, null]);
  const [partial] = inferNode(
    'Resize',
    [x, undefined, undefined, { dtype: 'int64', shape: [2] }],
    { axes: [2, 3] },
    { opset: 18 }
  );
  assert.deepEqual(partial.shape, ['N', 3, null, null]);
});

test('Resize rejects what it cannot do, naming the node', () => {
  const x = { dtype: 'float32' as const, shape: [1, 1, 4, 4] };
  assert.throws(
    () => inferNode('Resize', [x, undefined, floats(1, 1, 2, 2), int64s(1, 1, 2, 2)]),
    /Resize_0.*scales and sizes are both given/
  );
  assert.throws(
    () => inferNode('Resize', [x, undefined, floats(1, 2)]),
    /Resize_0.*scales has 2 values for 4 axes/
  );
  assert.throws(
    () => inferNode('Resize', [x, undefined, floats(1, 1, 2, 2)], { mode: 'bilinear' }),
    /Resize_0.*attribute 'mode' must be one of nearest, linear, cubic, got 'bilinear'/
  );
});

// --- the CPU reference against the ONNX backend tests ---------------------------------------

const conformance = [
  'test_resize_downsample_scales_cubic',
  'test_resize_downsample_scales_cubic_A_n0p5_exclude_outside',
  'test_resize_downsample_scales_cubic_align_corners',
  'test_resize_downsample_scales_linear',
  'test_resize_downsample_scales_linear_align_corners',
  'test_resize_downsample_scales_nearest',
  'test_resize_downsample_sizes_cubic',
  'test_resize_downsample_sizes_linear_pytorch_half_pixel',
  'test_resize_downsample_sizes_nearest',
  'test_resize_downsample_sizes_nearest_tf_half_pixel_for_nn',
  'test_resize_tf_crop_and_resize',
  'test_resize_upsample_scales_cubic',
  'test_resize_upsample_scales_cubic_A_n0p5_exclude_outside',
  'test_resize_upsample_scales_cubic_align_corners',
  'test_resize_upsample_scales_cubic_asymmetric',
  'test_resize_upsample_scales_linear',
  'test_resize_upsample_scales_linear_align_corners',
  'test_resize_upsample_scales_nearest',
  'test_resize_upsample_sizes_cubic',
  'test_resize_upsample_sizes_nearest',
  'test_resize_upsample_sizes_nearest_ceil_half_pixel',
  'test_resize_upsample_sizes_nearest_floor_align_corners',
  'test_resize_upsample_sizes_nearest_round_prefer_ceil_asymmetric',
  'test_upsample_nearest'
];

for (const name of conformance) {
  test(`CPU reference passes ${name}`, { skip: conformanceSkip(name) }, () => {
    checkConformance(name);
  });
}
