import { type UpstreamClient, UpstreamError, type UpstreamRequest, type UpstreamTarget } from "../client.ts";
import { ConnectionPool, type PoolSettings, type PoolStats } from "./connection_pool.ts";
import { exchange, type ExchangeLimits } from "./exchange.ts";
import { type PreparedRequest, prepareRequest } from "./request_head.ts";

export type { PoolStats } from "./connection_pool.ts";

/** Tuning of the pooled HTTP/1.1 client; every field is optional. */
export interface Http1ClientOptions {
  /** Idle keep-alive connections kept per backend. Default 256. */
  maxIdlePerBackend?: number;
  /** An idle connection is closed after this long. Default 30000. */
  idleTimeoutMs?: number;
  /**
   * Open connections per backend; further requests wait in a FIFO queue, each for at most its connect
   * timeout. Default 256.
   */
  maxConnectionsPerBackend?: number;
  /** A connection older than this is not reused. Default 300000. */
  maxConnectionAgeMs?: number;
  /** A larger response head (or trailer section) is a protocol error. Default 65536. */
  maxResponseHeadBytes?: number;
  /** Content-Length bodies up to this size are read whole into one buffer. Default 65536. */
  smallBodyThreshold?: number;
  /** Extra root certificates (PEM) for `https:` backends. */
  caCerts?: string[];
}

/** The http1 UpstreamClient plus its pool counters: per backend key, or summed over all backends. */
export type Http1Client = UpstreamClient & {
  stats(key?: string): PoolStats;
  setCaCerts(caCerts: string[] | undefined): void;
};

/**
 * Creates Kairos's pooled HTTP/1.1 client on `Deno.connect` / `Deno.startTls`: per-backend keep-alive pools,
 * strict response parsing, small bodies in one buffer, larger ones streamed with backpressure.
 */
export function createHttp1Client(options: Http1ClientOptions = {}): Http1Client {
  const maxResponseHeadBytes = positive(options, "maxResponseHeadBytes", 65536);
  const settings: PoolSettings = {
    // As many idle sockets as connections: a burst's sockets stay pooled instead of being re-dialled
    // (nginx's bench config keeps 512 per worker for the same reason).
    maxIdle: positive(options, "maxIdlePerBackend", 256, true),
    idleTimeoutMs: positive(options, "idleTimeoutMs", 30000),
    maxConnections: positive(options, "maxConnectionsPerBackend", 256),
    maxAgeMs: positive(options, "maxConnectionAgeMs", 300000),
    maxBufferBytes: Math.max(maxResponseHeadBytes + 16, 16384),
    caCerts: options.caCerts,
  };
  const limits: ExchangeLimits = {
    maxHeadBytes: maxResponseHeadBytes,
    smallBodyThreshold: positive(options, "smallBodyThreshold", 65536, true),
  };
  const pools = new Map<string, ConnectionPool>();

  // Not async: with a pooled connection at hand, the exchange's promise is the only one per request.
  function send(target: UpstreamTarget, request: UpstreamRequest): Promise<Response> {
    try {
      if (request.signal?.aborted) {
        throw new UpstreamError(
          "aborted",
          `Cannot send request to backend "${target.key}": the client went away`,
          false,
        );
      }
      const prepared = prepareRequest(target, request, limits.smallBodyThreshold);
      let pool = pools.get(target.key);
      if (pool === undefined) {
        pool = new ConnectionPool(target, settings);
        pools.set(target.key, pool);
      }
      const conn = pool.takeIdle();
      if (conn !== null) return exchange(conn, prepared, request, limits, pool);
      return openAndExchange(pool, prepared, request);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async function openAndExchange(
    pool: ConnectionPool,
    prepared: PreparedRequest,
    request: UpstreamRequest,
  ): Promise<Response> {
    return await exchange(await pool.open(request), prepared, request, limits, pool);
  }

  function stats(key?: string): PoolStats {
    if (key !== undefined) return pools.get(key)?.stats() ?? emptyStats();
    const total = emptyStats();
    for (const pool of pools.values()) {
      const s = pool.stats();
      total.idle += s.idle;
      total.active += s.active;
      total.connects += s.connects;
      total.reuses += s.reuses;
      total.waits += s.waits;
      total.queued += s.queued;
    }
    return total;
  }

  function close(): void {
    for (const pool of pools.values()) pool.close();
  }

  // Pools read the roots from the shared settings when they dial.
  function setCaCerts(caCerts: string[] | undefined): void {
    settings.caCerts = caCerts;
    for (const [key, pool] of pools) if (key.startsWith("https:")) pool.renewTrust();
  }

  return { name: "http1", ownsResponses: true, send, close, stats, setCaCerts };
}

function positive(
  options: Http1ClientOptions,
  name: keyof Http1ClientOptions,
  fallback: number,
  zero = false,
) {
  const value = options[name] ?? fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < (zero ? 0 : 1)) {
    throw new RangeError(
      `Cannot create the http1 client as '${name}' must be a ${
        zero ? "non-negative" : "positive"
      } integer: ` +
        `current value is ${value}`,
    );
  }
  return value;
}

function emptyStats(): PoolStats {
  return { idle: 0, active: 0, connects: 0, reuses: 0, waits: 0, queued: 0 };
}
