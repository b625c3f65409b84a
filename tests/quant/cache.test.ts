import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CalibrationCache,
  DEFAULT_TRT_VERSION,
  readCalibrationCache,
  writeCalibrationCache
} from '../../src/engine/quant/cache';

/**
 * Laid out as TensorRT writes a cache: names from ONNX exports and TensorRT's own layers (with
 * '/', '.', ':', spaces and brackets), a zero scale written as a bare 0, a final newline.
 */
const TENSORRT_CACHE = [
  'TRT-8510-EntropyCalibration2',
  'x: 4000890a',
  '/conv1/Conv_output_0: 3f9db09c',
  '(Unnamed Layer* 8) [Constant]_output: 39137939',
  'onnx::MatMul_1472_output: 3b4eb613',
  'encoder.layer.7.attention.attn.o.bias_output: 3b09591b',
  'ONNXTRT_Broadcast_1855_output: 0',
  '/encoder/Log_output_0: 7f800000',
  'label: with colon: 3c010204',
  ''
].join('\n');

/** The big-endian bytes of a float32, as hex, built byte by byte (independent of the module). */
function bigEndianHex(value: number): string {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, value, false);
  return [0, 1, 2, 3].map(i => view.getUint8(i).toString(16).padStart(2, '0')).join('');
}

function cacheOf(scales: [string, number][], trtVersion = 8601): CalibrationCache {
  return { calibrator: 'entropy', trtVersion, scales: new Map(scales) };
}

function assertSameCache(actual: CalibrationCache, expected: CalibrationCache): void {
  assert.equal(actual.calibrator, expected.calibrator);
  assert.equal(actual.trtVersion, expected.trtVersion);
  assert.deepEqual([...actual.scales], [...expected.scales]);
}

describe('TensorRT calibration cache', () => {
  test("reads TensorRT's layout, splitting each line at its last ': '", () => {
    const cache = readCalibrationCache(TENSORRT_CACHE);
    assert.equal(cache.calibrator, 'entropy');
    assert.equal(cache.trtVersion, 8510);
    assert.deepEqual(
      [...cache.scales.keys()],
      [
        'x',
        '/conv1/Conv_output_0',
        '(Unnamed Layer* 8) [Constant]_output',
        'onnx::MatMul_1472_output',
        'encoder.layer.7.attention.attn.o.bias_output',
        'ONNXTRT_Broadcast_1855_output',
        '/encoder/Log_output_0',
        'label: with colon'
      ]
    );
    assert.equal(bigEndianHex(cache.scales.get('x')!), '4000890a');
    assert.equal(cache.scales.get('label: with colon'), Math.fround(1 / 127));
    assert.equal(cache.scales.get('ONNXTRT_Broadcast_1855_output'), 0);
    assert.equal(cache.scales.get('/encoder/Log_output_0'), Infinity);
  });

  test('read then written gives the same text byte for byte', () => {
    assert.equal(writeCalibrationCache(readCalibrationCache(TENSORRT_CACHE)), TENSORRT_CACHE);
    const empty = `TRT-${DEFAULT_TRT_VERSION}-MinMaxCalibration\n`;
    assert.equal(writeCalibrationCache(readCalibrationCache(empty)), empty);
  });

  test('written then read gives the same cache, in insertion order', () => {
    const scales: [string, number][] = [
      ['zeta', 0.5],
      ['alpha/beta.gamma', Math.fround(3.25 / 127)],
      ['a: b', Math.fround(1e-3)],
      ['(Unnamed Layer* 3) [Shuffle]_output', 2 ** -20],
      ['all zeros', 0]
    ];
    for (const calibrator of ['entropy', 'entropy-legacy', 'minmax', 'legacy'] as const) {
      const cache: CalibrationCache = { calibrator, trtVersion: 100300, scales: new Map(scales) };
      assertSameCache(readCalibrationCache(writeCalibrationCache(cache)), cache);
    }
  });

  test("writes TensorRT's header names and a final newline", () => {
    const header = (calibrator: CalibrationCache['calibrator']): string =>
      writeCalibrationCache({ calibrator, trtVersion: 8601, scales: new Map() });
    assert.equal(header('entropy'), 'TRT-8601-EntropyCalibration2\n');
    assert.equal(header('entropy-legacy'), 'TRT-8601-EntropyCalibration\n');
    assert.equal(header('minmax'), 'TRT-8601-MinMaxCalibration\n');
    assert.equal(header('legacy'), 'TRT-8601-LegacyCalibration\n');
  });

  test('writes the big-endian float32 bits of known scales', () => {
    const text = writeCalibrationCache(
      cacheOf([
        ['one step', 1 / 127],
        ['one', 1],
        ['amax 6', 6 / 127],
        ['tiny', 2 ** -100],
        ['zero', 0],
        ['overflowed', Infinity]
      ])
    );
    assert.equal(
      text,
      'TRT-8601-EntropyCalibration2\n' +
        'one step: 3c010204\n' +
        'one: 3f800000\n' +
        `amax 6: ${bigEndianHex(6 / 127)}\n` +
        // 2^-100 has exponent field 27: bits 0d800000, written without the leading zero.
        'tiny: d800000\n' +
        'zero: 0\n' +
        'overflowed: 7f800000\n'
    );
    assert.equal(bigEndianHex(1 / 127), '3c010204');
  });

  test('reads hex with leading zeros or in upper case', () => {
    const cache = readCalibrationCache('TRT-8601-EntropyCalibration2\na: 0d800000\nb: 3C010204\n');
    assert.equal(cache.scales.get('a'), 2 ** -100);
    assert.equal(cache.scales.get('b'), Math.fround(1 / 127));
  });

  test('float32 scales round-trip exactly', () => {
    const view = new DataView(new ArrayBuffer(4));
    let state = 12345;
    const scales: [string, number][] = [];
    for (let i = 0; i < 1000; i++) {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      // Positive, finite float32: sign 0, exponent field 1..254.
      view.setUint32(0, ((state % 254) + 1) * 2 ** 23 + (Math.imul(state, 2654435761) >>> 9));
      scales.push([`t${i}`, view.getFloat32(0)]);
    }
    const cache = readCalibrationCache(writeCalibrationCache(cacheOf(scales)));
    assert.deepEqual([...cache.scales], scales);
  });

  test('float64 scales are stored as float32 and read back rounded', () => {
    const cache = readCalibrationCache(writeCalibrationCache(cacheOf([['t', 0.1]])));
    const read = cache.scales.get('t')!;
    assert.notEqual(read, 0.1);
    assert.equal(read, Math.fround(0.1));
  });

  test('reads CRLF line ends and a missing final newline', () => {
    const cache = readCalibrationCache('TRT-8601-MinMaxCalibration\r\na: 3f800000\r\nb: 40000000');
    assert.equal(cache.calibrator, 'minmax');
    assert.deepEqual(
      [...cache.scales],
      [
        ['a', 1],
        ['b', 2]
      ]
    );
  });

  describe('rejects a malformed cache, naming the line', () => {
    const HEADER = 'TRT-8601-EntropyCalibration2\n';
    const cases: [string, string, RegExp][] = [
      ['an empty text', '', /^Error: model\.calib, line 1: expected a header like/],
      ['a header without version', 'TRT-EntropyCalibration2\n', /line 1: expected a header/],
      ['a header that is a tensor line', 'input: 3c010204\n', /line 1: expected a header/],
      [
        'an unknown algorithm',
        'TRT-8601-PercentileCalibration\n',
        /line 1: unknown calibration algorithm 'PercentileCalibration'/
      ],
      ['a line without ": "', `${HEADER}input 3c010204\n`, /line 2: expected '<tensor name>: /],
      ['a line without a space after ":"', `${HEADER}input:3c010204\n`, /line 2: expected/],
      ['an empty tensor name', `${HEADER}: 3c010204\n`, /line 2: expected/],
      ['a blank line', `${HEADER}a: 3f800000\n\nb: 3f800000\n`, /line 3: expected/],
      [
        'a non-hex digit',
        `${HEADER}a: 3f800000\nb: 3c01020g\n`,
        /line 3: scale of tensor 'b' is '3c01020g', not 1 to 8 hexadecimal digits/
      ],
      ['nine hex digits', `${HEADER}b: 3c0102040\n`, /line 2: scale of tensor 'b' is '3c0102040'/],
      ['an empty scale', `${HEADER}b: \n`, /line 2: scale of tensor 'b' is ''/],
      ['a decimal scale', `${HEADER}b: 0.5\n`, /line 2: scale of tensor 'b' is '0.5'/],
      ['a NaN scale', `${HEADER}b: 7fc00000\n`, /line 2: tensor 'b': scale is NaN/],
      ['a negative scale', `${HEADER}b: bf800000\n`, /line 2: tensor 'b': scale -1 is negative/],
      ['a negative zero', `${HEADER}b: 80000000\n`, /line 2: tensor 'b': scale -0 is negative/],
      [
        'a duplicate tensor',
        `${HEADER}a: 3f800000\nb: 3f800000\na: 40000000\n`,
        /line 4: tensor 'a' is listed again \(first on line 2\)/
      ]
    ];
    for (const [what, text, message] of cases) {
      test(what, () => {
        assert.throws(() => readCalibrationCache(text, 'model.calib'), message);
        assert.throws(() => readCalibrationCache(text), /^Error: calibration cache, line \d+: /);
      });
    }
  });

  describe('refuses to write what cannot be read back', () => {
    const cases: [string, CalibrationCache, RegExp][] = [
      ['a NaN scale', cacheOf([['a', NaN]]), /^calibration cache: tensor 'a': scale is NaN$/],
      ['a negative scale', cacheOf([['a', -0.5]]), /tensor 'a': scale -0.5 is negative/],
      ['a negative zero', cacheOf([['a', -0]]), /tensor 'a': scale -0 is negative/],
      ['a float32 overflow', cacheOf([['a', 1e39]]), /tensor 'a': scale 1e\+39 overflows float32/],
      ['a float32 underflow', cacheOf([['a', 1e-50]]), /tensor 'a': scale 1e-50 underflows/],
      ['a name with a newline', cacheOf([['a\nb', 1]]), /tensor name "a\\nb" cannot be written/],
      ['an empty name', cacheOf([['', 1]]), /tensor name "" cannot be written/],
      ['a fractional version', cacheOf([], 86.1), /TensorRT version 86.1 is not a positive/],
      ['a zero version', cacheOf([], 0), /TensorRT version 0 is not a positive integer/]
    ];
    for (const [what, cache, message] of cases) {
      test(what, () => {
        assert.throws(
          () => writeCalibrationCache(cache),
          (error: Error) => {
            assert.match(error.message, message);
            return true;
          }
        );
      });
    }
  });
});
