/**
 * The small interface the proxy step talks to. Two implementations: `fetch_client.ts` (Deno's fetch)
 * and `http1/` (Kairos's pooled HTTP/1.1 client on Deno.connect). Tests run the proxy suite with both.
 */

/** Where a request goes; built once per backend at snapshot build. */
export interface UpstreamTarget {
  readonly protocol: "http:" | "https:";
  readonly hostname: string;
  readonly port: number;
  /** The value for the Host header: `hostname[:port]`, port omitted when it is the scheme's default. */
  readonly authority: string;
  /** Stable identity of the backend, e.g. `http://127.0.0.1:9101`: pool key, metrics label, state key. */
  readonly key: string;
}

export interface UpstreamRequest {
  readonly method: string;
  /** Path and query as sent upstream, e.g. `/v1/users/7?x=1`. */
  readonly path: string;
  /**
   * Already filtered by the proxy (no hop-by-hop headers): a Headers object, or a flat
   * `[name, value, …]` list of lowercase names. Without a `host` field the client sends the target's.
   */
  readonly headers: Headers | readonly string[];
  readonly body: ReadableStream<Uint8Array> | Uint8Array | null;
  /**
   * When set, the client adds the bytes it reads from a stream `body` to it (the access log's `bytes_in`).
   * Unset when whoever handed the body over counts it (the retry buffer).
   */
  readonly bodyCounter?: BodyByteCounter;
  readonly connectTimeoutMs: number;
  /** Time from sending the request to the response head. */
  readonly firstByteTimeoutMs: number;
  /** Longest silence between two chunks of the response body; the body stream errors after it. */
  readonly idleTimeoutMs: number;
  /** Aborted when the client goes away: the upstream exchange is cancelled and its socket not reused. */
  readonly signal?: AbortSignal;
  /**
   * Fields to add to the response when the backend did not send them, as a flat `[name, value, …]` list
   * with lowercase names (the route's security headers). Only clients that own their responses apply it.
   * At most MAX_RESPONSE_DEFAULTS fields (response_defaults.ts).
   */
  readonly responseDefaults?: readonly string[];
}

/** Where request-body bytes are counted: the per-request context. */
export interface BodyByteCounter {
  /** Request-body bytes read from the client so far. */
  requestBodyBytes: number;
}

export type UpstreamErrorKind =
  | "connect" // could not open a connection (refused, DNS, TLS)
  | "connect_timeout"
  | "timeout" // no response head within firstByteTimeoutMs
  | "protocol" // the backend broke HTTP framing rules
  | "reset" // the connection closed or reset before a complete response head
  | "aborted"; // the client went away

/** A failed upstream exchange. `requestSent` tells retries whether the backend may have seen the request. */
export class UpstreamError extends Error {
  readonly kind: UpstreamErrorKind;
  readonly requestSent: boolean;

  constructor(kind: UpstreamErrorKind, message: string, requestSent: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "UpstreamError";
    this.kind = kind;
    this.requestSent = requestSent;
  }
}

export interface UpstreamClient {
  readonly name: "fetch" | "http1";
  /**
   * True when `send()` resolves with a Response the proxy may hand on as is: mutable headers already
   * free of hop-by-hop fields (http1). False when its headers are immutable and unfiltered (fetch).
   */
  readonly ownsResponses: boolean;
  /**
   * Sends one request and resolves with the upstream response once its head has arrived; the body
   * streams. Rejects with UpstreamError.
   */
  send(target: UpstreamTarget, request: UpstreamRequest): Promise<Response>;
  /** Closes pooled connections; in-flight exchanges finish. */
  close(): void;
  /**
   * Replaces the extra roots (PEM) trusted for `https:` backends (undefined: the default roots only).
   * Connections opened from now on use them; pooled ones opened before are not reused.
   */
  setCaCerts?(caCerts: string[] | undefined): void;
  /** Connection pool counters of one backend, for clients that pool their own connections (http1). */
  stats?(key: string): UpstreamPoolStats;
}

/** What `/metrics` exports of a backend's connection pool. */
export interface UpstreamPoolStats {
  readonly idle: number;
  readonly active: number;
  readonly connects: number;
  readonly reuses: number;
  readonly waits: number;
}
