import { UpstreamError, type UpstreamRequest, type UpstreamTarget } from "../client.ts";
import { dialBackend } from "./dial_backend.ts";
import { type ConnectionOwner, Http1Connection } from "./http1_connection.ts";

/** Counters of one backend's pool (or the sum over all backends). */
export interface PoolStats {
  /** Keep-alive connections waiting in the pool. */
  idle: number;
  /** Connections carrying an exchange or being opened. */
  active: number;
  /** Connections opened so far. */
  connects: number;
  /** Exchanges that ran on a pooled connection. */
  reuses: number;
  /** Requests that had to queue because the backend was at maxConnectionsPerBackend. */
  waits: number;
  /** Requests queued right now. */
  queued: number;
}

/** The limits a pool enforces; validated by the client. */
export interface PoolSettings {
  readonly maxIdle: number;
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  readonly maxAgeMs: number;
  readonly maxBufferBytes: number;
  /** Extra roots for TLS backends; the client replaces them when the config's CA files change. */
  caCerts?: string[];
}

interface Waiter {
  readonly request: UpstreamRequest;
  readonly resolve: (conn: Http1Connection) => void;
  readonly reject: (err: unknown) => void;
  onAbort: (() => void) | null;
  timer: ReturnType<typeof setTimeout> | undefined;
  done: boolean;
}

/**
 * The keep-alive connections to one backend: a LIFO idle list (hot sockets first, the coldest expire), at most
 * `maxConnections` open, and a FIFO queue for requests beyond that.
 */
export class ConnectionPool implements ConnectionOwner {
  readonly #target: UpstreamTarget;
  readonly #settings: PoolSettings;
  readonly #idle: Http1Connection[] = [];
  #open = 0;
  #queue: Waiter[] = [];
  #queueHead = 0;
  #queued = 0;
  #connects = 0;
  #reuses = 0;
  #waits = 0;
  #sweeper: ReturnType<typeof setInterval> | undefined = undefined;
  #closed = false;
  /** Bumped when the trusted roots change; 0 until they first do. */
  #trustEpoch = 0;
  /** The epoch each connection was dialled in (absent: 0), so those verified against old roots are retired. */
  readonly #dialEpochs = new WeakMap<Http1Connection, number>();
  readonly #sweep = (): void => this.#expireIdle();
  // Like HAProxy's `timeout queue` (which defaults to `timeout connect`): a request that finds no free slot
  // within its connect timeout fails, unsent, instead of waiting behind slow or long-lived exchanges forever.
  readonly #expireWaiter = (waiter: Waiter): void => {
    if (waiter.done) return;
    this.#leave(waiter);
    waiter.reject(
      new UpstreamError(
        "connect_timeout",
        `Cannot reach backend "${this.#target.key}": no connection became free within ` +
          `${waiter.request.connectTimeoutMs} ms (maxConnectionsPerBackend is ${this.#settings.maxConnections})`,
        false,
      ),
    );
  };

  constructor(target: UpstreamTarget, settings: PoolSettings) {
    this.#target = target;
    this.#settings = settings;
  }

  /** A pooled connection that is neither idle-expired nor too old, or null. */
  takeIdle(): Http1Connection | null {
    const idle = this.#idle;
    if (idle.length === 0) return null;
    const now = Date.now();
    while (idle.length > 0) {
      const conn = idle.pop()!;
      conn.state = "busy";
      if (this.#fresh(conn, now)) {
        this.#reuses++;
        return conn;
      }
      this.discard(conn);
    }
    return null;
  }

  /** Opens a new connection, or queues for one (up to the connect timeout) when the backend is at its limit. */
  open(request: UpstreamRequest): Promise<Http1Connection> {
    if (this.#open < this.#settings.maxConnections) {
      this.#open++;
      return this.#connect(request);
    }
    this.#waits++;
    return new Promise((resolve, reject) =>
      this.#enqueue({ request, resolve, reject, onAbort: null, timer: undefined, done: false })
    );
  }

  release(conn: Http1Connection): void {
    const now = Date.now();
    if (
      conn.state !== "busy" || now - conn.createdAt >= this.#settings.maxAgeMs || conn.reuseWithinMs <= 0 ||
      (this.#trustEpoch !== 0 && (this.#dialEpochs.get(conn) ?? 0) !== this.#trustEpoch)
    ) {
      return this.discard(conn);
    }
    const waiter = this.#dequeue();
    if (waiter !== null) {
      this.#reuses++;
      waiter.resolve(conn);
      return;
    }
    if (this.#closed || this.#idle.length >= this.#settings.maxIdle) return this.discard(conn);
    this.#idle.push(conn);
    conn.park(now);
    if (this.#sweeper === undefined) {
      const period = Math.min(Math.max(this.#settings.idleTimeoutMs / 2, 10), 1000);
      this.#sweeper = setInterval(this.#sweep, period);
      Deno.unrefTimer(this.#sweeper);
    }
  }

  discard(conn: Http1Connection): void {
    if (conn.state === "gone") return;
    if (conn.state === "idle") this.#idle.splice(this.#idle.lastIndexOf(conn), 1);
    conn.state = "gone";
    conn.close();
    this.#open--;
    this.#serveQueue();
  }

  stats(): PoolStats {
    const idle = this.#idle.length;
    return {
      idle,
      active: this.#open - idle,
      connects: this.#connects,
      reuses: this.#reuses,
      waits: this.#waits,
      queued: this.#queued,
    };
  }

  /**
   * The trusted roots changed: idle connections are closed now and busy ones when their exchange ends, so
   * every later request runs on a connection verified against the new roots.
   */
  renewTrust(): void {
    this.#trustEpoch++;
    for (const conn of [...this.#idle]) this.discard(conn);
  }

  /** Closes idle connections and stops the sweeper; busy ones are closed when their exchange ends. */
  close(): void {
    this.#closed = true;
    for (const conn of [...this.#idle]) this.discard(conn);
    this.#stopSweeper();
  }

  async #connect(request: UpstreamRequest): Promise<Http1Connection> {
    // Taken before the dial: one that spans a change of roots was verified against the old ones.
    const epoch = this.#trustEpoch;
    let socket: Deno.Conn;
    try {
      socket = await dialBackend(
        this.#target,
        request.connectTimeoutMs,
        request.signal,
        this.#settings.caCerts,
      );
    } catch (err) {
      this.#open--;
      this.#serveQueue();
      throw err;
    }
    this.#connects++;
    const conn = new Http1Connection(socket, this, this.#target.key, this.#settings.maxBufferBytes);
    if (epoch !== 0) this.#dialEpochs.set(conn, epoch);
    return conn;
  }

  #fresh(conn: Http1Connection, now: number): boolean {
    const idle = now - conn.idleSince;
    return idle < this.#settings.idleTimeoutMs && idle < conn.reuseWithinMs &&
      now - conn.createdAt < this.#settings.maxAgeMs;
  }

  #expireIdle(): void {
    const now = Date.now();
    const idle = this.#idle;
    for (let i = idle.length - 1; i >= 0; i--) {
      if (!this.#fresh(idle[i], now)) this.discard(idle[i]);
    }
    if (idle.length === 0) this.#stopSweeper();
  }

  #stopSweeper(): void {
    if (this.#sweeper !== undefined) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }

  // A freed slot goes to the longest-waiting request, which opens its own connection.
  #serveQueue(): void {
    if (this.#queued === 0 || this.#open >= this.#settings.maxConnections) return;
    const waiter = this.#dequeue();
    if (waiter === null) return;
    this.#open++;
    this.#connect(waiter.request).then(waiter.resolve, waiter.reject);
  }

  #enqueue(waiter: Waiter): void {
    const signal = waiter.request.signal;
    if (signal !== undefined) {
      waiter.onAbort = () => {
        if (waiter.done) return;
        this.#leave(waiter);
        waiter.reject(
          new UpstreamError(
            "aborted",
            `Cannot reach backend "${this.#target.key}": the client went away while waiting for a connection`,
            false,
          ),
        );
      };
      signal.addEventListener("abort", waiter.onAbort, { once: true });
    }
    waiter.timer = setTimeout(this.#expireWaiter, waiter.request.connectTimeoutMs, waiter);
    this.#queue.push(waiter);
    this.#queued++;
  }

  #dequeue(): Waiter | null {
    while (this.#queued > 0 && this.#queueHead < this.#queue.length) {
      const waiter = this.#queue[this.#queueHead++];
      if (waiter.done) continue;
      this.#leave(waiter);
      this.#compactQueue();
      return waiter;
    }
    this.#compactQueue();
    return null;
  }

  // Takes a waiter out of the queue for good; its array entry is skipped until the queue is compacted.
  #leave(waiter: Waiter): void {
    waiter.done = true;
    clearTimeout(waiter.timer);
    if (waiter.onAbort !== null) waiter.request.signal!.removeEventListener("abort", waiter.onAbort);
    if (--this.#queued === 0) {
      this.#queue = [];
      this.#queueHead = 0;
    }
  }

  #compactQueue(): void {
    if (this.#queueHead === this.#queue.length) {
      this.#queue = [];
      this.#queueHead = 0;
    } else if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#queueHead);
      this.#queueHead = 0;
    }
  }
}
