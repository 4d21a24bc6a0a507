/**
 * The gateway port's own endpoints, with kairos-rs's JSON shapes: `/health`, `/ready`, `/live`
 * and Prometheus `/metrics`. They answer before routing, so user routes' policies never apply.
 */
import { PROMETHEUS_CONTENT_TYPE } from "../observe/metrics_registry.ts";
import { VERSION } from "./version.ts";

export interface BuiltinState {
  readonly startedAt: number;
  readonly draining: () => boolean;
  /** This process's series, or (several workers) a promise of everyone's. */
  readonly renderMetrics: () => string | Promise<string>;
}

/** Every path `builtinResponse` answers; the admin listener serves the same ones. */
export const BUILTIN_PATHS = ["/health", "/ready", "/live", "/metrics"] as const;

const JSON_HEADERS = { "content-type": "application/json", "cache-control": "no-store" };

/** Answers a built-in endpoint, or returns undefined for every other request. */
export function builtinResponse(
  method: string,
  path: string,
  state: BuiltinState,
): Response | Promise<Response> | undefined {
  if (method !== "GET" && method !== "HEAD") return undefined;
  switch (path) {
    case "/health":
      return json(200, {
        status: "healthy",
        version: VERSION,
        timestamp: new Date().toISOString(),
        // Real process uptime in seconds (kairos-rs reports seconds since the epoch here).
        uptime: Math.floor((Date.now() - state.startedAt) / 1000),
      }, method);
    case "/ready":
      return state.draining()
        ? json(503, { status: "draining", timestamp: new Date().toISOString() }, method)
        : json(200, { status: "ready", timestamp: new Date().toISOString() }, method);
    case "/live":
      return json(200, { status: "alive", timestamp: new Date().toISOString() }, method);
    case "/metrics": {
      const text = state.renderMetrics();
      if (typeof text === "string") return metricsResponse(text, method);
      return text.then(
        (merged) => metricsResponse(merged, method),
        (err) =>
          json(503, { error: `Cannot collect the workers' metrics: ${(err as Error).message}` }, method),
      );
    }
  }
  return undefined;
}

function metricsResponse(text: string, method: string): Response {
  return new Response(method === "HEAD" ? null : text, {
    headers: { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" },
  });
}

function json(status: number, body: unknown, method: string): Response {
  return new Response(method === "HEAD" ? null : JSON.stringify(body), { status, headers: JSON_HEADERS });
}
