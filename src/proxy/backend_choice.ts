/**
 * Choosing a backend for one attempt, shared by the HTTP proxy step and the WebSocket dialler: the
 * balancer skips unavailable backends, and a half-open breaker admits a bounded number of probes.
 */
import type { RouteConfig } from "../config/schema.ts";
import type { Balancer } from "../upstream/balancer.ts";
import type { BackendState } from "../upstream/backend_state.ts";
import { GatewayError } from "./gateway_error.ts";

export interface BackendPool {
  readonly config: RouteConfig;
  readonly balancer: Balancer;
  readonly backends: readonly BackendState[];
}

/**
 * The backend for the next attempt, with a breaker slot taken (pair with onSuccess / onFailure /
 * release), avoiding `failed` where another backend is available; undefined when none will take it.
 */
export function pickBackend(
  pool: BackendPool,
  clientIp: string,
  failed: BackendState | undefined,
): BackendState | undefined {
  let exclude = failed;
  for (let tries = 0; tries < pool.backends.length; tries++) {
    const backend = pool.balancer.pick(clientIp, exclude);
    if (!backend) return undefined;
    if (backend.breaker.tryAcquire()) return backend;
    exclude = backend;
  }
  return undefined;
}

/** The 503 for a pool with no backend to try: `circuit_open` when every breaker is open. */
export function noBackendError(pool: BackendPool, routeId: string): GatewayError {
  const open = pool.backends.filter((b) => b.breaker.state !== "closed");
  if (open.length > 0 && open.length === pool.backends.length) {
    const names = open.map((b) => b.key).join(", ");
    // Retry-After (RFC 9110 §10.2.3): when the first circuit will let a probe through, from its own
    // breaker (a backend shared by routes may run another route's reset_timeout_ms); at least 1 s.
    let waitMs = Infinity;
    for (const b of open) waitMs = Math.min(waitMs, b.breaker.openRemainingMs());
    return new GatewayError(
      503,
      "circuit_open",
      `Service ${names} is currently unavailable (circuit breaker open)`,
      { headers: { "retry-after": String(Math.max(1, Math.ceil(waitMs / 1000))) } },
    );
  }
  return new GatewayError(503, "no_healthy_upstream", `No healthy backend for route ${routeId}`);
}
