import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  BLOB_ALIGNMENT,
  crc32,
  decodePlan,
  encodePlan,
  PLAN_FORMAT_VERSION
} from '../../src/engine/runtime/plan';
import { UNTUNED } from '../helpers/gpu';

const PREFIX_LENGTH = 20;

function bytesOf(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed * 17 + 1) & 0xff);
}

const METADATA = {
  name: 'résumé net ✓',
  layers: [{ name: 'conv1', tactic: 3, shape: [1, 64, 56, 56] }],
  ...UNTUNED,
  precision: 'fp16',
  nothing: null
};
const BLOBS = [bytesOf(1000, 1), bytesOf(0, 2), bytesOf(256, 3), bytesOf(3, 4), bytesOf(513, 5)];

function samplePlan(): Uint8Array {
  return encodePlan({ metadata: METADATA, blobs: BLOBS });
}

/** Rewrites the checksum after an edit, as a tool that means to tamper would. */
function resealed(bytes: Uint8Array): Uint8Array {
  const copy = bytes.slice();
  const at = copy.length - 4;
  new DataView(copy.buffer).setUint32(at, crc32(copy.subarray(0, at)), true);
  return copy;
}

/** A plan whose header is `headerText`, laid out and sealed as encodePlan would. */
function planWithHeader(headerText: string, blobSectionLength: number): Uint8Array {
  const header = new TextEncoder().encode(headerText);
  const sectionStart = Math.ceil((PREFIX_LENGTH + header.length) / BLOB_ALIGNMENT) * BLOB_ALIGNMENT;
  const length = sectionStart + blobSectionLength + 4;
  const bytes = new Uint8Array(length);
  const view = new DataView(bytes.buffer);
  bytes.set(new TextEncoder().encode('WTRT'));
  view.setUint32(4, PLAN_FORMAT_VERSION, true);
  view.setUint32(8, header.length, true);
  view.setBigUint64(12, BigInt(length), true);
  bytes.set(header, PREFIX_LENGTH);
  return resealed(bytes);
}

describe('plan round trip', () => {
  test('metadata and several blobs come back byte for byte', () => {
    const decoded = decodePlan(samplePlan(), 'net.wtrt');
    assert.equal(decoded.formatVersion, PLAN_FORMAT_VERSION);
    assert.deepEqual(decoded.metadata, METADATA);
    assert.equal(decoded.blobs.length, BLOBS.length);
    decoded.blobs.forEach((blob, i) => assert.deepEqual(blob, BLOBS[i]));
  });

  test('every blob starts 256-byte aligned in the file', () => {
    const bytes = samplePlan();
    const decoded = decodePlan(bytes);
    for (const blob of decoded.blobs) {
      assert.equal(blob.buffer, bytes.buffer, 'blobs are views, not copies');
      assert.equal((blob.byteOffset - bytes.byteOffset) % BLOB_ALIGNMENT, 0);
    }
  });

  test('a plan with no blobs, and one read from inside a larger buffer', () => {
    const bytes = encodePlan({ metadata: {}, blobs: [] });
    const embedded = new Uint8Array(bytes.length + 7);
    embedded.set(bytes, 3);
    const decoded = decodePlan(embedded.subarray(3, 3 + bytes.length));
    assert.deepEqual(decoded.metadata, {});
    assert.deepEqual(decoded.blobs, []);
  });

  test('encoding is deterministic', () => {
    assert.deepEqual(samplePlan(), samplePlan());
  });
});

describe('CRC-32', () => {
  test('the standard check value', () => {
    assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
    assert.equal(crc32(new Uint8Array(0)), 0);
  });
});

describe('damaged plans are refused with one clear line naming the source', () => {
  test('another file type', () => {
    const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.throws(() => decodePlan(png, 'cat.png'), /^Error: cat\.png: not a webtrt plan/);
    assert.throws(() => decodePlan(new Uint8Array(0), 'empty.wtrt'), /empty\.wtrt: not a webtrt/);
  });

  test('a plan from a later format', () => {
    const future = samplePlan().slice();
    new DataView(future.buffer).setUint32(4, 2, true);
    assert.throws(
      () => decodePlan(future, 'new.wtrt'),
      /^Error: new\.wtrt: plan format 2, this webtrt reads 1: rebuild the engine$/
    );
  });

  test('truncated anywhere: inside the prefix, the header, a blob, the checksum', () => {
    const bytes = samplePlan();
    for (const length of [6, 15, 40, 300, bytes.length - 600, bytes.length - 1]) {
      assert.throws(
        () => decodePlan(bytes.subarray(0, length), 'cut.wtrt'),
        /^Error: cut\.wtrt: truncated plan/,
        `cut at ${length}`
      );
    }
  });

  test('bytes after its end', () => {
    const bytes = samplePlan();
    const longer = new Uint8Array(bytes.length + 2);
    longer.set(bytes);
    assert.throws(() => decodePlan(longer, 'x.wtrt'), /x\.wtrt: 2 unexpected bytes after/);
  });

  test('any flipped byte after the prefix fails the checksum', () => {
    const bytes = samplePlan();
    const blobStart = decodePlan(bytes).blobs[0].byteOffset;
    for (const at of [PREFIX_LENGTH + 3, blobStart + 10, bytes.length - 1]) {
      const flipped = bytes.slice();
      flipped[at] ^= 0x40;
      assert.throws(
        () => decodePlan(flipped, 'tampered.wtrt'),
        /^Error: tampered\.wtrt: checksum mismatch: the plan is corrupted or modified/,
        `byte ${at}`
      );
    }
  });

  test('a header length that does not fit the plan', () => {
    const bytes = samplePlan().slice();
    new DataView(bytes.buffer).setUint32(8, bytes.length, true);
    assert.throws(() => decodePlan(bytes, 'x.wtrt'), /x\.wtrt: corrupted or modified plan/);
  });

  test('a blob table pointing outside the blob section', () => {
    const header = (offset: number, length: number) =>
      JSON.stringify({
        metadata: {},
        blobs: [
          { offset: 0, length: 8 },
          { offset, length }
        ]
      });
    assert.equal(decodePlan(planWithHeader(header(256, 8), 264)).blobs[1].length, 8);
    for (const [offset, length] of [
      [256, 9],
      [512, 1],
      [8, 8]
    ]) {
      assert.throws(
        () => decodePlan(planWithHeader(header(offset, length), 264), 'bad.wtrt'),
        /^Error: bad\.wtrt: blob 1 \(offset \d+, \d+ bytes\) lies outside/,
        `offset ${offset}, length ${length}`
      );
    }
  });

  test('a header that is not JSON, or lacks its parts', () => {
    assert.throws(
      () => decodePlan(planWithHeader('{"metadata": {', 0), 'x.wtrt'),
      /^Error: x\.wtrt: the plan header is not valid JSON/
    );
    assert.throws(
      () => decodePlan(planWithHeader('{"metadata": {}}', 0), 'x.wtrt'),
      /x\.wtrt: the plan header lacks its metadata object or its blob table/
    );
    assert.throws(
      () => decodePlan(planWithHeader('{"metadata": {}, "blobs": [{"offset": -1}]}', 0), 'x.wtrt'),
      /x\.wtrt: blob 0 of the plan's blob table has no valid offset and length/
    );
  });
});
