/**
 * Maps the three rate-limit dialects kairos-rs users write onto the canonical `rateLimitSchema` shape:
 * - code: `strategy` "PerIP"… or `{"Composite":[…]}`, `requests_per_window`, `window_duration` (seconds),
 *   `burst_allowance`, `window_type` "FixedWindow"|"SlidingWindow"|"TokenBucket", `enable_redis`, `redis_key_prefix`;
 * - README: `algorithm`, `requests_per_second` | `requests_per_minute`, `burst_size`;
 * - config_multi_protocol.json: `strategy: "sliding_window"` (an algorithm name), `requests_per_minute`, `burst_size`.
 * A canonical object passes through unchanged.
 */
import type { PathSegments, ProblemLists, Renames } from "./problems.ts";
import { describeValue, formatPath, problemAt, recordRename } from "./problems.ts";

type Obj = Record<string, unknown>;

const ALGORITHMS = new Set(["token_bucket", "fixed_window", "sliding_window"]);
// The exported tables are read by json_schema_dialects.ts too, so the JSON Schema accepts these spellings.
/** kairos-rs `window_type` → canonical `algorithm`. */
export const WINDOW_TYPES: Readonly<Record<string, string>> = {
  FixedWindow: "fixed_window",
  SlidingWindow: "sliding_window",
  TokenBucket: "token_bucket",
};
/** kairos-rs `strategy` (PascalCase) → canonical `key`. */
export const STRATEGY_KEYS: Readonly<Record<string, string>> = {
  PerIP: "ip",
  PerUser: "user",
  PerRoute: "route",
  PerIPAndRoute: "ip_route",
  PerUserAndRoute: "user_route",
};
/** README rates → the window they imply, in ms. */
export const RATE_UNITS: readonly (readonly [string, number])[] = [
  ["requests_per_second", 1000],
  ["requests_per_minute", 60_000],
  ["requests_per_hour", 3_600_000],
];

function isObject(value: unknown): value is Obj {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Where normalizeRateLimit reports: problems, paths to `suppress` and renamed keys (see normalize.ts). */
export type RateLimitSink = ProblemLists & { suppress: Set<string>; renamed: Renames };

/**
 * Rewrites a rate_limit object in place to the canonical keys. Conflicting spellings of one setting
 * are errors; paths whose zod "required" issue would only repeat an error here go into `suppress`.
 */
export function normalizeRateLimit(rl: unknown, path: PathSegments, sink: RateLimitSink): void {
  const suppress = sink.suppress;
  if (!isObject(rl)) return;
  // Which source key produced each canonical key, to name both sides of a conflict.
  const origin: Record<string, string> = {};
  for (const key of ["algorithm", "requests_per_window", "window_ms", "burst", "key"]) {
    if (key in rl) origin[key] = key;
  }
  const set = (key: string, value: unknown, source: string) => {
    if (key in rl && origin[key] !== undefined && origin[key] !== source) {
      if (JSON.stringify(rl[key]) !== JSON.stringify(value)) {
        sink.errors.push(problemAt(
          [...path, source],
          `Cannot use both "${origin[key]}" and "${source}" in one rate_limit; keep one`,
        ));
      }
      return;
    }
    rl[key] = value;
    origin[key] = source;
    if (source !== key) recordRename(sink.renamed, [...path, key], [...path, source]);
  };
  const take = (key: string): unknown => {
    const value = rl[key];
    delete rl[key];
    return value;
  };
  const takeNumber = (key: string, ...canonical: string[]): number | undefined => {
    const value = take(key);
    if (typeof value === "number" && Number.isFinite(value) && value >= 0) return value;
    sink.errors.push(
      problemAt([...path, key], `expected a non-negative number, got ${describeValue(value)}`),
    );
    for (const name of canonical) suppress.add(formatPath([...path, name]));
    return undefined;
  };

  if ("strategy" in rl) {
    const strategy = take("strategy");
    if (typeof strategy === "string" && ALGORITHMS.has(strategy)) set("algorithm", strategy, "strategy");
    else {
      const key = strategyKey(strategy, [...path, "strategy"], sink, true);
      if (key !== undefined) set("key", key, "strategy");
    }
  }
  if ("window_type" in rl) {
    const windowType = take("window_type");
    const algorithm = typeof windowType === "string" ? WINDOW_TYPES[windowType] : undefined;
    if (algorithm) set("algorithm", algorithm, "window_type");
    else {
      sink.errors.push(problemAt(
        [...path, "window_type"],
        `expected one of "FixedWindow", "SlidingWindow", "TokenBucket", got ${describeValue(windowType)}`,
      ));
    }
  }
  for (const [unit, windowMs] of RATE_UNITS) {
    if (!(unit in rl)) continue;
    // A bad rate defines neither the count nor the window: one error, not three.
    const count = takeNumber(unit, "requests_per_window", "window_ms");
    if (count === undefined) continue;
    set("requests_per_window", count, unit);
    set("window_ms", windowMs, unit);
  }
  if ("window_duration" in rl) {
    const seconds = takeNumber("window_duration", "window_ms");
    if (seconds !== undefined) set("window_ms", Math.round(seconds * 1000), "window_duration");
  }
  if ("burst_allowance" in rl) {
    const burst = takeNumber("burst_allowance", "burst");
    if (burst !== undefined) set("burst", burst, "burst_allowance");
  }
  if ("burst_size" in rl) {
    const size = takeNumber("burst_size", "burst");
    // burst_size is the most requests a client may fire at once (the bucket capacity in the README's
    // token_bucket), while canonical `burst` is the allowance ABOVE requests_per_window. Subtracting keeps
    // the total capacity equal to burst_size; a burst_size below the rate adds nothing. The same reading
    // applies to the window algorithms, where requests_per_window + burst is the per-window cap.
    const perWindow = rl.requests_per_window;
    if (size !== undefined) {
      set("burst", typeof perWindow === "number" ? Math.max(0, size - perWindow) : size, "burst_size");
    }
  }
  // zod would say "rate_limit.window_ms: required", naming a key a kairos-rs config never has.
  const required: [string, string][] = [
    ["requests_per_window", "requests_per_window (or requests_per_second, _minute or _hour)"],
    ["window_ms", "window_ms (or window_duration in seconds)"],
  ];
  for (const [key, what] of required) {
    const at = formatPath([...path, key]);
    if (key in rl || suppress.has(at)) continue;
    sink.errors.push(problemAt([...path, key], `required: set ${what}`));
    suppress.add(at);
  }
}

/** Maps a kairos-rs `strategy` value (PascalCase or `{"Composite":[…]}`) to a canonical `key`. */
function strategyKey(
  strategy: unknown,
  path: PathSegments,
  sink: ProblemLists,
  allowComposite: boolean,
): unknown {
  if (typeof strategy === "string" && STRATEGY_KEYS[strategy]) return STRATEGY_KEYS[strategy];
  if (allowComposite && isObject(strategy) && Array.isArray(strategy.Composite)) {
    const keys: unknown[] = [];
    let ok = true;
    strategy.Composite.forEach((sub, i) => {
      const subPath = [...path, "Composite", i];
      const subStrategy = isObject(sub) ? sub.strategy : sub;
      if (isObject(sub) && Object.keys(sub).some((k) => k !== "strategy")) {
        sink.warnings.push(problemAt(
          subPath,
          "only the strategy of a Composite entry is used; its limits and window are ignored",
        ));
      }
      const key = strategyKey(subStrategy, isObject(sub) ? [...subPath, "strategy"] : subPath, sink, false);
      if (key === undefined) ok = false;
      else if (!keys.includes(key)) keys.push(key);
    });
    if (keys.length === 0 && ok) {
      sink.errors.push(problemAt([...path, "Composite"], "expected at least one strategy in Composite"));
      return undefined;
    }
    return ok ? { composite: keys } : undefined;
  }
  const forms = `"PerIP", "PerUser", "PerRoute", "PerIPAndRoute", "PerUserAndRoute"`;
  sink.errors.push(problemAt(
    path,
    allowComposite
      ? `expected one of ${forms}, {"Composite": [...]} or an algorithm name, got ${describeValue(strategy)}`
      : `expected one of ${forms}, got ${describeValue(strategy)}`,
  ));
  return undefined;
}
