/**
 * The .wtrt plan file container: JSON metadata and binary blobs (weights) in one checksummed
 * buffer. Little-endian, browser-safe (no Node APIs).
 *
 * Layout:
 *
 * | bytes      | content                                                        |
 * | ---------- | -------------------------------------------------------------- |
 * | 0..4       | magic "WTRT"                                                   |
 * | 4..8       | format version, u32                                            |
 * | 8..12      | header length in bytes, u32                                    |
 * | 12..20     | plan length in bytes (the whole file, checksum included), u64  |
 * | 20..       | header: UTF-8 JSON `{ metadata, blobs: [{ offset, length }] }` |
 * | (aligned)  | blob section, starting at the first multiple of 256 after it   |
 * | last 4     | CRC-32 of every byte before it, u32                            |
 *
 * Blob offsets count from the start of the blob section (so the header can be written before
 * its own length is known) and are multiples of 256, which makes every blob 256-byte aligned in
 * the file: a weight can be uploaded to the GPU straight from the loaded buffer. The plan length
 * in the fixed prefix lets a truncated file be told apart from a corrupted one.
 */

const MAGIC = 'WTRT';
/** The plan format this build writes and reads. */
export const PLAN_FORMAT_VERSION = 1;
const PREFIX_LENGTH = 20;
const CHECKSUM_LENGTH = 4;
export const BLOB_ALIGNMENT = 256;

export interface Plan {
  /** Anything JSON.stringify writes faithfully (no undefined, functions, BigInt or cycles). */
  metadata: object;
  blobs: Uint8Array[];
}

export interface DecodedPlan<Bytes extends ArrayBufferLike = ArrayBufferLike> {
  formatVersion: number;
  metadata: Record<string, unknown>;
  /** Views into the decoded bytes, not copies (so of the same buffer type, for writeBuffer). */
  blobs: Uint8Array<Bytes>[];
}

interface BlobEntry {
  offset: number;
  length: number;
}

interface Header {
  metadata: Record<string, unknown>;
  blobs: BlobEntry[];
}

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

function blobLayout(blobs: readonly Uint8Array[]): { entries: BlobEntry[]; sectionLength: number } {
  let end = 0;
  const entries = blobs.map(blob => {
    const offset = alignUp(end, BLOB_ALIGNMENT);
    end = offset + blob.length;
    return { offset, length: blob.length };
  });
  return { entries, sectionLength: end };
}

export function encodePlan(plan: Plan): Uint8Array<ArrayBuffer> {
  const { entries, sectionLength } = blobLayout(plan.blobs);
  const header = { metadata: plan.metadata, blobs: entries };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const sectionStart = alignUp(PREFIX_LENGTH + headerBytes.length, BLOB_ALIGNMENT);
  const planLength = sectionStart + sectionLength + CHECKSUM_LENGTH;

  const bytes = new Uint8Array(planLength);
  const view = new DataView(bytes.buffer);
  bytes.set(new TextEncoder().encode(MAGIC), 0);
  view.setUint32(4, PLAN_FORMAT_VERSION, true);
  view.setUint32(8, headerBytes.length, true);
  view.setBigUint64(12, BigInt(planLength), true);
  bytes.set(headerBytes, PREFIX_LENGTH);
  plan.blobs.forEach((blob, i) => bytes.set(blob, sectionStart + entries[i].offset));
  const checksumAt = planLength - CHECKSUM_LENGTH;
  view.setUint32(checksumAt, crc32(bytes.subarray(0, checksumAt)), true);
  return bytes;
}

/** Reads a plan written by `encodePlan`. `source` (a file name) prefixes error messages. */
export function decodePlan<Bytes extends ArrayBufferLike>(
  bytes: Uint8Array<Bytes>,
  source = 'plan'
): DecodedPlan<Bytes> {
  const fail = (reason: string) => new Error(`${source}: ${reason}`);
  const magic = String.fromCharCode(...bytes.subarray(0, MAGIC.length));
  if (magic !== MAGIC) {
    throw fail(`not a webtrt plan (it does not start with "${MAGIC}")`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 8) {
    throw fail(`truncated plan: it ends inside its format version (${bytes.length} bytes)`);
  }
  // The version comes before any other check: a later format may lay out the rest differently.
  const formatVersion = view.getUint32(4, true);
  if (formatVersion !== PLAN_FORMAT_VERSION) {
    throw fail(
      `plan format ${formatVersion}, this webtrt reads ${PLAN_FORMAT_VERSION}: rebuild the engine`
    );
  }
  if (bytes.length < PREFIX_LENGTH) {
    throw fail(
      `truncated plan: ${bytes.length} bytes, shorter than its ${PREFIX_LENGTH}-byte prefix`
    );
  }
  const headerLength = view.getUint32(8, true);
  const planLength = Number(view.getBigUint64(12, true));
  if (bytes.length < planLength) {
    throw fail(`truncated plan: ${bytes.length} bytes of the ${planLength} it declares`);
  }
  if (bytes.length > planLength) {
    throw fail(`${bytes.length - planLength} unexpected bytes after the plan's end`);
  }
  const checksumAt = planLength - CHECKSUM_LENGTH;
  const sectionStart = alignUp(PREFIX_LENGTH + headerLength, BLOB_ALIGNMENT);
  if (checksumAt < sectionStart) {
    throw fail(
      `corrupted or modified plan: its ${headerLength}-byte header does not fit its length of ${planLength} bytes`
    );
  }
  const stored = view.getUint32(checksumAt, true);
  const computed = crc32(bytes.subarray(0, checksumAt));
  if (stored !== computed) {
    throw fail(
      `checksum mismatch: the plan is corrupted or modified (CRC-32 ${hex(computed)}, stored ${hex(stored)})`
    );
  }

  const header = parseHeader(bytes.subarray(PREFIX_LENGTH, PREFIX_LENGTH + headerLength), fail);
  const sectionLength = checksumAt - sectionStart;
  const blobs = header.blobs.map(({ offset, length }, i) => {
    if (offset % BLOB_ALIGNMENT !== 0 || offset + length > sectionLength) {
      throw fail(
        `blob ${i} (offset ${offset}, ${length} bytes) lies outside the ${sectionLength}-byte blob section or off its ${BLOB_ALIGNMENT}-byte alignment`
      );
    }
    return bytes.subarray(sectionStart + offset, sectionStart + offset + length);
  });
  return { formatVersion, metadata: header.metadata, blobs };
}

function parseHeader(headerBytes: Uint8Array, fail: (reason: string) => Error): Header {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (error) {
    throw fail(`the plan header is not valid JSON (${(error as Error).message})`);
  }
  if (!isObject(header) || !isObject(header.metadata) || !Array.isArray(header.blobs)) {
    throw fail('the plan header lacks its metadata object or its blob table');
  }
  header.blobs.forEach((entry: unknown, i) => {
    if (!isObject(entry) || !isByteCount(entry.offset) || !isByteCount(entry.length)) {
      throw fail(`blob ${i} of the plan's blob table has no valid offset and length`);
    }
  });
  return header as unknown as Header;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isByteCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

let crcTable: Uint32Array | undefined;

/** CRC-32 as zlib and PNG compute it (reflected polynomial 0xEDB88320). */
export function crc32(bytes: Uint8Array): number {
  crcTable ??= Uint32Array.from({ length: 256 }, (_, byte) => {
    let c = byte;
    for (let bit = 0; bit < 8; bit++) {
      c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    return c;
  });
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) {
    crc = crcTable[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** What every plan's metadata begins with: what the plan holds, in which version of its layout. */
export interface PlanContents {
  format: string;
  formatVersion: number;
}

/**
 * Decodes a plan that must hold `format` in `formatVersion` (an engine, a converted model),
 * refusing any other and saying what it holds.
 */
export function decodePlanOf<Stored extends PlanContents>(
  bytes: Uint8Array,
  { format, formatVersion }: PlanContents
): { stored: Stored; blobs: Uint8Array[] } {
  const plan = decodePlan(bytes);
  const stored = plan.metadata as unknown as Stored;
  if (stored.format !== format || stored.formatVersion !== formatVersion) {
    throw new Error(
      `plan: not a ${format} version ${formatVersion} plan (format '${String(stored.format)}', version ${String(stored.formatVersion)})`
    );
  }
  return { stored, blobs: plan.blobs };
}
