/**
 * Dialect normalization: rewrites the config shapes kairos-rs documents (README, code, gateway README,
 * CONFIGURATION.md) onto the canonical shape of `schema.ts`, so a kairos-rs config.json loads unchanged.
 * Works on a fresh copy (see `stripIgnoredKeys`) and mutates it in place.
 */
import { normalizeRateLimit } from "./rate_limit_dialect.ts";
import type { PathSegments, ProblemLists, Renames } from "./problems.ts";
import { formatPath, problemAt, recordRename } from "./problems.ts";

type Obj = Record<string, unknown>;

/**
 * The normalized value, what went wrong, paths whose zod issues would repeat an error here, and where
 * each renamed key was written (so later problems can name the file's own spelling).
 */
export type NormalizeResult = ProblemLists & { value: unknown; suppress: Set<string>; renamed: Renames };

function isObject(value: unknown): value is Obj {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * Returns a deep copy without `_comment`-style keys (leading `_`), `$schema`, and null-valued keys:
 * kairos-rs reads JSON with serde, where `null` for an optional field means absent.
 */
export function stripIgnoredKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripIgnoredKeys);
  if (!isObject(value)) return value;
  const out: Obj = {};
  for (const [key, item] of Object.entries(value)) {
    if (key.startsWith("_") || key === "$schema" || item === null) continue;
    out[key] = stripIgnoredKeys(item);
  }
  return out;
}

/** Maps kairos-rs spellings onto canonical keys in place; `raw` should come from `stripIgnoredKeys`. */
export function normalizeConfig(raw: unknown): NormalizeResult {
  const result: NormalizeResult = {
    value: raw,
    errors: [],
    warnings: [],
    suppress: new Set(),
    renamed: new Map(),
  };
  if (!isObject(raw)) return result;
  normalizeJwt(raw, result);
  normalizeRateLimit(raw.rate_limit, ["rate_limit"], result);
  if (Array.isArray(raw.routers)) {
    raw.routers.forEach((route, i) => normalizeRoute(route, ["routers", i], result));
  }
  return result;
}

function normalizeJwt(raw: Obj, result: NormalizeResult): void {
  if ("jwt_secret" in raw) {
    const secret = raw.jwt_secret;
    delete raw.jwt_secret;
    if (raw.jwt === undefined) raw.jwt = {};
    if (isObject(raw.jwt)) {
      if ("secret" in raw.jwt) {
        result.errors.push(
          problemAt(["jwt_secret"], `Cannot use both "jwt_secret" and "jwt.secret"; keep one`),
        );
      } else {
        raw.jwt.secret = secret;
        recordRename(result.renamed, ["jwt", "secret"], ["jwt_secret"]);
      }
    }
  }
  const jwt = raw.jwt;
  if (!isObject(jwt) || !("algorithm" in jwt)) return;
  // The gateway README's `"algorithm": "HS256"`; kairos-rs itself only ever used HS256.
  const algorithm = jwt.algorithm;
  delete jwt.algorithm;
  if ("algorithms" in jwt) {
    result.errors.push(
      problemAt(["jwt", "algorithm"], `Cannot use both "algorithm" and "algorithms"; keep one`),
    );
  } else {
    jwt.algorithms = typeof algorithm === "string" ? [algorithm] : algorithm;
    recordRename(result.renamed, ["jwt", "algorithms"], ["jwt", "algorithm"]);
    if (typeof algorithm === "string") {
      recordRename(result.renamed, ["jwt", "algorithms", 0], ["jwt", "algorithm"]);
    }
  }
}

/** The kairos-rs README's retry keys → canonical `retry` keys (the JSON Schema reads this table too). */
export const RETRY_ALIASES: readonly (readonly [string, string])[] = [
  ["retryable_status_codes", "retry_on_status_codes"],
  ["base_delay_ms", "initial_backoff_ms"],
  ["max_delay_ms", "max_backoff_ms"],
];

function normalizeRoute(route: unknown, path: PathSegments, result: NormalizeResult): void {
  if (!isObject(route)) return;
  rename(route, "retry_config", "retry", path, result);
  const retry = route.retry;
  if (isObject(retry)) {
    const retryPath = [...path, "retry"];
    for (const [from, to] of RETRY_ALIASES) rename(retry, from, to, retryPath, result);
    moveBreakerThreshold(retry, route, retryPath, path, result);
  }
  moveBreakerThreshold(route, route, path, path, result);
  normalizeLegacyBackend(route, path, result);
  normalizeRateLimit(route.rate_limit, [...path, "rate_limit"], result);
}

function rename(obj: Obj, from: string, to: string, path: PathSegments, result: NormalizeResult): void {
  if (!(from in obj)) return;
  if (to in obj) {
    result.errors.push(problemAt([...path, from], `Cannot use both "${from}" and "${to}"; keep one`));
    delete obj[from]; // reported here; it must not come back as an "unknown key" too
    return;
  }
  obj[to] = obj[from];
  delete obj[from];
  recordRename(result.renamed, [...path, to], [...path, from]);
}

/** The gateway README's `circuit_breaker_threshold` (on a route or in its retry) → `circuit_breaker.failure_threshold`. */
function moveBreakerThreshold(
  holder: Obj,
  route: Obj,
  holderPath: PathSegments,
  routePath: PathSegments,
  result: NormalizeResult,
): void {
  if (!("circuit_breaker_threshold" in holder)) return;
  const threshold = holder.circuit_breaker_threshold;
  delete holder.circuit_breaker_threshold;
  const at = [...holderPath, "circuit_breaker_threshold"];
  if (route.circuit_breaker === undefined) route.circuit_breaker = {};
  const breaker = route.circuit_breaker;
  if (!isObject(breaker)) return;
  if ("failure_threshold" in breaker) {
    result.errors.push(problemAt(
      at,
      `Cannot use both "circuit_breaker_threshold" and "circuit_breaker.failure_threshold"; keep one`,
    ));
    return;
  }
  breaker.failure_threshold = threshold;
  recordRename(result.renamed, [...routePath, "circuit_breaker", "failure_threshold"], at);
  result.warnings.push(problemAt(
    at,
    `moved to ${formatPath([...routePath, "circuit_breaker", "failure_threshold"])}; write it there`,
  ));
}

/** kairos-rs's legacy single backend: route-level `host` + `port` instead of `backends`. */
function normalizeLegacyBackend(route: Obj, path: PathSegments, result: NormalizeResult): void {
  const hasHost = "host" in route;
  const hasPort = "port" in route;
  if (route.backends !== undefined) {
    if (hasHost || hasPort) {
      result.warnings.push(problemAt(
        [...path, hasHost ? "host" : "port"],
        "ignored: backends is set, so the legacy host/port pair is dropped",
      ));
      delete route.host;
      delete route.port;
    }
    return;
  }
  const backendsPath = formatPath([...path, "backends"]);
  if (hasHost && hasPort) {
    route.backends = [{ host: route.host, port: route.port, weight: 1 }];
    delete route.host;
    delete route.port;
    // `routers[i].backends[0].port` is `routers[i].port` in the file.
    recordRename(result.renamed, [...path, "backends", 0], path);
  } else if (hasHost || hasPort) {
    result.errors.push(problemAt(
      [...path, hasHost ? "port" : "host"],
      "required: a legacy single-backend route needs both host and port",
    ));
    result.suppress.add(backendsPath);
    delete route.host;
    delete route.port;
  } else {
    result.errors.push(problemAt(path, "Either backends or host/port must be specified"));
    result.suppress.add(backendsPath);
  }
}
