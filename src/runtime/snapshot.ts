/**
 * An immutable, compiled view of one config: the route table, each route's pipeline and upstream
 * pool. Built once per (re)load; each request reads the current Snapshot once and finishes on it.
 */
import type { BackendConfig, Config, RouteConfig } from "../config/schema.ts";
import { backendKey, parseBackendHost } from "../config/backend_address.ts";
import type { ResponseStage, RoutePipeline } from "../proxy/context.ts";
import { compileSecurityHeaders } from "../policy/security_headers.ts";
import { type ClientIpResolver, createClientIpResolver } from "../proxy/client_ip.ts";
import type { ProxyRoute } from "../proxy/proxy_step.ts";
import { maxAttempts } from "../proxy/retry_policy.ts";
import { compileTemplate, type PathTemplate } from "../routing/path_template.ts";
import { compileHostRouter, type HostRouter } from "../routing/host_router.ts";
import type { BackendRegistry, BackendState } from "../upstream/backend_state.ts";
import { createBalancer } from "../upstream/balancer.ts";
import type { UpstreamTarget } from "../upstream/client.ts";
import { MAX_RESPONSE_DEFAULTS } from "../upstream/response_defaults.ts";
import type { GatewayMetrics } from "../observe/gateway_metrics.ts";
import type { RouteRecorder } from "../observe/route_recorder.ts";
import { compileRoutePipeline, type PolicyDeps } from "../policy/pipeline.ts";

export interface CompiledRoute extends ProxyRoute {
  /** The external_path pattern: the route's identity in metrics, logs and rate-limit keys. */
  readonly id: string;
  readonly index: number;
  readonly template: PathTemplate;
  readonly pipeline: RoutePipeline;
  /** The response stages to run: the pipeline's, less the security headers when the client adds them. */
  readonly responseStages: readonly ResponseStage[];
  readonly recorder: RouteRecorder;
}

export interface Snapshot {
  readonly version: number;
  readonly config: Config;
  readonly table: HostRouter<CompiledRoute>;
  readonly routes: readonly CompiledRoute[];
  /** Every distinct backend the snapshot uses (shared between routes by key). */
  readonly backends: readonly BackendState[];
  readonly resolveClientIp: ClientIpResolver;
  /** Security headers for answers that match no route (404, 405, 414, 431), from the global config. */
  readonly unroutedStages: readonly ResponseStage[];
}

export interface SnapshotDeps {
  readonly registry: BackendRegistry;
  readonly metrics: GatewayMetrics;
  readonly policy: PolicyDeps;
}

/** Compiles `config` into a Snapshot. Throws TypeError naming the route on anything it cannot build. */
export function buildSnapshot(config: Config, version: number, deps: SnapshotDeps): Snapshot {
  const backends = new Map<string, BackendState>();
  const routes = config.routers.map((route, index) => {
    try {
      return compileRoute(route, index, config, deps, backends);
    } catch (err) {
      throw new TypeError(`Cannot build route ${index} (${route.external_path}): ${(err as Error).message}`, {
        cause: err,
      });
    }
  });
  // Only HTTP and WebSocket routes answer on the HTTP listener; FTP and DNS have their own front ends.
  const table = compileHostRouter(
    routes.filter((r) => r.config.protocol === "http" || r.config.protocol === "websocket")
      .map((r) => ({
        pattern: r.config.external_path,
        methods: r.config.methods,
        hosts: r.config.hosts,
        value: r,
      })),
  );
  return Object.freeze({
    version,
    config,
    table,
    routes,
    backends: [...backends.values()],
    resolveClientIp: createClientIpResolver(config.trusted_proxies),
    unroutedStages: unroutedStages(config),
  });
}

function compileRoute(
  route: RouteConfig,
  index: number,
  config: Config,
  deps: SnapshotDeps,
  seen: Map<string, BackendState>,
): CompiledRoute {
  const states = route.backends.map((backend) => {
    const target = upstreamTarget(backend, route);
    const healthCheckPath = backend.health_check_path ?? null;
    const shared = seen.get(target.key);
    if (shared !== undefined) {
      // One state per backend: the first route that lists it sets its breaker; a health check path set by
      // any route is kept (a later route without one must not switch the checks off).
      if (shared.healthCheckPath === null && healthCheckPath !== null) {
        shared.healthCheckPath = healthCheckPath;
      }
      return shared;
    }
    const state = deps.registry.resolve(target.key, {
      target,
      weight: backend.weight,
      healthCheckPath,
      breakerConfig: route.circuit_breaker,
    });
    seen.set(target.key, state);
    return state;
  });
  const id = route.external_path;
  const pipeline = compileRoutePipeline(route, config, deps.policy);
  // Security headers come last among the response stages. With no response transformation before them,
  // they are added while the proxied response is built (by the http1 client, or by the copy of a fetch
  // response), saving a pass over the headers. Those builders note which defaults the backend sent in
  // one bit each of a 32-bit integer, so a longer list (custom headers) stays a response stage.
  const defaultCount = pipeline.securityHeaders.length / 2;
  const inClient = !route.response_transformation && defaultCount > 0 &&
    defaultCount <= MAX_RESPONSE_DEFAULTS;
  const responseStages = inClient ? pipeline.response.slice(0, -1) : pipeline.response;
  const responseDefaults = inClient ? pipeline.securityHeaders : undefined;
  return Object.freeze({
    id,
    index,
    config: route,
    template: compileTemplate(route.internal_path),
    pipeline,
    responseStages,
    responseDefaults,
    balancer: createBalancer(route.load_balancing_strategy, states, {
      weights: route.backends.map((b) => b.weight),
    }),
    backends: states,
    retry: route.retry,
    maxAttempts: maxAttempts(route.retry),
    recorder: deps.metrics.routeRecorder(id),
  });
}

/** Builds the transport target of a backend; ws/wss backends are dialled over http/https. */
export function upstreamTarget(backend: BackendConfig, route: RouteConfig): UpstreamTarget {
  const address = parseBackendHost(backend.host, backend.port, route.protocol);
  if (typeof address === "string") throw new TypeError(address);
  const secure = address.scheme === "https" || address.scheme === "wss";
  const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname;
  const defaultPort = secure ? 443 : 80;
  return {
    protocol: secure ? "https:" : "http:",
    hostname: address.hostname,
    port: address.port,
    authority: address.port === defaultPort ? host : `${host}:${address.port}`,
    key: backendKey(address),
  };
}

function unroutedStages(config: Config): ResponseStage[] {
  const security = compileSecurityHeaders(config.security_headers);
  return security ? [security] : [];
}
