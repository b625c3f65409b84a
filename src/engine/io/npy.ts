/**
 * NumPy .npy files (format versions 1.0, 2.0 and 3.0), so a Python kernel can hand tensors
 * over with `numpy.save` / `numpy.load`. Plain Uint8Array in and out: it runs in the
 * browser as well as in Node. Element bytes are copied as they are, which is right on the
 * little-endian hosts WebGPU runs on.
 */
import { bytesPerElement, DataType, typedArrayFromBytes } from '../ir/dtype';
import { Tensor } from '../ir/tensor';

const MAGIC = [0x93, ...Array.from('NUMPY', c => c.charCodeAt(0))];
/** Magic string plus the two version bytes. */
const PREAMBLE_LENGTH = MAGIC.length + 2;
/** numpy aligns the start of the data to this many bytes. */
const ARRAY_ALIGN = 64;
/**
 * numpy pads the header so the first axis can grow to this many digits in place; the same
 * padding here keeps files byte-identical to `numpy.save`'s.
 */
const GROWTH_AXIS_MAX_DIGITS = 21;

/** The descr numpy writes for each type. */
const DESCRS: Record<DataType, string> = {
  float32: '<f4',
  float16: '<f2',
  float64: '<f8',
  int8: '|i1',
  uint8: '|u1',
  int16: '<i2',
  uint16: '<u2',
  int32: '<i4',
  uint32: '<u4',
  int64: '<i8',
  uint64: '<u8',
  bool: '|b1'
};

/** Type by descr without its byte-order character ('f4' → float32). */
const TYPES_BY_CODE = new Map(
  Object.entries(DESCRS).map(([dtype, descr]) => [descr.slice(1), dtype as DataType])
);

/** Reads a .npy file. `source` (a file name) prefixes error messages. */
export function parseNpy(bytes: Uint8Array, source: string): Tensor {
  const fail = (reason: string) => new Error(`${source}: ${reason}`);
  if (bytes.length < PREAMBLE_LENGTH || MAGIC.some((byte, i) => bytes[i] !== byte)) {
    throw fail('not a NumPy .npy file (it does not start with \\x93NUMPY)');
  }
  const major = bytes[MAGIC.length];
  const minor = bytes[MAGIC.length + 1];
  if (major < 1 || major > 3 || minor !== 0) {
    throw fail(`.npy format version ${major}.${minor} is not supported (1.0, 2.0, 3.0 are)`);
  }
  const lengthFieldSize = major === 1 ? 2 : 4;
  const headerStart = PREAMBLE_LENGTH + lengthFieldSize;
  if (bytes.length < headerStart) {
    throw fail('truncated .npy file: it ends inside the header length');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength =
    major === 1 ? view.getUint16(PREAMBLE_LENGTH, true) : view.getUint32(PREAMBLE_LENGTH, true);
  const dataStart = headerStart + headerLength;
  if (bytes.length < dataStart) {
    throw fail(
      `truncated .npy file: its header is ${headerLength} bytes, only ${bytes.length - headerStart} are there`
    );
  }
  const header = new TextDecoder().decode(bytes.subarray(headerStart, dataStart));
  const { dtype, shape } = parseHeader(header, fail);

  const size = shape.reduce((product, d) => product * d, 1);
  const needed = size * bytesPerElement(dtype);
  const available = bytes.length - dataStart;
  if (!Number.isSafeInteger(needed) || available < needed) {
    throw fail(
      `truncated .npy file: ${dtype} [${shape.join(', ')}] needs ${needed} bytes of data, the file has ${available}`
    );
  }
  // Bytes after the array are ignored, as numpy.load does (several arrays can be saved
  // one after another into one file).
  return new Tensor(dtype, shape, typedArrayFromBytes(dtype, bytes.subarray(dataStart), size));
}

/**
 * Reads the header, a Python dict literal such as
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
 */
function parseHeader(
  header: string,
  fail: (reason: string) => Error
): { dtype: DataType; shape: number[] } {
  const text = header.trim();
  const field = (key: string, value: string) =>
    new RegExp(`['"]${key}['"]\\s*:\\s*${value}`).exec(text)?.[1];
  const descr = field('descr', '[\'"]([^\'"]*)[\'"]');
  const fortranOrder = field('fortran_order', '(True|False)');
  const shapeText = field('shape', '\\(([^)]*)\\)');
  if (!text.startsWith('{') || !text.endsWith('}') || fortranOrder === undefined) {
    throw fail(`the .npy header is not valid: ${JSON.stringify(text)}`);
  }
  if (descr === undefined) {
    throw fail('structured (record) arrays are not supported; save a plain numeric array');
  }
  if (shapeText === undefined) {
    throw fail(`the .npy header has no valid shape: ${JSON.stringify(text)}`);
  }
  if (fortranOrder === 'True') {
    throw fail(
      'the array is stored in Fortran (column-major) order, which is not supported; ' +
        'save numpy.ascontiguousarray(array) instead'
    );
  }
  const [byteOrder, code] = [descr.slice(0, 1), descr.slice(1)];
  const dtype = TYPES_BY_CODE.get(code);
  if (!dtype || !'<>=|'.includes(byteOrder)) {
    throw fail(`element type '${descr}' is not supported`);
  }
  if (byteOrder === '>' && bytesPerElement(dtype) > 1) {
    throw fail(
      `the array is big-endian ('${descr}'), which is not supported; ` +
        `save array.astype('<${code}') instead`
    );
  }
  const dims = shapeText
    .split(',')
    .map(d => d.trim())
    .filter(d => d !== '');
  // Files written by Python 2 spell sizes as long literals ('3L').
  if (dims.some(d => !/^\d+L?$/.test(d))) {
    throw fail(`the .npy header has an invalid shape (${shapeText})`);
  }
  return { dtype, shape: dims.map(d => parseInt(d, 10)) };
}

/** Writes a tensor as numpy.save would: format 1.0 (2.0 when the header needs it). */
export function encodeNpy(tensor: Tensor): Uint8Array {
  const { shape } = tensor;
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${DESCRS[tensor.dtype]}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  if (shape.length > 0) {
    dict += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length));
  }
  let lengthFieldSize = 2;
  let header = paddedHeader(dict, lengthFieldSize);
  if (header.length > 0xffff) {
    lengthFieldSize = 4;
    header = paddedHeader(dict, lengthFieldSize);
  }

  const data = tensor.data;
  const headerStart = PREAMBLE_LENGTH + lengthFieldSize;
  const dataStart = headerStart + header.length;
  const out = new Uint8Array(dataStart + data.byteLength);
  out.set(MAGIC);
  out[MAGIC.length] = lengthFieldSize === 2 ? 1 : 2; // format version 1.0 or 2.0
  const view = new DataView(out.buffer);
  if (lengthFieldSize === 2) {
    view.setUint16(PREAMBLE_LENGTH, header.length, true);
  } else {
    view.setUint32(PREAMBLE_LENGTH, header.length, true);
  }
  out.set(new TextEncoder().encode(header), headerStart);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), dataStart);
  return out;
}

/** The header ends with '\n' and is space-padded so that the data starts aligned. */
function paddedHeader(dict: string, lengthFieldSize: number): string {
  const unpadded = PREAMBLE_LENGTH + lengthFieldSize + dict.length + 1;
  return dict + ' '.repeat(ARRAY_ALIGN - (unpadded % ARRAY_ALIGN)) + '\n';
}
