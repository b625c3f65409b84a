import { test } from 'node:test';
import { checkAgainstOnnxRuntime, checkEngineAgainstOnnxRuntime, GENERATED_MODELS } from './oracle';

// The models of scripts/models (see its README), at batch 2 and sequence 7.

test('small CNN (opset 17) agrees with ONNX Runtime', async () => {
  await checkAgainstOnnxRuntime({
    model: `${GENERATED_MODELS}/small_cnn.onnx`,
    inputs: { input: [2, 3, 32, 32] },
    seed: 201
  });
});

test('small CNN: the FP32 engine agrees with ONNX Runtime in at most half as many layers as nodes', async () => {
  await checkEngineAgainstOnnxRuntime(
    { model: `${GENERATED_MODELS}/small_cnn.onnx`, inputs: { input: [2, 3, 32, 32] }, seed: 201 },
    0.5
  );
});

for (const [file, what] of [
  ['small_transformer.onnx', 'opset 17, LayerNormalization op, Erf Gelu'],
  ['small_transformer_decomposed.onnx', 'opset 13, LayerNormalization in primitive ops'],
  ['small_transformer_gelu.onnx', 'opset 20, Gelu op']
]) {
  test(`transformer encoder (${what}) agrees with ONNX Runtime`, async () => {
    await checkAgainstOnnxRuntime({
      model: `${GENERATED_MODELS}/${file}`,
      inputs: { x: [2, 7, 64] },
      seed: 202
    });
  });
}
