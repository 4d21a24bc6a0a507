/**
 * Hand-built RequestContexts and parsed configs for policy unit tests (no server involved).
 */
import { authSchema } from "../../src/config/policy_schema.ts";
import { type Config, configSchema, type RouteConfig, routeSchema } from "../../src/config/schema.ts";
import type { RequestContext } from "../../src/proxy/context.ts";
import type { PolicyDeps } from "../../src/policy/pipeline.ts";
import { createJwksCache } from "../../src/policy/jwks_cache.ts";
import { describeJwtError } from "../../src/policy/jwt_errors.ts";
import { createMemoryRateLimitStore } from "../../src/policy/rate_limit_store.ts";

const BASE_ROUTE = {
  external_path: "/api/{*rest}",
  internal_path: "/{rest}",
  methods: ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"],
  backends: [{ host: "http://127.0.0.1", port: 9 }],
};

/** A parsed route: the base route with `overrides`; `auth` is parsed separately (not in the route schema yet). */
export function makeRoute(overrides: Record<string, unknown> = {}): RouteConfig {
  const { auth, ...rest } = overrides;
  const route = routeSchema.parse({ ...BASE_ROUTE, ...rest });
  return auth === undefined ? route : Object.assign(route, { auth: authSchema.parse(auth) });
}

/** A parsed config with one route (or the given routes) and top-level `top` sections. */
export function makeConfig(top: Record<string, unknown> = {}, routes: RouteConfig[] = [makeRoute()]): Config {
  const config = configSchema.parse({ ...top, routers: [BASE_ROUTE] });
  config.routers = routes;
  return config;
}

export interface ContextInit {
  method?: string;
  /** Path and query, e.g. `/api/users?x=1`. */
  url?: string;
  headers?: HeadersInit;
  body?: BodyInit | null;
  clientIp?: string;
  route?: RouteConfig;
  routeId?: string;
  upstreamPath?: string;
}

/** A RequestContext as the runtime would build it before the pipeline runs. */
export function makeContext(init: ContextInit = {}): RequestContext {
  const method = init.method ?? "GET";
  const url = new URL(init.url ?? "/api/things", "http://gateway.test");
  const request = new Request(url, { method, headers: init.headers, body: init.body ?? null });
  const route = init.route ?? makeRoute();
  const upstreamHeaders = new Headers(request.headers);
  return {
    request,
    requestId: "req-test",
    peerIp: init.clientIp ?? "127.0.0.1",
    clientIp: init.clientIp ?? "127.0.0.1",
    method,
    path: url.pathname,
    query: url.search,
    route,
    routeId: init.routeId ?? route.external_path,
    params: {},
    startedAt: 0,
    upstreamPath: init.upstreamPath ?? url.pathname.replace(/^\/api/, ""),
    upstreamQuery: url.search,
    upstreamHeaders,
    upstreamBody: request.body,
    requestBodyBytes: 0,
  };
}

export type LogLine = { level: string; msg: string; fields?: Record<string, unknown> };

/** PolicyDeps with a fresh memory store and JWKS cache; `logs` collects what stages log. */
export function makeDeps(): PolicyDeps & { logs: LogLine[]; dispose(): void } {
  const logs: LogLine[] = [];
  const rateLimitStore = createMemoryRateLimitStore();
  const jwks = createJwksCache();
  return {
    rateLimitStore,
    jwks,
    logs,
    log: (level, msg, fields) => logs.push({ level, msg, fields }),
    dispose() {
      rateLimitStore.dispose();
      jwks.dispose();
    },
  };
}

/** Runs request stages in order like the runtime: the first Response answers, a throw propagates. */
export async function runStages(
  stages: readonly ((ctx: RequestContext) => Response | undefined | Promise<Response | undefined>)[],
  ctx: RequestContext,
): Promise<Response | undefined> {
  for (const stage of stages) {
    const answer = await stage(ctx);
    if (answer) return answer;
  }
  return undefined;
}

/** The header value a stage queued in ctx.responseHeaders (undefined when absent). */
export function queued(ctx: RequestContext, name: string): string | undefined {
  return ctx.responseHeaders?.find(([n]) => n === name)?.[1];
}

/** The rejection reason, or "ok". */
export async function outcome(verify: (t: string) => Promise<unknown>, token: string): Promise<string> {
  try {
    await verify(token);
    return "ok";
  } catch (err) {
    return describeJwtError(err);
  }
}
