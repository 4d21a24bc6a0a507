/**
 * Builds a route's policy pipeline once per snapshot. Request stages, in order: ip filter → CORS
 * (answers preflights) → auth → rate limit (global, then route) → body limit → request transformation.
 * Response stages: response transformation → security headers. A route's own cors / ip_filter /
 * security_headers replace the global ones; a route's rate_limit adds a second limiter.
 */
import type { Config, RouteConfig } from "../config/schema.ts";
import type { JwtConfig } from "../config/policy_schema.ts";
import type { RequestContext, RequestStage, ResponseStage, RoutePipeline } from "../proxy/context.ts";
import { GatewayError } from "../proxy/gateway_error.ts";
import { compileAuth, routeAuth } from "./auth.ts";
import { compileBodyLimit } from "./body_limit.ts";
import { compileCors } from "./cors.ts";
import { compileIpFilter } from "./ip_filter.ts";
import type { JwksCache } from "./jwks_cache.ts";
import { compileJwtVerifier, type JwtVerifier } from "./jwt.ts";
import { compileLimiter, compileRateLimit, type Limiter } from "./rate_limit.ts";
import type { RateLimitStore } from "./rate_limit_store.ts";
import { compileRequestTransformation } from "./request_transform.ts";
import { compileResponseTransformation } from "./response_transform.ts";
import { compileSecurityHeaders, securityHeaderList } from "./security_headers.ts";

export { checkHeaderLimits } from "./header_limits.ts";
export { isPreflight } from "./cors.ts";
export { validatePolicyConfig } from "./validate_policy_config.ts";

/** What pipelines share across routes and snapshots; created by the runtime. */
export interface PolicyDeps {
  rateLimitStore: RateLimitStore;
  log: (level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
  jwks: JwksCache;
}

// One verifier (and its token cache) per jwt section, shared by the routes of a snapshot.
const verifiers = new WeakMap<JwtConfig, { jwks: JwksCache; verify: JwtVerifier }>();

/** Compiles `route`'s pipeline; throws PolicyConfigError when a section cannot be compiled. */
export function compileRoutePipeline(route: RouteConfig, config: Config, deps: PolicyDeps): RoutePipeline {
  const index = config.routers.indexOf(route);
  const path = index >= 0 ? `routers[${index}]` : `routers[${JSON.stringify(route.external_path)}]`;
  const local = (key: "cors" | "ip_filter" | "security_headers") => route[key] ? `${path}.${key}` : key;
  const request: RequestStage[] = [];
  const response: ResponseStage[] = [];
  const push = (stage: RequestStage | undefined) => stage && request.push(stage);

  const ipFilter = route.ip_filter ?? config.ip_filter;
  if (ipFilter) push(compileIpFilter(ipFilter, local("ip_filter"), deps.log));

  const cors = route.cors ?? config.cors;
  if (cors) push(compileCors(cors, local("cors")));
  else if (!route.methods.includes("OPTIONS")) push(rejectUnlistedOptions(route));

  push(compileAuth({
    protect: route.auth_required,
    auth: routeAuth(route),
    jwt: config.jwt,
    verifier: config.jwt ? sharedVerifier(config.jwt, deps) : undefined,
    log: deps.log,
    tokenInQuery: route.protocol === "websocket" && route.websocket?.access_token_query === true,
  }, path));

  const limiters: Limiter[] = [];
  if (config.rate_limit) limiters.push(compileLimiter(config.rate_limit, "g"));
  // Routes may share an external_path with disjoint methods (GET /items, POST /items): each route's own
  // limit must count only its own requests, so the scope names the methods too.
  if (route.rate_limit) {
    limiters.push(compileLimiter(route.rate_limit, `r:${route.external_path} ${route.methods.join(",")}`));
  }
  push(compileRateLimit(limiters, deps.rateLimitStore, deps.log));

  push(compileBodyLimit(route.max_body_bytes ?? config.server.max_body_bytes));
  if (route.request_transformation) {
    push(compileRequestTransformation(route.request_transformation, `${path}.request_transformation`));
  }

  if (route.response_transformation) {
    const stage = compileResponseTransformation(
      route.response_transformation,
      `${path}.response_transformation`,
    );
    if (stage) response.push(stage);
  }
  const security = compileSecurityHeaders(route.security_headers ?? config.security_headers);
  if (security) response.push(security);
  const securityHeaders = securityHeaderList(route.security_headers ?? config.security_headers).flat();
  return { request, response, errors: security ? [security] : [], securityHeaders };
}

function sharedVerifier(jwt: JwtConfig, deps: PolicyDeps): JwtVerifier {
  const cached = verifiers.get(jwt);
  if (cached && cached.jwks === deps.jwks) return cached.verify;
  const verify = compileJwtVerifier(jwt, "jwt", deps.jwks, deps.log);
  verifiers.set(jwt, { jwks: deps.jwks, verify });
  return verify;
}

/**
 * The runtime sends preflights here even for routes without OPTIONS; without CORS nobody answers
 * them, so they get the 405 the route table would have given.
 */
function rejectUnlistedOptions(route: RouteConfig): RequestStage {
  const allow = route.methods.join(", ");
  return function rejectOptions(ctx: RequestContext) {
    if (ctx.method !== "OPTIONS") return undefined;
    throw new GatewayError(405, "method_not_allowed", `Method OPTIONS not allowed for path: ${ctx.path}`, {
      headers: { allow },
    });
  };
}
