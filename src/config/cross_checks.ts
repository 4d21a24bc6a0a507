/**
 * Checks that span fields, run on a schema-valid config: JWT presence, backend hosts per protocol,
 * path templates, duplicate routes, retry backoff order, IP/CIDR lists, transformation regexes and the
 * admin origins. Messages follow kairos-rs wording where it has one (`config/validation.rs`,
 * `Settings::validate`). The one value a check rewrites (before the config is frozen) is an
 * `admin.allowed_origins` entry, put in the spelling browsers send, with a warning.
 */
import { canonicalHostPattern } from "../routing/host_router.ts";
import { compileTemplate, hasTraversal, parsePathPattern, patternShape } from "../routing/path_template.ts";
import type { Config, HttpMethod, RouteConfig } from "./schema.ts";
import type { PathSegments, ProblemLists } from "./problems.ts";
import { describeValue, formatPath, problemAt } from "./problems.ts";
import { backendKey, parseBackendHost } from "./backend_address.ts";
import { parseCidr } from "./cidr.ts";
import { hasNestedQuantifier, rustRegex } from "./rust_regex.ts";

const DEFAULT_SECRET = "please-change-this-secret";
const MIN_SECRET_BYTES = 32;

/** Runs every cross-field check; errors make the config invalid, warnings do not. */
export function crossCheckConfig(config: Config): ProblemLists {
  const sink: ProblemLists = { errors: [], warnings: [] };
  checkJwt(config, sink);
  checkAddressList(config.trusted_proxies, ["trusted_proxies"], sink);
  checkIpFilter(config.ip_filter, ["ip_filter"], sink);
  checkAdminOrigins(config.admin.allowed_origins, ["admin", "allowed_origins"], sink);
  const tls = config.server.tls;
  if (tls?.acme_webroot !== undefined && tls.redirect_http_port === undefined) {
    sink.errors.push(problemAt(
      ["server", "tls", "acme_webroot"],
      "is served on the plain-HTTP redirect port: set server.tls.redirect_http_port (usually 80)",
    ));
  }
  if (config.rate_limit?.enable_redis) redisWarning(["rate_limit", "enable_redis"], sink);
  const seen = new Map<string, { index: number; methods: readonly HttpMethod[] }[]>();
  checkSharedBackends(config.routers, sink);
  config.routers.forEach((route, i) => {
    const path = ["routers", i];
    checkBackends(route, path, sink);
    const shape = checkPaths(route, path, sink);
    const hosts = checkHosts(route, path, sink);
    if (shape !== undefined) checkDuplicate(route, i, shape, hosts, seen, sink);
    checkRetry(route, path, sink);
    checkIpFilter(route.ip_filter, [...path, "ip_filter"], sink);
    checkTransformations(route, path, sink);
    if (route.rate_limit?.enable_redis) redisWarning([...path, "rate_limit", "enable_redis"], sink);
    if (route.protocol === "ftp" || route.protocol === "dns") {
      // kairos-rs configs with these routes must load, but this build has no FTP or DNS front end yet.
      sink.warnings.push(
        problemAt(
          [...path, "protocol"],
          `${route.protocol} routes are not served yet: this route is accepted and ignored`,
        ),
      );
    }
    if (route.protocol === "websocket" && !route.methods.includes("GET")) {
      sink.warnings.push(
        problemAt([...path, "methods"], "a websocket route should allow GET (the upgrade request)"),
      );
    }
  });
  return sink;
}

/**
 * A backend listed by several routes has one circuit breaker and one health check (its state is shared), so
 * differing settings cannot all apply: say which do.
 */
function checkSharedBackends(routes: readonly RouteConfig[], sink: ProblemLists): void {
  const first = new Map<string, number>();
  routes.forEach((route, i) => {
    if (route.protocol !== "http" && route.protocol !== "websocket") return;
    route.backends.forEach((backend, b) => {
      const address = parseBackendHost(backend.host, backend.port, route.protocol);
      if (typeof address === "string") return;
      const key = backendKey(address);
      const owner = first.get(key);
      if (owner === undefined) return void first.set(key, i);
      const other = routes[owner];
      const differs = [
        JSON.stringify(other.circuit_breaker) !== JSON.stringify(route.circuit_breaker) &&
        `its circuit_breaker is routers[${owner}]'s`,
        JSON.stringify(other.health_check) !== JSON.stringify(route.health_check) &&
        "its health check runs with the settings of the first route that sets a health_check_path",
      ].filter(Boolean);
      if (differs.length > 0) {
        sink.warnings.push(problemAt(
          ["routers", i, "backends", b],
          `${key} is also a backend of routers[${owner}] with other settings; one backend has one state, so ${
            differs.join(", and ")
          }`,
        ));
      }
    });
  });
}

// kairos-rs accepts the flag and ignores it too; here the operator is told that counters stay per process.
function redisWarning(path: (string | number)[], sink: ProblemLists): void {
  sink.warnings.push(
    problemAt(
      path,
      "Redis rate-limit storage is not available yet: counters are kept in this process's memory",
    ),
  );
}

function checkJwt(config: Config, sink: ProblemLists): void {
  const jwt = config.jwt;
  if (!jwt) {
    config.routers.forEach((route, i) => {
      // A route protected by API keys alone needs no jwt section.
      if (route.auth_required && !route.auth?.api_keys) {
        sink.errors.push(problemAt(
          ["routers", i, "auth_required"],
          "JWT configuration is required when routes have auth_required=true",
        ));
      }
    });
    return;
  }
  if (jwt.secret === undefined && jwt.public_key === undefined && jwt.jwks_url === undefined) {
    sink.errors.push(problemAt(["jwt"], "JWT configuration needs one of secret, public_key or jwks_url"));
  }
  if (jwt.secret === undefined) return;
  // kairos-rs refuses both at startup. The default is public, so anyone could sign tokens: still an error.
  // A short secret only warns, because kairos-rs's own README example uses one.
  if (jwt.secret === DEFAULT_SECRET) {
    sink.errors.push(problemAt(["jwt", "secret"], "JWT secret must be changed from default value"));
  } else {
    const bytes = new TextEncoder().encode(jwt.secret).length;
    if (bytes < MIN_SECRET_BYTES) {
      sink.warnings.push(problemAt(
        ["jwt", "secret"],
        `JWT secret should be at least ${MIN_SECRET_BYTES} characters for security, got ${bytes}`,
      ));
    }
  }
}

function checkBackends(route: RouteConfig, path: PathSegments, sink: ProblemLists): void {
  route.backends.forEach((backend, j) => {
    const address = parseBackendHost(backend.host, backend.port, route.protocol);
    if (typeof address === "string") sink.errors.push(problemAt([...path, "backends", j, "host"], address));
  });
}

/** Checks both path templates; returns the external path's shape for duplicate detection. */
function checkPaths(route: RouteConfig, path: PathSegments, sink: ProblemLists): string | undefined {
  const { external_path: external, internal_path: internal } = route;
  for (const [key, value] of [["external_path", external], ["internal_path", internal]] as const) {
    if (hasTraversal(value)) {
      sink.errors.push(
        problemAt([...path, key], `Path traversal detected in route: ${external} -> ${internal}`),
      );
      return undefined;
    }
  }
  // The route table's own parsers judge both paths, so `validate` refuses exactly what `serve` cannot build.
  const outer = parseOr(() => parsePathPattern(external), [...path, "external_path"], sink);
  const inner = parseOr(() => compileTemplate(internal), [...path, "internal_path"], sink);
  if (outer === undefined) return undefined;
  if (inner !== undefined) {
    const captured = new Set(outer.flatMap((segment) => segment.kind === "static" ? [] : [segment.name]));
    for (const name of new Set(inner.names)) {
      if (!captured.has(name)) {
        sink.errors.push(problemAt(
          [...path, "internal_path"],
          `placeholder "{${name}}" is not captured by external_path ${JSON.stringify(external)}`,
        ));
      }
    }
  }
  return patternShape(outer);
}

/** The parser's result, or undefined with its TypeError recorded as a problem at `at`. */
function parseOr<T>(parse: () => T, at: PathSegments, sink: ProblemLists): T | undefined {
  try {
    return parse();
  } catch (err) {
    sink.errors.push(problemAt(at, (err as Error).message));
    return undefined;
  }
}

// A host name, `*.` and one, an IPv4 address or a bracketed IPv6 one; no port (requests match without it).
const HOST_PATTERN =
  /^(?:\*\.)?[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?)*$|^\[[0-9a-f:.]+\]$/;

/** Checks `hosts` and returns them as requests are compared with them ("" stands for any host). */
function checkHosts(route: RouteConfig, path: PathSegments, sink: ProblemLists): string[] {
  if (route.hosts === undefined) return [""];
  const hosts: string[] = [];
  route.hosts.forEach((entry, k) => {
    const host = canonicalHostPattern(entry);
    if (HOST_PATTERN.test(host)) return void hosts.push(host);
    const why = host === "*" || host === ""
      ? "leave hosts out for a route that answers every host"
      : /:\d+$/.test(host)
      ? "hosts are matched without the port: write the name alone"
      : 'expected a host name such as "api.example.com" or "*.example.com"';
    sink.errors.push(problemAt([...path, "hosts", k], `${why}, got ${describeValue(entry)}`));
  });
  return hosts;
}

/** Two routes clash when they share a path shape, a host (or both answer any host) and a method. */
function checkDuplicate(
  route: RouteConfig,
  index: number,
  shape: string,
  hosts: readonly string[],
  seen: Map<string, { index: number; methods: readonly HttpMethod[] }[]>,
  sink: ProblemLists,
): void {
  let reported = false;
  for (const host of new Set(hosts)) {
    const key = `${host} ${shape}`;
    const earlier = seen.get(key) ?? [];
    for (const other of earlier) {
      if (reported) break;
      const shared = route.methods.filter((m) => other.methods.includes(m));
      if (shared.length === 0) continue;
      const where = host === "" ? "" : ` on host ${host}`;
      sink.errors.push(problemAt(
        ["routers", index, "external_path"],
        `Duplicate route path detected: ${route.external_path}${where} (also ${
          formatPath(["routers", other.index])
        }, both for ${shared.join(", ")})`,
      ));
      reported = true;
    }
    earlier.push({ index, methods: route.methods });
    seen.set(key, earlier);
  }
}

function checkRetry(route: RouteConfig, path: PathSegments, sink: ProblemLists): void {
  const retry = route.retry;
  if (retry && retry.initial_backoff_ms > retry.max_backoff_ms) {
    sink.errors.push(problemAt(
      [...path, "retry", "initial_backoff_ms"],
      `initial_backoff_ms cannot be greater than max_backoff_ms (${retry.initial_backoff_ms} > ${retry.max_backoff_ms})`,
    ));
  }
}

function checkIpFilter(
  filter: { allow: string[]; deny: string[] } | undefined,
  path: PathSegments,
  sink: ProblemLists,
): void {
  if (!filter) return;
  checkAddressList(filter.allow, [...path, "allow"], sink);
  checkAddressList(filter.deny, [...path, "deny"], sink);
}

function checkAddressList(list: readonly string[], path: PathSegments, sink: ProblemLists): void {
  list.forEach((entry, i) => {
    if (!parseCidr(entry)) {
      sink.errors.push(
        problemAt([...path, i], `expected an IP address or CIDR block, got ${describeValue(entry)}`),
      );
    }
  });
}

// An origin as a browser serializes it in `Origin` (RFC 6454 §6.2): scheme, host and a non-default port.
const ORIGIN = /^([a-z][a-z0-9+.-]*):\/\/(\[[0-9a-f:.]+\]|[a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::(\d{1,5}))?$/;
const DEFAULT_PORTS: Record<string, number> = { http: 80, https: 443, ws: 80, wss: 443 };
const ORIGIN_EXAMPLE = 'an origin like "https://admin.example.com" (scheme://host[:port], nothing after it)';

/**
 * The admin listener compares `Origin` with each entry exactly, so an entry spelled otherwise would never
 * match: a trailing slash, upper case or the default port is rewritten (warning); `*` and anything that
 * is not an origin is an error.
 */
function checkAdminOrigins(origins: string[], path: PathSegments, sink: ProblemLists): void {
  origins.forEach((entry, i) => {
    const origin = canonicalOrigin(entry);
    if (origin === undefined) {
      const rule = entry.includes("*")
        ? `cannot use wildcards: the admin API trusts listed origins only; write each as ${ORIGIN_EXAMPLE}`
        : `expected ${ORIGIN_EXAMPLE}`;
      sink.errors.push(problemAt([...path, i], `${rule}, got ${describeValue(entry)}`));
    } else if (origin !== entry) {
      sink.warnings.push(problemAt(
        [...path, i],
        `read as ${JSON.stringify(origin)}, the form browsers send in Origin (no trailing slash or path, ` +
          `lower case, no default port), got ${describeValue(entry)}`,
      ));
      origins[i] = origin;
    }
  });
}

/** `text` in the spelling browsers send, or undefined when it is not an origin. */
function canonicalOrigin(text: string): string | undefined {
  let origin = text.trim().toLowerCase();
  if (origin.endsWith("/")) origin = origin.slice(0, -1);
  const match = ORIGIN.exec(origin);
  if (!match) return undefined;
  const [, scheme, host, digits] = match;
  if (digits === undefined) return origin;
  const port = Number(digits);
  if (port < 1 || port > 65535) return undefined;
  return port === DEFAULT_PORTS[scheme] ? `${scheme}://${host}` : `${scheme}://${host}:${port}`;
}

type HeaderRule = { action: string; pattern?: string | null };

function checkTransformations(route: RouteConfig, path: PathSegments, sink: ProblemLists): void {
  const request = route.request_transformation;
  const response = route.response_transformation;
  if (request) {
    checkHeaderRules(request.headers, [...path, "request_transformation", "headers"], sink);
    if (request.path) {
      checkRegex(request.path.pattern, [...path, "request_transformation", "path", "pattern"], sink);
    }
  }
  if (response) checkHeaderRules(response.headers, [...path, "response_transformation", "headers"], sink);
}

function checkHeaderRules(rules: readonly HeaderRule[], path: PathSegments, sink: ProblemLists): void {
  rules.forEach((rule, k) => {
    if (rule.pattern !== undefined && rule.pattern !== null) {
      checkRegex(rule.pattern, [...path, k, "pattern"], sink);
    } else if (rule.action === "replace") {
      sink.errors.push(problemAt([...path, k, "pattern"], "required: a replace action needs a pattern"));
    }
  });
}

function checkRegex(pattern: string, path: PathSegments, sink: ProblemLists): void {
  try {
    // kairos-rs configs write Rust regex syntax (`(?P<name>…)`), translated as the policies do.
    if (hasNestedQuantifier(rustRegex(pattern).source)) {
      sink.warnings.push(problemAt(
        path,
        `pattern ${
          describeValue(pattern)
        } nests repetitions (like (a+)+): unlike kairos-rs's Rust engine, JavaScript's can backtrack for seconds on a hostile value; make each character match one way only`,
      ));
    }
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    sink.errors.push(problemAt(path, `Cannot compile pattern ${describeValue(pattern)}: ${reason}`));
  }
}
