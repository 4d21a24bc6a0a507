/** A synchronous writer such as `Deno.stdout` or `Deno.stderr`. */
export interface SyncWriter {
  writeSync(p: Uint8Array): number;
}

// POSIX makes a pipe write of at most PIPE_BUF bytes (4096 on Linux) atomic. Worker processes inherit
// one stdout/stderr, so a larger write can be split and interleaved with another worker's, mid-line.
const ATOMIC_BYTES = 4096;
const LF = 10;

/**
 * Writes every byte of `bytes` (a single `writeSync` may write fewer than asked), in chunks that end on
 * a line break and stay within PIPE_BUF where the lines allow, so lines from several processes sharing
 * the descriptor never mix. A line longer than PIPE_BUF is written whole.
 */
export function writeAllSync(file: SyncWriter, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) {
    let end = bytes.length;
    if (end - offset > ATOMIC_BYTES) {
      const lf = bytes.lastIndexOf(LF, offset + ATOMIC_BYTES - 1);
      if (lf >= offset) end = lf + 1;
      else {
        const next = bytes.indexOf(LF, offset + ATOMIC_BYTES);
        if (next >= 0) end = next + 1;
      }
    }
    while (offset < end) {
      const n = file.writeSync(bytes.subarray(offset, end));
      // A writer that makes no progress would spin here forever.
      if (!(n > 0)) {
        throw new Error(
          `Cannot write ${end - offset} bytes as the writer must accept some: it accepted ${n}`,
        );
      }
      offset += n;
    }
  }
}
