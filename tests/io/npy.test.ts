import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { DataType, numberToFloat16Bits } from '../../src/engine/ir/dtype';
import { Tensor } from '../../src/engine/ir/tensor';
import { encodeNpy, parseNpy } from '../../src/engine/io/npy';
import { randomTensor } from '../helpers/random';

const FIXTURES = 'tests/fixtures/npy';

function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(`${FIXTURES}/${name}.npy`));
}

/** The formulas of scripts/make-npy-fixtures.py, over base = 0..5 in shape (2, 3). */
const BASE = [0, 1, 2, 3, 4, 5];
const FLOATS = BASE.map(b => b * 0.75 - 1.5);
const SIGNED = BASE.map(b => b * 7 - 9);
const UNSIGNED = BASE.map(b => b * 7 + 1);

const ALL_TYPES: DataType[] = [
  'float32',
  'float16',
  'float64',
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'bool'
];

function expectedValues(dtype: DataType): number[] {
  if (dtype.startsWith('float')) {
    return FLOATS;
  }
  return dtype.startsWith('uint') ? UNSIGNED : SIGNED;
}

function rejects(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(() => parseNpy(bytes, 'x.npy'), pattern);
}

describe('files written by numpy', () => {
  for (const dtype of ALL_TYPES.filter(t => t !== 'bool')) {
    test(`${dtype}: values, and encodeNpy writes the same bytes`, () => {
      const bytes = fixture(dtype);
      const tensor = parseNpy(bytes, `${dtype}.npy`);
      assert.equal(tensor.dtype, dtype);
      assert.deepEqual(tensor.shape, [2, 3]);
      assert.deepEqual(Array.from(tensor.toNumbers()), expectedValues(dtype));
      assert.deepEqual(encodeNpy(tensor), bytes);
    });
  }

  test('a Node Buffer viewing part of a larger allocation', () => {
    const bytes = Buffer.concat([Buffer.alloc(5), fixture('float64')]).subarray(5);
    assert.deepEqual([...parseNpy(bytes, 'float64.npy').data], FLOATS);
  });

  test('bool', () => {
    const bytes = fixture('bool');
    const tensor = parseNpy(bytes, 'bool.npy');
    assert.equal(tensor.dtype, 'bool');
    assert.deepEqual([...tensor.data], [1, 0, 1, 1]);
    assert.deepEqual(encodeNpy(tensor), bytes);
  });

  test('64-bit integers keep every bit', () => {
    const signed = parseNpy(fixture('int64-extremes'), 'int64-extremes.npy');
    assert.deepEqual([...signed.data], [-(2n ** 63n), 2n ** 63n - 1n, 2n ** 53n + 1n]);
    const unsigned = parseNpy(fixture('uint64-extremes'), 'uint64-extremes.npy');
    assert.deepEqual([...unsigned.data], [2n ** 64n - 1n, 0n, 2n ** 53n + 1n]);
  });

  test('a 0-d array and an empty array', () => {
    const scalar = parseNpy(fixture('scalar'), 'scalar.npy');
    assert.deepEqual(scalar.shape, []);
    assert.deepEqual([...scalar.data], [3.5]);
    assert.deepEqual(encodeNpy(scalar), fixture('scalar'));
    const empty = parseNpy(fixture('empty'), 'empty.npy');
    assert.deepEqual(empty.shape, [0, 3]);
    assert.equal(empty.size, 0);
    assert.deepEqual(encodeNpy(empty), fixture('empty'));
  });

  for (const version of ['version2', 'version3']) {
    test(`format ${version}`, () => {
      const bytes = fixture(version);
      assert.equal(bytes[6], version === 'version2' ? 2 : 3);
      const tensor = parseNpy(bytes, `${version}.npy`);
      assert.deepEqual(tensor.shape, [2, 3]);
      assert.deepEqual([...tensor.data], FLOATS);
    });
  }

  test('Fortran order is refused, saying so', () => {
    rejects(fixture('fortran'), /x\.npy: .*Fortran \(column-major\) order.*ascontiguousarray/);
  });

  test('big-endian data is refused, saying so', () => {
    rejects(fixture('big-endian'), /x\.npy: the array is big-endian \('>f4'\)/);
  });
});

describe('encodeNpy then parseNpy', () => {
  for (const dtype of ALL_TYPES) {
    test(`${dtype} round trip`, () => {
      const source =
        dtype === 'bool'
          ? Tensor.fromNumbers('bool', [5], [1, 0, 0, 1, 1])
          : randomTensor([3, 4, 2], { dtype, low: dtype.startsWith('u') ? 1 : -100, high: 100 });
      const back = parseNpy(encodeNpy(source), 'round-trip.npy');
      assert.equal(back.dtype, dtype);
      assert.deepEqual(back.shape, source.shape);
      assert.deepEqual(back.data, source.data);
    });
  }

  test('float16 bits, infinities and NaN survive', () => {
    const bits = [1, -2.5, 65504, -Infinity, NaN, 2 ** -24].map(numberToFloat16Bits);
    const tensor = new Tensor('float16', [6], Uint16Array.from(bits));
    assert.deepEqual([...parseNpy(encodeNpy(tensor), 'h.npy').data], bits);
  });

  test('the data starts 64-byte aligned, one-element shapes are written (n,)', () => {
    for (const shape of [[], [7], [1, 2, 3, 4, 5, 6, 7, 8]]) {
      const bytes = encodeNpy(new Tensor('float32', shape));
      const headerLength = bytes[8] | (bytes[9] << 8);
      assert.equal((10 + headerLength) % 64, 0);
      assert.equal(bytes[10 + headerLength - 1], 0x0a);
    }
    assert.match(new TextDecoder().decode(encodeNpy(new Tensor('int8', [7]))), /'shape': \(7,\)/);
  });

  test('a header longer than 64 KiB is written as format 2.0', () => {
    const tensor = new Tensor('uint8', new Array<number>(30000).fill(1));
    const bytes = encodeNpy(tensor);
    assert.equal(bytes[6], 2);
    assert.deepEqual(parseNpy(bytes, 'wide.npy').shape, tensor.shape);
  });
});

describe('bad .npy files', () => {
  const good = fixture('float32');

  function withHeader(header: string): Uint8Array {
    const text = new TextDecoder().decode(good.subarray(10, 128));
    assert.equal(header.length <= text.length, true);
    const bytes = good.slice();
    bytes.set(new TextEncoder().encode(header.padEnd(text.length - 1, ' ') + '\n'), 10);
    return bytes;
  }

  test("'=' and '|' byte orders read as little-endian", () => {
    for (const descr of ['=f4', '|f4']) {
      const tensor = parseNpy(
        withHeader(`{'descr': '${descr}', 'fortran_order': False, 'shape': (2, 3), }`),
        'x.npy'
      );
      assert.deepEqual([...tensor.data], FLOATS);
    }
  });

  test('a Python 2 header with long literals', () => {
    const bytes = withHeader(`{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }`);
    assert.deepEqual(parseNpy(bytes, 'x.npy').shape, [2, 3]);
  });

  test('bad magic', () => {
    rejects(new TextEncoder().encode('PK\x03\x04 not numpy at all'), /x\.npy: not a NumPy \.npy/);
    rejects(new Uint8Array(0), /not a NumPy \.npy/);
  });

  test('unknown format version', () => {
    const bytes = good.slice();
    bytes[6] = 4;
    rejects(bytes, /format version 4\.0 is not supported/);
  });

  test('truncated header and truncated data', () => {
    rejects(good.subarray(0, 9), /truncated .*header length/);
    rejects(good.subarray(0, 60), /truncated .*header is 118 bytes, only 50/);
    rejects(
      good.subarray(0, good.length - 1),
      /truncated .*float32 \[2, 3\] needs 24 bytes.*has 23/
    );
  });

  test('unsupported element types and malformed headers', () => {
    rejects(
      withHeader(`{'descr': '<c8', 'fortran_order': False, 'shape': (2, 3), }`),
      /element type '<c8' is not supported/
    );
    rejects(
      withHeader(`{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 3), }`),
      /structured \(record\) arrays are not supported/
    );
    rejects(
      withHeader(`{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }`),
      /invalid shape/
    );
    rejects(withHeader(`{'descr': '<f4', 'shape': (2, 3), }`), /header is not valid/);
    rejects(withHeader('garbage'), /header is not valid/);
  });

  test('a shape too large to hold is reported as truncated, not allocated', () => {
    const bytes = withHeader(
      `{'descr': '<f8', 'fortran_order': False, 'shape': (4000000000, 4000000000), }`
    );
    rejects(bytes, /truncated .*float64 \[4000000000, 4000000000\]/);
  });
});
