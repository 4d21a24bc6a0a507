/**
 * WebSocket framing (RFC 6455 §5) for the gateway's own client leg to a backend: frames we send are
 * masked (§5.3, a client MUST mask), frames we receive must not be (§5.1). The parser is incremental
 * and enforces the message size limit from the frame headers, before buffering the payload.
 */

export const OP_CONTINUATION = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

/** Close codes the gateway itself uses when a backend breaks the protocol (RFC 6455 §7.4.1). */
export type ViolationCode = 1002 | 1007 | 1009;

const EMPTY = new Uint8Array(0);
// Masks come from a pool refilled by the CSPRNG: §10.3 wants them unpredictable, one call per 1024 frames.
const maskPool = new Uint8Array(4096);
let maskAt = maskPool.length;
const scratch = new Uint8Array(4);
const scratch32 = new Uint32Array(scratch.buffer);

/** Builds the header of a final frame carrying `length` payload bytes, masked with `mask` (4 bytes). */
function frameHeader(opcode: number, length: number, mask: Uint8Array, into: Uint8Array): number {
  into[0] = 0x80 | opcode;
  let at: number;
  if (length < 126) {
    into[1] = 0x80 | length;
    at = 2;
  } else if (length < 65536) {
    into[1] = 0x80 | 126;
    into[2] = length >>> 8;
    into[3] = length & 0xff;
    at = 4;
  } else {
    into[1] = 0x80 | 127;
    // §5.2: 64-bit length, most significant bit 0; our messages stay far below 2^32.
    into[2] =
      into[3] =
      into[4] =
      into[5] =
        0;
    into[6] = length >>> 24;
    into[7] = (length >>> 16) & 0xff;
    into[8] = (length >>> 8) & 0xff;
    into[9] = length & 0xff;
    at = 10;
  }
  into[at] = mask[0];
  into[at + 1] = mask[1];
  into[at + 2] = mask[2];
  into[at + 3] = mask[3];
  return at + 4;
}

function headerLength(length: number): number {
  return (length < 126 ? 2 : length < 65536 ? 4 : 10) + 4;
}

function nextMask(): Uint8Array {
  if (maskAt === maskPool.length) {
    crypto.getRandomValues(maskPool);
    maskAt = 0;
  }
  maskAt += 4;
  return maskPool.subarray(maskAt - 4, maskAt);
}

/** XORs `data` with the 4-byte `mask` in place (§5.3), a word at a time where the view is aligned. */
export function applyMask(data: Uint8Array, mask: Uint8Array): void {
  const n = data.length;
  let i = 0;
  if (n >= 32 && (data.byteOffset & 3) === 0) {
    scratch.set(mask);
    const m = scratch32[0];
    const words = n >>> 2;
    const view = new Uint32Array(data.buffer, data.byteOffset, words);
    for (let w = 0; w < words; w++) view[w] ^= m;
    i = words << 2;
  }
  for (; i < n; i++) data[i] ^= mask[i & 3];
}

// Below this size a frame is built as one buffer (one write); above it the payload is masked in place.
const COPY_BELOW = 16384;

/**
 * Encodes one final, masked frame as one or two chunks to write in order. `payload` is owned by the
 * caller but may be masked in place when large (the gateway never reads it again).
 */
export function encodeFrame(opcode: number, payload: Uint8Array): Uint8Array[] {
  const mask = nextMask();
  const n = payload.length;
  if (n < COPY_BELOW) {
    const frame = new Uint8Array(headerLength(n) + n);
    const at = frameHeader(opcode, n, mask, frame);
    frame.set(payload, at);
    applyMask(frame.subarray(at), mask);
    return [frame];
  }
  const header = new Uint8Array(headerLength(n));
  frameHeader(opcode, n, mask, header);
  applyMask(payload, mask);
  return [header, payload];
}

/** Receives what the parser decodes. Payloads are fresh copies the receiver may keep. */
export interface FrameSink {
  /** A complete text (1) or binary (2) message, fragments joined. */
  frameMessage(opcode: number, payload: Uint8Array): void;
  /** A close, ping or pong frame. */
  frameControl(opcode: number, payload: Uint8Array): void;
}

/** The reason parsing stopped: the code to close the backend with and a message for logs. */
export interface FrameViolation {
  readonly code: ViolationCode;
  readonly reason: string;
}

/** Incremental parser of server-to-client frames with a message size limit. */
export class FrameParser {
  readonly #max: number;
  readonly #sink: FrameSink;
  readonly #head = new Uint8Array(14);
  #headLength = 0;
  #fin = false;
  #opcode = 0;
  /** Payload of the frame being read, or null while reading a header. */
  #payload: Uint8Array | null = null;
  #filled = 0;
  /** Opcode of the fragmented message in progress (0 when none) and its fragments. */
  #messageOpcode = 0;
  #fragments: Uint8Array[] = [];
  #fragmentBytes = 0;

  constructor(maxMessageBytes: number, sink: FrameSink) {
    this.#max = maxMessageBytes;
    this.#sink = sink;
  }

  /** Consumes `chunk` (copied as needed); returns a violation when the stream breaks the protocol. */
  push(chunk: Uint8Array): FrameViolation | undefined {
    const end = chunk.length;
    let pos = 0;
    while (pos < end) {
      const payload = this.#payload;
      if (payload !== null) {
        const take = Math.min(payload.length - this.#filled, end - pos);
        payload.set(chunk.subarray(pos, pos + take), this.#filled);
        this.#filled += take;
        pos += take;
        if (this.#filled === payload.length) {
          this.#payload = null;
          this.#deliver(payload);
        }
        continue;
      }
      const head = this.#head;
      while (this.#headLength < 2 && pos < end) head[this.#headLength++] = chunk[pos++];
      if (this.#headLength < 2) break;
      const len7 = head[1] & 0x7f;
      const needed = len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
      while (this.#headLength < needed && pos < end) head[this.#headLength++] = chunk[pos++];
      if (this.#headLength < needed) break;
      this.#headLength = 0;
      const problem = this.#startFrame(head, len7);
      if (problem) return problem;
    }
    return undefined;
  }

  #startFrame(head: Uint8Array, len7: number): FrameViolation | undefined {
    const b0 = head[0];
    const opcode = b0 & 0x0f;
    const fin = (b0 & 0x80) !== 0;
    // §5.2: RSV bits must be 0 when no extension was negotiated (we offer none).
    if ((b0 & 0x70) !== 0) return { code: 1002, reason: "reserved bits set without an extension" };
    // §5.1: a client must close the connection when a server masks a frame.
    if ((head[1] & 0x80) !== 0) return { code: 1002, reason: "masked frame from the server" };
    let length = len7;
    if (len7 === 126) length = (head[2] << 8) | head[3];
    else if (len7 === 127) {
      // §5.2: the most significant bit of a 64-bit length must be 0; set, it is a broken frame, not a big one.
      if ((head[2] & 0x80) !== 0) return { code: 1002, reason: "64-bit length with the top bit set" };
      const high = ((head[2] << 24) >>> 0) + (head[3] << 16) + (head[4] << 8) + head[5];
      if (high !== 0) return { code: 1009, reason: `message of more than ${this.#max} bytes` };
      length = ((head[6] << 24) >>> 0) + (head[7] << 16) + (head[8] << 8) + head[9];
    }
    if (opcode >= 0x8) {
      // §5.5: control frames are never fragmented and carry at most 125 bytes.
      if (opcode > OP_PONG) return { code: 1002, reason: `unknown opcode ${opcode}` };
      if (!fin || length > 125) return { code: 1002, reason: "fragmented or oversized control frame" };
    } else if (opcode === OP_CONTINUATION) {
      if (this.#messageOpcode === 0) return { code: 1002, reason: "continuation without a message" };
    } else if (opcode === OP_TEXT || opcode === OP_BINARY) {
      // §5.4: fragments of one message are not interleaved with another data message.
      if (this.#messageOpcode !== 0) return { code: 1002, reason: "new message inside a fragmented one" };
    } else {
      return { code: 1002, reason: `unknown opcode ${opcode}` };
    }
    if (opcode < 0x8 && this.#fragmentBytes + length > this.#max) {
      return { code: 1009, reason: `message of more than ${this.#max} bytes` };
    }
    this.#fin = fin;
    this.#opcode = opcode;
    if (length === 0) this.#deliver(EMPTY);
    else {
      this.#payload = new Uint8Array(length);
      this.#filled = 0;
    }
    return undefined;
  }

  #deliver(payload: Uint8Array): void {
    const opcode = this.#opcode;
    if (opcode >= 0x8) return this.#sink.frameControl(opcode, payload);
    if (this.#fin && this.#messageOpcode === 0) return this.#sink.frameMessage(opcode, payload);
    if (this.#messageOpcode === 0) this.#messageOpcode = opcode;
    this.#fragments.push(payload);
    this.#fragmentBytes += payload.length;
    if (!this.#fin) return;
    const whole = new Uint8Array(this.#fragmentBytes);
    let at = 0;
    for (const part of this.#fragments) {
      whole.set(part, at);
      at += part.length;
    }
    const messageOpcode = this.#messageOpcode;
    this.#messageOpcode = 0;
    this.#fragments = [];
    this.#fragmentBytes = 0;
    this.#sink.frameMessage(messageOpcode, whole);
  }
}
