/**
 * Test tensors as kernels hold them: the bytes to upload and read back, for the kernel
 * tests that run generated shaders on buffers of their own.
 */
import assert from 'node:assert/strict';
import { float16BitsToNumber, numberToFloat16Bits } from '../../src/engine/ir/dtype';
import { sizeOf, Tensor } from '../../src/engine/ir/tensor';
import { NamedKernel } from '../../src/engine/kernels/context';
import { StoredTensor } from '../../src/engine/kernels/conv';
import { assertClose, NodeCase, reference } from './compare';
import { dispatchNamedKernels } from './dispatch';

/** How float tensors are held: f32, float16 values in f32 storage, or native f16. */
export type Storage = 'f32' | 'float16 in f32' | 'f16';

/** What a kernel case adds after the product: a bias, a residual, an activation. */
export interface Epilogue {
  bias?: boolean;
  residual?: boolean;
  activation?: [string, number[]];
}

/** `t`'s bytes as the kernel reads them: int8 one per i32, float16 as u16 in native f16 storage, else f32. */
export function encodeStored(t: Tensor, storage: Storage): ArrayBufferView {
  const values = t.toNumbers();
  if (t.dtype === 'int8') {
    return Int32Array.from(values);
  }
  return storage === 'f16' && t.dtype === 'float16'
    ? Uint16Array.from(values, numberToFloat16Bits)
    : Float32Array.from(values);
}

/** The first `size` float values of `bytes`, held in `storage`. */
export function decodeStored(bytes: ArrayBuffer, size: number, storage: Storage): number[] {
  return storage === 'f16'
    ? Array.from(new Uint16Array(bytes, 0, size), float16BitsToNumber)
    : Array.from(new Float32Array(bytes, 0, size));
}

/** Fails on the first value that float16 cannot hold: float16 outputs in f32 storage are rounded. */
export function assertFloat16Values(values: readonly number[]): void {
  const unrounded = values.findIndex(v => float16BitsToNumber(numberToFloat16Bits(v)) !== v);
  assert.equal(unrounded, -1, `Y[${unrounded}] = ${values[unrounded]} is not a float16 value`);
}

/** A kernel case's float dtype, and how its float tensors are held. */
export function floatForm(storage: Storage): {
  dtype: 'float32' | 'float16';
  stored: StoredTensor;
} {
  return {
    dtype: storage === 'f32' ? 'float32' : 'float16',
    stored: {
      dtype: storage === 'f32' ? 'float32' : 'float16',
      ...(storage === 'f16' && { storage: 'f16' })
    }
  };
}

/**
 * The epilogue's inputs: a bias per channel and a residual of Y's shape where it has them;
 * and Y filled with garbage, so that an element the kernels leave unwritten shows.
 */
export function epilogueInputs(
  epilogue: Epilogue,
  channels: number,
  yShape: number[],
  random: (shape: number[]) => Tensor
): { bias?: Tensor; residual?: Tensor; y: Tensor } {
  return {
    bias: epilogue.bias ? random([channels]) : undefined,
    residual: epilogue.residual ? random(yShape) : undefined,
    y: random(yShape)
  };
}

/** The epilogue's activation as the kernels and the fused ops take it. */
export function epilogueActivation(
  epilogue: Epilogue
): { opType: string; params: number[] } | undefined {
  return epilogue.activation && { opType: epilogue.activation[0], params: epilogue.activation[1] };
}

/**
 * Runs `kernels` on `inputs` held in `storage` (a split K's workspace, where one has it,
 * full of `workspace`'s garbage) and checks Y, of `yShape`, against the CPU reference of
 * `node` with the epilogue's `activation` added to its attributes.
 */
export async function checkAgainstReference<Name extends string>(
  device: GPUDevice,
  kernels: readonly NamedKernel<Name | 'workspace'>[],
  inputs: Partial<Record<Name, Tensor>>,
  check: {
    storage: Storage;
    yShape: number[];
    workspace: (elements: number) => ArrayBufferView;
    node: NodeCase;
    activation?: { opType: string; params: number[] };
    label: string;
  }
): Promise<void> {
  const { storage, yShape, activation } = check;
  const bytes = await dispatchNamedKernels(
    device,
    kernels,
    (name, elements) =>
      name === 'workspace' ? check.workspace(elements) : encodeStored(inputs[name]!, storage),
    'y' as Name
  );
  const actual = decodeStored(bytes, sizeOf(yShape), storage);
  if (storage === 'float16 in f32') {
    assertFloat16Values(actual);
  }
  const [expected] = reference({
    ...check.node,
    attributes: {
      ...check.node.attributes,
      ...(activation && { activation: activation.opType, activation_params: activation.params })
    }
  });
  // float16: Y rounded once by the kernel, after the sum and after the residual by the reference.
  const tolerance = storage === 'f32' ? 1e-5 : 2e-3;
  assertClose(
    Tensor.fromNumbers(floatForm(storage).dtype, yShape, actual),
    expected,
    tolerance,
    `${check.label}, ${storage}`
  );
}
