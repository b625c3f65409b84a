/** Prefixes a message with where it happened (a file name, a node) when that is known. */
export function located(where: string, message: string): string {
  return where ? `${where}: ${message}` : message;
}

/**
 * Runs a protobuf decode. protobufjs reports truncated or foreign bytes with bare messages
 * ("index out of range: 12 + 40 > 30"), so they are wrapped to say what was being read.
 */
export function decodeProto<T>(decode: () => T, where: string, what: string): T {
  try {
    return decode();
  } catch (error) {
    throw new Error(located(where, `not a valid ${what} (${(error as Error).message})`));
  }
}
