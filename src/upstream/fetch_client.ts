/**
 * UpstreamClient on Deno's fetch (HTTP/1.1: its HTTP/2 is turned off below): the fallback for odd TLS setups and the
 * second transport the proxy suite runs against. Timeouts are enforced here because fetch has only
 * one AbortSignal for the whole exchange.
 */
import {
  type BodyByteCounter,
  type UpstreamClient,
  UpstreamError,
  type UpstreamRequest,
  type UpstreamTarget,
} from "./client.ts";
import { DeadlineTimers, TimedEntry } from "./deadline_timers.ts";

const SMALL_BODY_BYTES = 65536;

/** Options of the fetch client. */
export interface FetchClientOptions {
  /** Extra root certificates (PEM) for `https:` backends, besides the default roots. */
  readonly caCerts?: string[];
  /** Idle keep-alive connections kept per backend. Default 256. */
  readonly maxIdlePerBackend?: number;
  /** An idle connection is closed after this long. Default 30000. */
  readonly idleTimeoutMs?: number;
  /** HTTP/2 to https backends that offer it by ALPN. Default false. */
  readonly http2?: boolean;
}

export function createFetchClient(options: FetchClientOptions = {}): UpstreamClient {
  // One pooled client for every backend: keep-alive connections are reused across requests. HTTP/2 only when
  // asked: Deno's fetch leaves Nagle on, and over HTTP/2 a request's DATA frame then waits for the backend's
  // delayed ACK of its HEADERS frame (measured: 44 ms per POST over HTTP/2, 0.24 ms over HTTP/1.1).
  const http2 = options.http2 ?? false;
  const poolIdleTimeout = options.idleTimeoutMs ?? 30_000;
  const poolMaxIdlePerHost = options.maxIdlePerBackend ?? 256;
  const pooled = (caCerts: string[] | undefined) =>
    Deno.createHttpClient({ http2, poolIdleTimeout, poolMaxIdlePerHost, caCerts });
  let http = pooled(options.caCerts);
  const deadlines = new DeadlineTimers();
  return {
    name: "fetch",
    ownsResponses: false,
    send: (target, request) => sendWithFetch(http, deadlines, target, request),
    close: () => {
      deadlines.close();
      http.close();
    },
    // A new pool with the new roots; closing the old one lets exchanges in flight on it finish (measured
    // with Deno 2.9.6: a request and a response body under way both completed).
    setCaCerts: (caCerts) => {
      const previous = http;
      http = pooled(caCerts);
      previous.close();
    },
  };
}

/**
 * One fetch exchange: its AbortController, its head deadline (a list node of the shared timer) and the
 * listener for the client going away (an object listener), in one allocation.
 */
class FetchExchange extends TimedEntry {
  readonly controller = new AbortController();

  expire(): void {
    this.controller.abort("timeout");
  }

  handleEvent(): void {
    this.controller.abort("aborted");
  }
}

async function sendWithFetch(
  http: Deno.HttpClient,
  deadlines: DeadlineTimers,
  target: UpstreamTarget,
  request: UpstreamRequest,
): Promise<Response> {
  const clientSignal = request.signal;
  if (clientSignal?.aborted) {
    throw new UpstreamError("aborted", "Client went away before the request was sent", false);
  }
  const exchange = new FetchExchange();
  const controller = exchange.controller;
  clientSignal?.addEventListener("abort", exchange, { once: true });
  // fetch cannot time the connect phase or the upload apart, so one head deadline (timeout_ms) covers
  // connect, upload and first byte.
  const headTimeoutMs = request.firstByteTimeoutMs;
  deadlines.start(exchange, headTimeoutMs);
  let body = request.body as BodyInit | null;
  // fetch does not say how much of a stream it read, so a streamed body is counted as fetch pulls it. The
  // JS stream costs (measured) 3-5 µs a request and makes a 256 MiB chunked upload about 1.4x slower.
  if (body instanceof ReadableStream && request.bodyCounter !== undefined) {
    body = new ReadableStream(new CountingSource(body, request.bodyCounter), { highWaterMark: 0 });
  }
  // fetch copies its `headers` init into a Headers of its own: from [name, value] pairs that costs half
  // of what building a Headers first and having fetch iterate it does (measured 3.8 µs vs 7.7 µs for 6 fields).
  const headers = Array.isArray(request.headers) ? fieldPairs(request.headers) : request.headers as Headers;
  // fetch sets Host from the URL; an explicit one (preserve_host) is sent as given.
  let response: Response;
  try {
    response = await fetch(target.key + request.path, {
      method: request.method,
      headers,
      body,
      redirect: "manual",
      signal: controller.signal,
      client: http,
    });
  } catch (err) {
    deadlines.stop(exchange);
    clientSignal?.removeEventListener("abort", exchange);
    // A client that cuts its upload fails the fetch with a body read error, and Deno does not abort the
    // request's signal for it: the failure is the client's, not to be held against the backend.
    if (body instanceof ReadableStream && controller.signal.reason === undefined && readsClientBody(err)) {
      throw new UpstreamError("aborted", "The client's request body ended early", true, { cause: err });
    }
    throw toUpstreamError(target, controller.signal.reason, err, headTimeoutMs);
  }
  deadlines.stop(exchange);
  const declared = response.headers.get("content-length");
  // A small body with a known length arrives with its head in practice; watching it would mean a JS
  // stream in the path, which stops Deno from piping the body natively (measured: 2x the CPU per request).
  if (!response.body || (declared !== null && Number(declared) <= SMALL_BODY_BYTES)) {
    clientSignal?.removeEventListener("abort", exchange);
    return response;
  }
  return new Response(
    watchIdle(response.body, request.idleTimeoutMs, controller, () => {
      clientSignal?.removeEventListener("abort", exchange);
    }),
    { status: response.status, statusText: response.statusText, headers: response.headers },
  );
}

/**
 * Hands the client's body to fetch chunk by chunk, adding each chunk's size to `counter`. A pull source
 * rather than a TransformStream, whose pipe costs more per request (measured: about 1.5 µs against 9 µs).
 */
class CountingSource implements UnderlyingDefaultSource<Uint8Array> {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #counter: BodyByteCounter;

  constructor(body: ReadableStream<Uint8Array>, counter: BodyByteCounter) {
    this.#reader = body.getReader();
    this.#counter = counter;
  }

  async pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    const { value, done } = await this.#reader.read();
    if (done) return controller.close();
    this.#counter.requestBodyBytes += value.byteLength;
    controller.enqueue(value);
  }

  cancel(reason: unknown): Promise<void> {
    return this.#reader.cancel(reason);
  }
}

/** Deno's fetch error when the request body it streams could not be read (the client's side failed). */
function readsClientBody(err: unknown): boolean {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : "";
  return /read request body/i.test(cause);
}

function fieldPairs(list: readonly string[]): [string, string][] {
  const pairs: [string, string][] = new Array(list.length >> 1);
  for (let i = 0; i < list.length; i += 2) pairs[i >> 1] = [list[i], list[i + 1]];
  return pairs;
}

/** Errors the body stream when the upstream stays silent longer than `idleMs` between chunks. */
function watchIdle(
  body: ReadableStream<Uint8Array>,
  idleMs: number,
  controller: AbortController,
  done: () => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const finish = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    done();
  };
  return new ReadableStream<Uint8Array>({
    async pull(stream) {
      timer = setTimeout(() => controller.abort("idle"), idleMs);
      try {
        const { value, done: ended } = await reader.read();
        clearTimeout(timer);
        if (ended) {
          finish();
          stream.close();
        } else {
          stream.enqueue(value);
        }
      } catch (err) {
        finish();
        const reason = controller.signal.reason === "idle"
          ? new UpstreamError("timeout", `Upstream body stalled for more than ${idleMs} ms`, true)
          : err;
        stream.error(reason);
      }
    },
    cancel(reason) {
      finish();
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

function toUpstreamError(
  target: UpstreamTarget,
  reason: unknown,
  err: unknown,
  timeoutMs: number,
): UpstreamError {
  if (reason === "timeout") {
    return new UpstreamError(
      "timeout",
      `Backend "${target.key}" did not answer within ${timeoutMs} ms`,
      true,
      { cause: err },
    );
  }
  if (reason === "aborted") return new UpstreamError("aborted", "Client went away", true, { cause: err });
  // Deno's fetch says "fetch failed" and keeps the reason (connect error, reset, …) in `cause`.
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : "";
  const message = cause || (err instanceof Error ? err.message : String(err));
  const refused = /\(Connect\)|refused|dns error|unreachable/i.test(message);
  return new UpstreamError(
    refused ? "connect" : "reset",
    `Cannot reach backend "${target.key}": ${refused ? connectReason(message) : message}`,
    !refused,
    { cause: err },
  );
}

function connectReason(message: string): string {
  if (/refused/i.test(message)) return "connection refused";
  if (/dns error/i.test(message)) return "DNS lookup failed";
  return message;
}
