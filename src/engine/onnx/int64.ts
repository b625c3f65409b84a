/**
 * A 64-bit integer field as protobufjs hands it over: a Long object when the `long`
 * package can be loaded (Node), a plain number when it cannot (some browser bundles).
 */
export type Int64 = number | { low: number; high: number; unsigned: boolean };

export function int64ToBigInt(value: Int64): bigint {
  if (typeof value === 'number') {
    return BigInt(value);
  }
  const bits = (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0);
  return value.unsigned ? bits : BigInt.asIntN(64, bits);
}

/** The value as a number; beyond 2^53 it is rounded (fine for attributes such as INT64_MAX). */
export function int64ToNumber(value: Int64): number {
  return typeof value === 'number' ? value : Number(int64ToBigInt(value));
}
