import { UpstreamError } from "../client.ts";
import { ProtocolViolation } from "./protocol_violation.ts";

/** What a connection needs from the pool that owns it. */
export interface ConnectionOwner {
  /** Takes the connection back after a clean exchange (to the idle list, a waiter, or closed). */
  release(conn: Http1Connection): void;
  /** Closes the connection for good and frees its slot. */
  discard(conn: Http1Connection): void;
}

type TimerPhase = "first_byte" | "body_idle";

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
  /** Whether any byte of the current response arrived: a failure before that may be a stale socket. */
  gotBytes = false;
  /** Whether a write of the current exchange was attempted. */
  requestSent = false;
  buf: Uint8Array<ArrayBuffer>;
  start = 0;
  end = 0;
  readonly #socket: Deno.Conn;
  readonly #owner: ConnectionOwner;
  readonly #maxBuffer: number;
  #closed = false;
  #pending: Promise<number | null> | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  #timerPhase: TimerPhase = "first_byte";
  #timerMs = 0;
  #failure: TimerPhase | "aborted" | null = null;
  #signal: AbortSignal | null = null;
  readonly #onTimer = (): void => {
    this.#timer = undefined;
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
    if (signal !== null) {
      this.#signal = signal;
      signal.addEventListener("abort", this);
    }
  }

  /** The abort listener (an object listener avoids a closure per exchange). */
  handleEvent(): void {
    if (this.state !== "busy" || this.#failure !== null) return;
    this.#failure = "aborted";
    this.close();
  }

  /** Starts the timer of a phase; when it fires the socket is closed and reads fail with a timeout. */
  arm(phase: TimerPhase, ms: number): void {
    this.#timerPhase = phase;
    this.#timerMs = ms;
    this.#timer = setTimeout(this.#onTimer, ms);
  }

  disarm(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  async write(bytes: Uint8Array): Promise<void> {
    this.requestSent = true;
    try {
      let written = await this.#socket.write(bytes);
      while (written < bytes.length) written += await this.#socket.write(bytes.subarray(written));
    } catch (err) {
      throw this.#ioError(err, "send request to");
    }
    if (this.#failure !== null) throw this.failure();
  }

  /** Reads more bytes into `buf` after `end`; false at end of stream. */
  async fill(): Promise<boolean> {
    const pending = this.#pending ?? this.#startRead();
    let n: number | null;
    try {
      n = await pending;
    } catch (err) {
      this.#pending = null;
      throw this.#ioError(err, "read response from");
    }
    this.#pending = null;
    if (this.#failure !== null) throw this.failure();
    if (n === null) return false;
    this.end += n;
    this.gotBytes = true;
    return true;
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
      throw this.#ioError(err, "read response from");
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
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#socket.close();
    } catch { /* already closed */ }
  }

  /** The error for a timer or abort that ended the exchange. */
  failure(): UpstreamError {
    if (this.#failure === "first_byte") {
      return new UpstreamError(
        "timeout",
        `Cannot read response from backend "${this.key}": no response head within ${this.#timerMs} ms`,
        true,
      );
    }
    if (this.#failure === "body_idle") {
      return new UpstreamError(
        "timeout",
        `Cannot read response body from backend "${this.key}": no data for ${this.#timerMs} ms`,
        true,
      );
    }
    return new UpstreamError(
      "aborted",
      `Cannot finish exchange with backend "${this.key}": the client went away`,
      this.requestSent,
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
    return this.#ioError(err, "read response from");
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
    this.#failure = null;
  }

  #ioError(err: unknown, action: string): UpstreamError {
    if (this.#failure !== null) return this.failure();
    if (err instanceof UpstreamError) return err;
    let detail: string;
    if (err instanceof Deno.errors.ConnectionReset) detail = "connection reset";
    else if (err instanceof Deno.errors.BrokenPipe) detail = "connection closed";
    else if (this.#closed || err instanceof Deno.errors.BadResource) detail = "connection closed";
    else detail = err instanceof Error ? err.message : String(err);
    return new UpstreamError("reset", `Cannot ${action} backend "${this.key}": ${detail}`, this.requestSent, {
      cause: err,
    });
  }
}

function settled(): boolean {
  return true;
}
