import { ProtocolViolation } from "./protocol_violation.ts";

type ChunkState = "size" | "data" | "data_end" | "trailer" | "done";

const CR = 13;
const LF = 10;
const SP = 32;
const HT = 9;
const SEMICOLON = 59;
// A size line is hex digits plus optional extensions; anything this long is an attack, not a chunk.
const MAX_SIZE_LINE = 4096;

/**
 * Decodes a chunked body (RFC 9112 §7.1) in place in a connection's read buffer: `advance()` consumes framing
 * bytes, the caller takes up to `remaining` data bytes and reports them with `consume()`. Trailers are read and
 * discarded, bounded by `maxTrailerBytes`.
 */
export class ChunkedDecoder {
  state: ChunkState = "size";
  /** Data bytes of the current chunk still to come; meaningful in state "data". */
  remaining = 0;
  #trailerBytes = 0;
  readonly #maxTrailerBytes: number;

  constructor(maxTrailerBytes: number) {
    this.#maxTrailerBytes = maxTrailerBytes;
  }

  /** Consumes framing in `buf[pos, end)` until chunk data, the end of the body, or a need for more bytes. */
  advance(buf: Uint8Array, pos: number, end: number): number {
    for (;;) {
      if (this.state === "data" || this.state === "done") return pos;
      if (this.state === "data_end") {
        if (end - pos < 2) return pos;
        if (buf[pos] !== CR || buf[pos + 1] !== LF) {
          throw new ProtocolViolation("chunk data is not followed by CRLF");
        }
        pos += 2;
        this.state = "size";
      } else if (this.state === "size") {
        const lf = findLineEnd(buf, pos, end, MAX_SIZE_LINE, "chunk size line");
        if (lf === -1) return pos;
        this.remaining = parseChunkSize(buf, pos, lf - 1);
        pos = lf + 1;
        this.state = this.remaining === 0 ? "trailer" : "data";
      } else {
        const lf = findLineEnd(
          buf,
          pos,
          end,
          this.#maxTrailerBytes - this.#trailerBytes + 2,
          "trailer section",
        );
        if (lf === -1) return pos;
        const lineLength = lf + 1 - pos;
        pos = lf + 1;
        if (lineLength === 2) {
          this.state = "done";
          return pos;
        }
        this.#trailerBytes += lineLength;
      }
    }
  }

  /** Records that `n` data bytes of the current chunk were taken. */
  consume(n: number): void {
    this.remaining -= n;
    if (this.remaining === 0) this.state = "data_end";
  }
}

// Returns the index of the LF ending the line at `pos`, or -1 if it has not arrived; rejects bare CR/LF and
// control bytes, the same rules as for the head.
function findLineEnd(buf: Uint8Array, pos: number, end: number, maxLength: number, what: string): number {
  const limit = Math.min(end, pos + maxLength);
  for (let i = pos; i < limit; i++) {
    const b = buf[i];
    if (b > CR) continue;
    if (b === LF) {
      if (i === pos || buf[i - 1] !== CR) throw new ProtocolViolation(`${what} has a bare LF`);
      return i;
    }
    if (b === CR) {
      if (i + 1 < end && buf[i + 1] !== LF) throw new ProtocolViolation(`${what} has a bare CR`);
    } else if (b !== HT) {
      throw new ProtocolViolation(`${what} contains control byte 0x${b.toString(16).padStart(2, "0")}`);
    }
  }
  if (end - pos >= maxLength) throw new ProtocolViolation(`${what} is longer than ${maxLength} bytes`);
  return -1;
}

// chunk-size = 1*HEXDIG, then optional BWS ";" extensions, which we ignore (RFC 9112 §7.1.1).
function parseChunkSize(buf: Uint8Array, from: number, to: number): number {
  let size = 0;
  let i = from;
  for (; i < to; i++) {
    const digit = hexValue(buf[i]);
    if (digit === -1) break;
    size = size * 16 + digit;
    if (size > Number.MAX_SAFE_INTEGER) throw new ProtocolViolation("chunk size overflows 2^53");
  }
  if (i === from) throw new ProtocolViolation("chunk size is not a hexadecimal number");
  while (i < to && (buf[i] === SP || buf[i] === HT)) i++;
  if (i < to && buf[i] !== SEMICOLON) throw new ProtocolViolation("chunk size is not a hexadecimal number");
  return size;
}

function hexValue(b: number): number {
  if (b >= 48 && b <= 57) return b - 48;
  if (b >= 97 && b <= 102) return b - 87;
  if (b >= 65 && b <= 70) return b - 55;
  return -1;
}
