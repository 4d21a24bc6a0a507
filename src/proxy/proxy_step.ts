/**
 * The proxy step: pick a backend, forward, and on a connect error / timeout / retryable status back
 * off and pick again (Pingora's retry loops back to upstream selection, not around the whole proxy).
 */
import type { RetryConfig, RouteConfig } from "../config/schema.ts";
import type { Balancer } from "../upstream/balancer.ts";
import type { BackendState } from "../upstream/backend_state.ts";
import { type UpstreamClient, UpstreamError, type UpstreamRequest } from "../upstream/client.ts";
import type { RequestContext } from "./context.ts";
import { GatewayError } from "./gateway_error.ts";
import { backoff, isIdempotentMethod, isRetryableStatus } from "./retry_policy.ts";
import { ReplayableBody } from "./replayable_body.ts";
import { noBackendError, pickBackend } from "./backend_choice.ts";
import { clientClosedError, upstreamFailure } from "./upstream_failure.ts";
import { upstreamFieldsOf } from "./proxy_context.ts";

/** What the proxy step needs from a compiled route. */
export interface ProxyRoute {
  readonly config: RouteConfig;
  /** Fields the upstream client adds to the response when the backend did not send them. */
  readonly responseDefaults?: readonly string[];
  readonly balancer: Balancer;
  readonly backends: readonly BackendState[];
  readonly retry: RetryConfig | undefined;
  readonly maxAttempts: number;
}

/** Per-backend outcome counters, recorded by the runtime's metrics. */
export interface ProxyObserver {
  attempt(backend: BackendState, outcome: "response" | "connect_error" | "timeout" | "protocol_error"): void;
  retry(): void;
}

export interface ProxyResult {
  readonly response: Response;
  readonly backend: BackendState;
  readonly attempts: number;
}

/**
 * Forwards the request and resolves with the backend's response (headers as received, body
 * streaming). The chosen backend stays acquired (in-flight) until the caller calls `release`.
 * Throws GatewayError for 502/503/504.
 */
export async function proxyRequest(
  ctx: RequestContext,
  route: ProxyRoute,
  client: UpstreamClient,
  observer: ProxyObserver,
): Promise<ProxyResult> {
  const config = route.config;
  const maxAttempts = route.maxAttempts;
  const idempotent = isIdempotentMethod(ctx.method);
  const signal = ctx.request.signal;
  let body: ReplayableBody | undefined;
  if (maxAttempts > 1 && ctx.upstreamBody) {
    try {
      body = await ReplayableBody.from(
        ctx.upstreamBody,
        ctx.request.headers,
        route.retry?.max_buffered_body_bytes ?? 0,
        ctx,
      );
    } catch (err) {
      // Reading the client's body failed before any attempt: the body limit's 413, or the client's fault.
      if (err instanceof GatewayError) throw err;
      throw signal.aborted ? clientClosedError(err) : new GatewayError(
        400,
        "bad_request",
        `Cannot read the request body: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  }
  const path = ctx.upstreamPath + ctx.upstreamQuery;
  let failed: BackendState | undefined;
  let lastError: GatewayError | undefined;

  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const backend = pickBackend(route, ctx.clientIp, failed);
    if (!backend) throw lastError ?? noBackendError(route, ctx.routeId);
    const epoch = backend.breaker.epoch;
    const request: UpstreamRequest = {
      method: ctx.method,
      path,
      headers: withHost(upstreamFieldsOf(ctx), backend, config.preserve_host),
      body: body ? body.forAttempt() : ctx.upstreamBody,
      // A ReplayableBody counts what it reads itself, so a body sent by several attempts counts once.
      bodyCounter: body ? undefined : ctx,
      connectTimeoutMs: config.connect_timeout_ms,
      firstByteTimeoutMs: config.timeout_ms,
      idleTimeoutMs: config.idle_timeout_ms,
      signal,
      responseDefaults: route.responseDefaults,
    };
    backend.acquire();
    let response: Response;
    try {
      response = await client.send(backend.target, request);
    } catch (err) {
      backend.release();
      // A body-limit rejection (413) surfaces as a failed upload: not the backend's fault.
      if (ctx.bodyError) {
        backend.breaker.release(epoch);
        throw ctx.bodyError;
      }
      if (!(err instanceof UpstreamError)) {
        backend.breaker.release(epoch);
        if (err instanceof GatewayError) throw err;
        throw new GatewayError(502, "upstream", `Upstream error for ${backend.key}: ${String(err)}`, {
          cause: err,
        });
      }
      const failure = upstreamFailure(
        err,
        backend,
        `Upstream error for ${backend.key}${path}: ${err.message}`,
        epoch,
        signal.aborted,
      );
      if (failure.outcome === undefined) throw failure.error;
      observer.attempt(backend, failure.outcome);
      lastError = failure.error;
      const replayable = body ? body.replayable : !err.requestSent || ctx.upstreamBody === null;
      const safe = idempotent || !err.requestSent || (body?.buffered ?? ctx.upstreamBody === null);
      if (attempt + 1 < maxAttempts && route.retry?.retry_on_connection_error && replayable && safe) {
        failed = backend;
        observer.retry();
        await backoff(route.retry, attempt, signal);
        if (signal.aborted) throw clientClosedError();
        continue;
      }
      throw lastError;
    }
    observer.attempt(backend, "response");
    if (backend.breaker.isFailureStatus(response.status)) backend.breaker.onFailure();
    else backend.breaker.onSuccess(epoch);
    if (
      attempt + 1 < maxAttempts && route.retry && isRetryableStatus(route.retry, response.status) &&
      (body ? body.replayable : ctx.upstreamBody === null) && (idempotent || (body?.buffered ?? true)) &&
      !signal.aborted
    ) {
      backend.release();
      await response.body?.cancel().catch(() => {});
      failed = backend;
      observer.retry();
      await backoff(route.retry, attempt, signal);
      if (signal.aborted) throw clientClosedError();
      continue;
    }
    return { response, backend, attempts: attempt + 1 };
  }
  // Unreachable: the loop either returns or throws on its last attempt.
  throw lastError ?? noBackendError(route, ctx.routeId);
}

function withHost(
  fields: Headers | readonly string[],
  backend: BackendState,
  preserveHost: boolean,
): Headers | readonly string[] {
  // A list without `host` gets the backend's from the client; a Headers object may be reused by a retry
  // to another backend, so its Host is set per attempt.
  if (!preserveHost && !Array.isArray(fields)) (fields as Headers).set("host", backend.target.authority);
  return fields;
}
