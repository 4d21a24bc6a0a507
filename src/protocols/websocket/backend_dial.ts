/**
 * Connect-time upstream selection for WebSocket routes, mirroring the HTTP proxy step: the route's
 * balancer picks a backend (open breakers and unhealthy backends skipped), a failed dial or a retryable
 * refusal backs off and picks again within the route's retry policy. Errors are GatewayErrors: 502 for
 * an unreachable or refusing backend, 504 for a handshake that does not finish in connect_timeout_ms.
 */
import { noBackendError, pickBackend } from "../../proxy/backend_choice.ts";
import { upstreamFailure } from "../../proxy/upstream_failure.ts";
import type { UpstreamFields } from "../../proxy/field_list.ts";
import type { GatewayMetrics } from "../../observe/gateway_metrics.ts";
import { GatewayError } from "../../proxy/gateway_error.ts";
import { backoff, isRetryableStatus } from "../../proxy/retry_policy.ts";
import type { CompiledRoute } from "../../runtime/snapshot.ts";
import type { BackendState } from "../../upstream/backend_state.ts";
import { UpstreamError } from "../../upstream/client.ts";
import { dialBackend } from "../../upstream/http1/dial_backend.ts";
import { backendHandshake } from "./backend_handshake.ts";

/** What the upgrade asks of the backend. */
export interface DialRequest {
  /** Path and query for the backend. */
  readonly path: string;
  /** Forwarded headers (X-Forwarded-*, X-Request-Id, cookies, Authorization, Origin, …). */
  readonly headers: UpstreamFields;
  /** The client's Sec-WebSocket-Protocol offer, or null. */
  readonly protocols: string | null;
  readonly clientIp: string;
  /** Aborts when the client goes away. */
  readonly signal: AbortSignal;
  /** Extra roots (PEM) for wss:// backends, besides the default ones. */
  readonly caCerts?: readonly string[];
}

/** An upgraded backend connection; the backend stays acquired (in flight) until the caller releases it. */
export interface DialedBackend {
  readonly backend: BackendState;
  readonly conn: Deno.Conn;
  /** The subprotocol the backend chose ("" for none). */
  readonly protocol: string;
  /** Frame bytes that arrived with the handshake response. */
  readonly leftover: Uint8Array;
  /** Backends tried, this one included. */
  attempts: number;
}

type Attempt =
  | { readonly kind: "open"; readonly dialed: DialedBackend }
  | { readonly kind: "refused"; readonly status: number }
  | { readonly kind: "failed"; readonly error: UpstreamError };

/** Dials a backend of `route` and completes the WebSocket handshake, retrying per the route's policy. */
export async function dialWebSocketBackend(
  route: CompiledRoute,
  request: DialRequest,
  metrics: GatewayMetrics,
): Promise<DialedBackend> {
  const retry = route.retry;
  let failed: BackendState | undefined;
  let lastError: GatewayError | undefined;
  for (let attempt = 0; attempt < route.maxAttempts; attempt++) {
    const backend = pickBackend(route, request.clientIp, failed);
    if (!backend) throw lastError ?? noBackendError(route, route.id);
    backend.acquire();
    const result = await attemptOnce(route, backend, request);
    const recorder = metrics.backendRecorder(backend.key);
    if (result.kind === "open") {
      recorder.attempt("response");
      backend.breaker.onSuccess();
      result.dialed.attempts = attempt + 1;
      return result.dialed;
    }
    backend.release();
    let retryable: boolean;
    if (result.kind === "refused") {
      recorder.attempt("response");
      if (backend.breaker.isFailureStatus(result.status)) backend.breaker.onFailure();
      else backend.breaker.onSuccess();
      lastError = new GatewayError(
        502,
        "upstream",
        `Backend "${backend.key}" refused the WebSocket upgrade with status ${result.status}`,
      );
      retryable = isRetryableStatus(retry, result.status);
    } else {
      const failure = upstreamFailure(result.error, backend, result.error.message);
      if (failure.outcome === undefined) throw failure.error;
      recorder.attempt(failure.outcome);
      lastError = failure.error;
      retryable = retry?.retry_on_connection_error ?? false;
    }
    if (!retry || !retryable || attempt + 1 >= route.maxAttempts || request.signal.aborted) throw lastError;
    failed = backend;
    route.recorder.retry();
    await backoff(retry, attempt);
  }
  // Unreachable: the loop returns or throws on its last attempt.
  throw lastError ?? noBackendError(route, route.id);
}

async function attemptOnce(
  route: CompiledRoute,
  backend: BackendState,
  request: DialRequest,
): Promise<Attempt> {
  const config = route.config;
  const target = backend.target;
  const startedAt = Date.now();
  let conn: Deno.Conn;
  try {
    conn = await dialBackend(target, config.connect_timeout_ms, request.signal, request.caCerts?.slice());
  } catch (err) {
    return { kind: "failed", error: asUpstreamError(err, backend) };
  }
  const host = config.preserve_host ? request.headers.get("host") || target.authority : target.authority;
  // One budget for the whole connect: a backend that accepts TCP but never answers is a connect timeout.
  const remaining = Math.max(1, config.connect_timeout_ms - (Date.now() - startedAt));
  try {
    const answer = await backendHandshake(
      conn,
      backend.key,
      {
        path: request.path,
        host,
        headers: request.headers,
        protocols: request.protocols,
      },
      remaining,
      request.signal,
    );
    if (answer.accepted) {
      return {
        kind: "open",
        dialed: { backend, conn, protocol: answer.protocol, leftover: answer.leftover, attempts: 1 },
      };
    }
    closeQuietly(conn);
    return { kind: "refused", status: answer.status };
  } catch (err) {
    closeQuietly(conn);
    return { kind: "failed", error: asUpstreamError(err, backend) };
  }
}

function asUpstreamError(err: unknown, backend: BackendState): UpstreamError {
  if (err instanceof UpstreamError) return err;
  return new UpstreamError("connect", `Cannot reach backend "${backend.key}": ${String(err)}`, false, {
    cause: err,
  });
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}
