/**
 * The gateway's client leg to a backend after the handshake: RFC 6455 framing over a Deno.Conn. Unlike
 * the WebSocket API it can send any close code, ping, and pause reading, which turns a slow client into
 * TCP backpressure on the backend instead of memory growth in the gateway.
 */
import { closeReason, isSendableCode } from "./close_codes.ts";
import {
  encodeFrame,
  FrameParser,
  type FrameSink,
  type FrameViolation,
  OP_BINARY,
  OP_CLOSE,
  OP_PING,
  OP_PONG,
  OP_TEXT,
} from "./frame_codec.ts";

/** How the backend leg ended. */
export interface BackendEnd {
  /**
   * "peer": the backend sent a close frame; "local": we closed first; "lost": the connection ended
   * without a close frame; "violation": the backend broke the protocol and we closed with `code`.
   */
  readonly how: "peer" | "local" | "lost" | "violation";
  /** The backend's close code (1005 when its frame had none), 1006 when lost, or the code we sent. */
  readonly code: number;
  readonly reason: string;
}

/** Receives what the backend sends. */
export interface BackendListener {
  backendText(text: string, bytes: number): void;
  backendBinary(data: Uint8Array): void;
  /** Called once, after the connection is closed. */
  backendClosed(end: BackendEnd): void;
}

const CLOSE_TIMEOUT_MS = 2000;
const READ_BUFFER_BYTES = 65536;
// Small frames queued behind a pending write are joined into one write of up to COALESCE_LIMIT bytes.
const COALESCE_BELOW = 16384;
const COALESCE_LIMIT = 65536;
const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/** One upgraded backend connection; reading starts with `start()`. */
export class BackendSocket implements FrameSink {
  /** Incremented on every read: the session's sweep compares it between ticks to notice silence. */
  reads = 0;
  /** Resolves once the connection is closed and the listener has been told. */
  readonly closed: Promise<void>;
  readonly #conn: Deno.Conn;
  readonly #listener: BackendListener;
  readonly #parser: FrameParser;
  #leftover: Uint8Array;
  #state: "open" | "closing" | "closed" = "open";
  #end: BackendEnd | undefined;
  #violation: FrameViolation | undefined;
  #queue: Uint8Array[] = [];
  #queueHead = 0;
  #queued = 0;
  #flushing = false;
  #onFlushed: (() => void) | undefined;
  #started = false;
  #paused = false;
  #wake: (() => void) | undefined;
  #connClosed = false;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #resolveClosed!: () => void;

  constructor(conn: Deno.Conn, leftover: Uint8Array, maxMessageBytes: number, listener: BackendListener) {
    this.#conn = conn;
    this.#leftover = leftover;
    this.#listener = listener;
    this.#parser = new FrameParser(maxMessageBytes, this);
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
  }

  /** Bytes queued for the backend and not yet written. */
  get bufferedAmount(): number {
    return this.#queued;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Starts reading (once the client leg is open, so nothing arrives before it can be delivered). */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    void this.#readLoop();
  }

  /** Stops reading until `resume()`: the backend then meets TCP backpressure. */
  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#wake?.();
  }

  /** Sends a text message; returns its size in bytes (0 once closing). */
  sendText(text: string): number {
    if (this.#state !== "open") return 0;
    const payload = encoder.encode(text);
    this.#send(OP_TEXT, payload);
    return payload.length;
  }

  /** Sends a binary message. `data` may be masked in place: the caller must not reuse it. */
  sendBinary(data: Uint8Array): void {
    if (this.#state === "open") this.#send(OP_BINARY, data);
  }

  ping(): void {
    if (this.#state === "open") this.#send(OP_PING, EMPTY);
  }

  /**
   * Starts the closing handshake (§7.1.2): sends a close frame (none for `code` undefined) and waits up to
   * 2 s for the backend's reply before dropping the connection.
   */
  close(code?: number, reason = ""): void {
    if (this.#state !== "open") return;
    this.#state = "closing";
    this.#end = { how: "local", code: code ?? 1005, reason };
    this.#send(OP_CLOSE, closePayload(code, reason));
    this.#closeTimer = setTimeout(() => this.#closeConn(), CLOSE_TIMEOUT_MS);
    this.resume();
    this.start();
  }

  /** Drops the connection without a closing handshake. */
  abort(): void {
    this.#end ??= { how: "local", code: 1006, reason: "" };
    this.#closeConn();
    this.start();
  }

  frameMessage(opcode: number, payload: Uint8Array): void {
    if (this.#state !== "open" || this.#violation) return;
    if (opcode === OP_BINARY) return this.#listener.backendBinary(payload);
    let text: string;
    try {
      text = strictDecoder.decode(payload);
    } catch {
      // §8.1: invalid UTF-8 in a text message fails the connection with 1007.
      this.#violation = { code: 1007, reason: "invalid UTF-8 in a text message" };
      return;
    }
    this.#listener.backendText(text, payload.length);
  }

  frameControl(opcode: number, payload: Uint8Array): void {
    if (this.#violation) return;
    if (opcode === OP_PING) {
      // §5.5.2: answer a ping with a pong carrying the same data.
      if (this.#state === "open") this.#send(OP_PONG, payload.slice());
      return;
    }
    if (opcode !== OP_CLOSE) return;
    let code = 1005;
    let reason = "";
    if (payload.length === 1) {
      return void (this.#violation = { code: 1002, reason: "one-byte close payload" });
    }
    if (payload.length >= 2) {
      code = (payload[0] << 8) | payload[1];
      if (!isSendableCode(code)) return void (this.#violation = { code: 1002, reason: `close code ${code}` });
      try {
        reason = strictDecoder.decode(payload.subarray(2));
      } catch {
        return void (this.#violation = { code: 1007, reason: "invalid UTF-8 in the close reason" });
      }
    }
    if (this.#state === "open") {
      // §5.5.1: echo the peer's close, then the connection is done.
      this.#end = { how: "peer", code, reason };
      this.#send(OP_CLOSE, closePayload(code === 1005 ? undefined : code, reason));
    }
    this.#state = "closed";
  }

  async #readLoop(): Promise<void> {
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    try {
      if (this.#leftover.length > 0) {
        this.#parse(this.#leftover);
        this.#leftover = EMPTY;
      }
      while (!this.#violation && this.#state !== "closed" && !this.#connClosed) {
        if (this.#paused) {
          await new Promise<void>((resolve) => this.#wake = resolve);
          this.#wake = undefined;
          continue;
        }
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        this.reads++;
        this.#parse(buffer.subarray(0, n));
      }
    } catch {
      // Reset by the backend, or closed by us: either way the connection is over.
    }
    const violation = this.#violation;
    if (violation && this.#state !== "closed" && !this.#connClosed) {
      if (this.#state === "open") {
        // §5.5.1: no data frame (nor ping) may follow our close, though the session learns of it only later.
        this.#state = "closing";
        this.#end = { how: "violation", code: violation.code, reason: violation.reason };
        this.#send(OP_CLOSE, closePayload(violation.code, violation.reason));
        this.#closeTimer = setTimeout(() => this.#closeConn(), CLOSE_TIMEOUT_MS);
      }
      // Linger (§7.1.1): closing now, with the backend's data unread, would reset the connection and could
      // destroy our close frame before the backend reads it. Discard until it closes or the timer fires.
      await this.#discard(buffer);
    }
    this.#end ??= { how: "lost", code: 1006, reason: "" };
    this.#state = "closed";
    await this.#drain();
    this.#closeConn();
    clearTimeout(this.#closeTimer);
    this.#listener.backendClosed(this.#end);
    this.#resolveClosed();
  }

  async #discard(buffer: Uint8Array): Promise<void> {
    try {
      while (!this.#connClosed && (await this.#conn.read(buffer)) !== null) this.reads++;
    } catch {
      // Closed by the timer or reset by the backend.
    }
  }

  #parse(bytes: Uint8Array): void {
    // Not `??=`: the sink may set #violation while push() runs, and push() would then overwrite it.
    const violation = this.#parser.push(bytes);
    if (violation) this.#violation ??= violation;
  }

  /** Waits (bounded) until queued frames, such as a close reply, are written. */
  #drain(): Promise<void> {
    if (!this.#flushing || this.#connClosed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, CLOSE_TIMEOUT_MS);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#onFlushed = done;
    });
  }

  #closeConn(): void {
    if (this.#connClosed) return;
    this.#connClosed = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    this.#wake?.();
  }

  #send(opcode: number, payload: Uint8Array): void {
    if (this.#connClosed) return;
    const chunks = encodeFrame(opcode, payload);
    for (let i = 0; i < chunks.length; i++) {
      this.#queue.push(chunks[i]);
      this.#queued += chunks[i].length;
    }
    if (!this.#flushing) void this.#flush();
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    try {
      while (this.#queueHead < this.#queue.length) {
        const chunk = this.#take();
        let at = 0;
        while (at < chunk.length) at += await this.#conn.write(chunk.subarray(at));
        this.#queued -= chunk.length;
      }
    } catch {
      // The connection broke; the read loop notices and reports it.
      this.#queue = [];
      this.#queueHead = 0;
      this.#queued = 0;
      this.#closeConn();
    } finally {
      this.#flushing = false;
      this.#onFlushed?.();
      this.#onFlushed = undefined;
    }
  }

  /** The next chunk to write: a large frame as is, or consecutive small frames joined. */
  #take(): Uint8Array {
    const queue = this.#queue;
    const start = this.#queueHead;
    let end = start + 1;
    let total = queue[start].length;
    if (total < COALESCE_BELOW) {
      while (
        end < queue.length && queue[end].length < COALESCE_BELOW &&
        total + queue[end].length <= COALESCE_LIMIT
      ) total += queue[end++].length;
    }
    let chunk = queue[start];
    if (end - start > 1) {
      chunk = new Uint8Array(total);
      let at = 0;
      for (let i = start; i < end; i++) {
        chunk.set(queue[i], at);
        at += queue[i].length;
      }
    }
    if (end === queue.length) {
      queue.length = 0;
      this.#queueHead = 0;
    } else this.#queueHead = end;
    return chunk;
  }
}

function closePayload(code: number | undefined, reason: string): Uint8Array {
  if (code === undefined) return EMPTY;
  const text = encoder.encode(closeReason(reason));
  const payload = new Uint8Array(2 + text.length);
  payload[0] = code >>> 8;
  payload[1] = code & 0xff;
  payload.set(text, 2);
  return payload;
}
