/** Bodies held whole: joining read chunks, and reading a stream into one buffer under a size limit. */

/**
 * Joins `chunks` into one buffer of `size` bytes (the sum of their lengths); one chunk is returned as is, none
 * as an empty buffer.
 */
export function joinChunks<T extends Uint8Array>(
  chunks: readonly T[],
  size?: number,
): T | Uint8Array<ArrayBuffer> {
  if (chunks.length === 1) return chunks[0];
  let total = size ?? 0;
  if (size === undefined) { for (const chunk of chunks) total += chunk.byteLength; }
  const joined = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    joined.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return joined;
}

/**
 * Reads `stream` whole. Past `limit` bytes it cancels the stream and throws `tooLarge(size so far)`, so
 * nothing larger than the limit plus one chunk is ever held.
 */
export async function readBytesUpTo(
  stream: ReadableStream<Uint8Array>,
  limit: number,
  tooLarge: (size: number) => Error,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        await reader.cancel().catch(() => {});
        throw tooLarge(size);
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  return joinChunks(chunks, size);
}
