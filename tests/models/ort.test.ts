import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DataType } from '../../src/engine/ir/dtype';
import { fromOrtTensor, toOrtTensor } from '../helpers/ort';
import { randomTensor } from '../helpers/random';

test('tensors cross to ONNX Runtime and back unchanged, for every type we carry', () => {
  const dtypes: DataType[] = [
    'float32',
    'float16',
    'float64',
    'int8',
    'uint8',
    'int16',
    'int32',
    'int64',
    'uint16',
    'uint32',
    'uint64',
    'bool'
  ];
  for (const dtype of dtypes) {
    const unsigned = dtype.startsWith('u') || dtype === 'bool';
    const tensor = randomTensor([2, 3], { dtype, low: unsigned ? 0 : -9, high: 9 });
    const ortTensor = toOrtTensor(tensor);
    assert.equal(ortTensor.type, dtype);
    assert.deepEqual(ortTensor.dims, [2, 3]);
    const back = fromOrtTensor(ortTensor);
    assert.equal(back.dtype, dtype);
    assert.deepEqual(back.shape, [2, 3]);
    assert.deepEqual(back.toNumbers(), tensor.toNumbers(), dtype);
  }
});
