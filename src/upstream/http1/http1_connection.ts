import { UpstreamError } from "../client.ts";
import { ProtocolViolation } from "./protocol_violation.ts";

/** What a connection needs from the pool that owns it. */
export interface ConnectionOwner {
  /** Takes the connection back after a clean exchange (to the idle list, a waiter, or closed). */
  release(conn: Http1Connection): void;
  /** Closes the connection for good and frees its slot. */
  discard(conn: Http1Connection): void;
}

type TimerPhase = "first_byte" | "body_idle" | "send_idle";

const TIMED_OUT: Record<TimerPhase, [action: string, what: string]> = {
  first_byte: ["read response from", "no response head within"],
  body_idle: ["read response body from", "no data for"],
  send_idle: ["send request body to", "it accepted no data for"],
};

/**
 * One keep-alive socket to a backend and its reusable read buffer (`buf[start, end)` holds unread bytes). It
 * carries one exchange at a time; that exchange's timer, abort listener and failure live here, so the hot path
 * creates no closures. Closing the socket is how a timer or an abort interrupts a pending read or write.
 */
export class Http1Connection {
  readonly key: string;
  readonly createdAt: number;
  /** "busy" during an exchange, "idle" while pooled, "gone" once discarded. */
  state: "busy" | "idle" | "gone" = "busy";
  idleSince = 0;
  /** Exchanges begun on this socket; more than one means it was reused. */
  exchanges = 0;
  /** Cleared when the current exchange forbids reuse (Connection: close, unsent body, …). */
  keepAlive = true;
  /** How long the connection may stay idle and still be reused, from the backend's Keep-Alive hint. */
  reuseWithinMs = Infinity;
  /** Whether any byte of the current response arrived: a failure before that may be a stale socket. */
  gotBytes = false;
  /** Whether a write of the current exchange was attempted. */
  requestSent = false;
  /** Whether the current exchange is done sending and waits for (or reads) the response. */
  receiving = false;
  /** How many bytes of an incomplete response head were already scanned. */
  scanned = 0;
  /** The reader of a request body being streamed: an abort cancels it, as the client may never send more. */
  bodyReader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  buf: Uint8Array<ArrayBuffer>;
  start = 0;
  end = 0;
  readonly #socket: Deno.Conn;
  readonly #owner: ConnectionOwner;
  readonly #maxBuffer: number;
  #closed = false;
  #pending: Promise<number | null> | null = null;
  // The phase deadline (0 when disarmed) and the timer that checks it. Re-arming only moves the deadline: the
  // pending timer, when it fires, re-schedules itself for the rest, so the hot path creates no timer at all.
  #deadline = 0;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  #timerAt = 0;
  #timerPhase: TimerPhase = "first_byte";
  #timerMs = 0;
  #failure: TimerPhase | "aborted" | null = null;
  #signal: AbortSignal | null = null;
  readonly #onTimer = (): void => {
    this.#timer = undefined;
    if (this.#deadline === 0) return;
    const left = this.#deadline - Date.now();
    if (left > 0) return this.#schedule(left);
    this.#deadline = 0;
    this.#failure = this.#timerPhase;
    this.close();
  };
  // A read pending while pooled settles early only if the backend closed or sent unsolicited bytes.
  readonly #onIdleRead = (): void => {
    if (this.state === "idle") this.#owner.discard(this);
  };

  constructor(socket: Deno.Conn, owner: ConnectionOwner, key: string, maxBuffer: number) {
    this.#socket = socket;
    this.#owner = owner;
    this.key = key;
    this.#maxBuffer = maxBuffer;
    this.buf = new Uint8Array(Math.min(16384, maxBuffer));
    this.createdAt = Date.now();
  }

  /** Starts an exchange; an abort of `signal` destroys the socket. */
  begin(signal: AbortSignal | null): void {
    this.state = "busy";
    this.exchanges++;
    this.keepAlive = true;
    this.gotBytes = false;
    this.requestSent = false;
    this.receiving = false;
    this.scanned = 0;
    this.#failure = null;
    if (signal !== null) {
      this.#signal = signal;
      signal.addEventListener("abort", this);
      // It may have fired while a queued request was being handed this connection.
      if (signal.aborted) this.handleEvent();
    }
  }

  /** The abort listener (an object listener avoids a closure per exchange). */
  handleEvent(): void {
    if (this.state !== "busy" || this.#failure !== null) return;
    this.#failure = "aborted";
    // Discarded now, not when the exchange notices: a body stream nobody reads or cancels would otherwise
    // hold the pool slot for good.
    this.destroy();
    this.bodyReader?.cancel().catch(ignore);
  }

  /** Starts the deadline of a phase; when it passes the socket is closed and reads fail with a timeout. */
  arm(phase: TimerPhase, ms: number): void {
    this.#timerPhase = phase;
    this.#timerMs = ms;
    this.#deadline = Date.now() + ms;
    if (this.#timer === undefined) this.#schedule(ms);
    else if (this.#timerAt > this.#deadline) {
      clearTimeout(this.#timer);
      this.#schedule(ms);
    }
  }

  disarm(): void {
    this.#deadline = 0;
  }

  /**
   * Hot-path write: resolves to the number of bytes written, which may be short; finish with `write()`.
   * Failures reject with the raw error, for `toUpstreamError()`.
   */
  writeSome(bytes: Uint8Array): Promise<number> {
    this.requestSent = true;
    return this.#socket.write(bytes);
  }

  /** Writes all of `bytes`; with `idleTimeoutMs`, fails when the backend accepts nothing for that long. */
  async write(bytes: Uint8Array, idleTimeoutMs = 0): Promise<void> {
    this.requestSent = true;
    try {
      for (let written = 0; written < bytes.length;) {
        if (idleTimeoutMs > 0) this.arm("send_idle", idleTimeoutMs);
        written += await this.#socket.write(written === 0 ? bytes : bytes.subarray(written));
      }
    } catch (err) {
      throw this.#ioError(err);
    }
    if (idleTimeoutMs > 0) this.disarm();
    if (this.#failure !== null) throw this.failure();
  }

  /**
   * Hot-path read: starts (or joins the pending) read into `buf` after `end`; hand its result to `took()`.
   * Failures reject with the raw error, for `toUpstreamError()`.
   */
  read(): Promise<number | null> {
    return this.#pending ?? this.#startRead();
  }

  /** Accounts for a read that `read()` started; false at end of stream. */
  took(n: number | null): boolean {
    this.#pending = null;
    if (this.#failure !== null) throw this.failure();
    if (n === null) return false;
    this.end += n;
    this.gotBytes = true;
    return true;
  }

  /** Reads more bytes into `buf` after `end`; false at end of stream. */
  async fill(): Promise<boolean> {
    try {
      return this.took(await this.read());
    } catch (err) {
      throw this.toUpstreamError(err);
    }
  }

  /** Resolves once a read (started now if none is pending) has settled; `fill()` then takes its result. */
  readable(): Promise<boolean> {
    return (this.#pending ?? this.#startRead()).then(settled, settled);
  }

  /** Reads straight into `target`, bypassing `buf` (which must be empty); null at end of stream. */
  async readInto(target: Uint8Array): Promise<number | null> {
    let n: number | null;
    try {
      n = await this.#socket.read(target);
    } catch (err) {
      throw this.#ioError(err);
    }
    if (this.#failure !== null) throw this.failure();
    if (n !== null) this.gotBytes = true;
    return n;
  }

  /** Ends a clean exchange: the pool gets the socket back unless something forbids reuse. */
  finish(): void {
    this.#detach();
    if (this.keepAlive && this.start === this.end && !this.#closed) this.#owner.release(this);
    else this.#owner.discard(this);
  }

  /** Ends a failed exchange: the socket is closed, never reused. */
  destroy(): void {
    this.#detach();
    this.#owner.discard(this);
  }

  /** Called by the pool when the socket becomes idle: a read stays pending to notice a close by the backend. */
  park(now: number): void {
    this.state = "idle";
    this.idleSince = now;
    this.start = 0;
    this.end = 0;
    this.#startRead().then(this.#onIdleRead, this.#onIdleRead);
  }

  close(): void {
    this.#deadline = 0;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#socket.close();
    } catch { /* already closed */ }
  }

  /** Whether a timer or an abort ended the current exchange. */
  get failed(): boolean {
    return this.#failure !== null;
  }

  /** The error for a timer or abort that ended the exchange. */
  failure(): UpstreamError {
    if (this.#failure === "aborted" || this.#failure === null) {
      return new UpstreamError(
        "aborted",
        `Cannot finish exchange with backend "${this.key}": the client went away`,
        this.requestSent,
      );
    }
    const [action, what] = TIMED_OUT[this.#failure];
    return new UpstreamError(
      "timeout",
      `Cannot ${action} backend "${this.key}": ${what} ${this.#timerMs} ms`,
      true,
    );
  }

  /** The error for a backend that closed the connection too early. */
  closedEarly(what: string): UpstreamError {
    return new UpstreamError("reset", `Cannot read response from backend "${this.key}": ${what}`, true);
  }

  /** Any failure of the current exchange as the UpstreamError callers see. */
  toUpstreamError(err: unknown): UpstreamError {
    if (err instanceof UpstreamError) return err;
    if (err instanceof ProtocolViolation) {
      return new UpstreamError(
        "protocol",
        `Cannot read response from backend "${this.key}": ${err.message}`,
        true,
      );
    }
    return this.#ioError(err);
  }

  #schedule(ms: number): void {
    this.#timerAt = Date.now() + ms;
    this.#timer = setTimeout(this.#onTimer, ms);
    // A pooled socket may keep a stale timer until it fires; that must not keep the process alive.
    Deno.unrefTimer(this.#timer);
  }

  #startRead(): Promise<number | null> {
    if (this.start === this.end) {
      this.start = 0;
      this.end = 0;
    } else if (this.end === this.buf.length) {
      this.#makeRoom();
    }
    this.#pending = this.#socket.read(this.end === 0 ? this.buf : this.buf.subarray(this.end));
    return this.#pending;
  }

  #makeRoom(): void {
    if (this.start > 0) {
      this.buf.copyWithin(0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
      return;
    }
    // Callers enforce their own limits (head size, line length) below this one.
    if (this.buf.length >= this.#maxBuffer) throw new ProtocolViolation("response overflows the read buffer");
    const bigger = new Uint8Array(Math.min(this.buf.length * 2, this.#maxBuffer));
    bigger.set(this.buf.subarray(0, this.end));
    this.buf = bigger;
  }

  #detach(): void {
    this.disarm();
    if (this.#signal !== null) {
      this.#signal.removeEventListener("abort", this);
      this.#signal = null;
    }
  }

  #ioError(err: unknown): UpstreamError {
    if (this.#failure !== null) return this.failure();
    if (err instanceof UpstreamError) return err;
    let detail: string;
    if (err instanceof Deno.errors.ConnectionReset) detail = "connection reset";
    else if (err instanceof Deno.errors.BrokenPipe) detail = "connection closed";
    else if (this.#closed || err instanceof Deno.errors.BadResource) detail = "connection closed";
    else detail = err instanceof Error ? err.message : String(err);
    const action = this.receiving ? "read response from" : "send request to";
    return new UpstreamError("reset", `Cannot ${action} backend "${this.key}": ${detail}`, this.requestSent, {
      cause: err,
    });
  }
}

function settled(): boolean {
  return true;
}

function ignore(): void {}
