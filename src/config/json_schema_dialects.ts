/**
 * The kairos-rs spellings in the published JSON Schema: each key and value that normalize.ts and
 * rate_limit_dialect.ts map onto the canonical shape, declared beside the canonical field it becomes, so
 * an editor accepts a kairos-rs config.json as it is. What depends on several keys (a route's `backends`
 * or legacy `host` + `port`; a limit and a window in some spelling; two spellings of one setting, which
 * normalization refuses) goes into the node's `allOf`, which json_schema.ts's relaxing pass leaves alone.
 */
import { RETRY_ALIASES } from "./normalize.ts";
import { RATE_UNITS, STRATEGY_KEYS, WINDOW_TYPES } from "./rate_limit_dialect.ts";

/** A JSON Schema node being edited; its shape is only known at run time. */
// deno-lint-ignore no-explicit-any
export type JsonSchema = Record<string, any>;

/** Declares the kairos-rs spellings in a schema generated from `configSchema`, in place. */
export function addDialects(schema: JsonSchema): void {
  const route = at(schema, "routers", "*");
  addJwt(schema);
  addRateLimit(at(schema, "rate_limit"));
  addRateLimit(at(route, "rate_limit"));
  addRetry(at(route, "retry"));
  addRoute(route);
}

/** The node at `path` (property names, `*` for array items); throws if the zod schema lost it. */
function at(node: JsonSchema, ...path: string[]): JsonSchema {
  let current = node;
  for (const key of path) {
    current = key === "*" ? current.items : current.properties?.[key];
    if (current === undefined) throw new Error(`Cannot find ${path.join(".")} in the config JSON Schema`);
  }
  return current;
}

/** A copy of `node` for another spelling of it: its own description, and no default to insert twice. */
function alias(node: JsonSchema, description: string): JsonSchema {
  const { default: _default, description: _description, ...checks } = structuredClone(node);
  return { description, ...checks };
}

function addRules(node: JsonSchema, ...rules: JsonSchema[]): void {
  node.allOf = [...(node.allOf ?? []), ...rules];
}

const NOT_NULL = { not: { type: "null" } };

/** Holds when every path (nested property names) leads to a value other than null (the loader's "absent"). */
function has(...paths: string[][]): JsonSchema {
  return present(paths, false);
}

function present(paths: string[][], nested: boolean): JsonSchema {
  const byKey = new Map<string, string[][]>();
  for (const [key, ...rest] of paths) byKey.set(key, [...(byKey.get(key) ?? []), rest]);
  const properties: JsonSchema = {};
  for (const [key, rests] of byKey) {
    const deeper = rests.filter((rest) => rest.length > 0);
    properties[key] = deeper.length > 0 ? present(deeper, true) : NOT_NULL;
  }
  // `type: object` only below the top: `required` passes any non-object, and at the top that is wanted
  // (a rule on an optional section must hold when the section is null), deeper it would be a false match.
  return { ...(nested ? { type: "object" } : {}), required: [...byKey.keys()], properties };
}

/** Holds when at most one of the paths is set: each is a spelling of one setting. */
function atMostOne(...paths: string[][]): JsonSchema {
  const pairs = paths.flatMap((a, i) => paths.slice(i + 1).map((b) => has(a, b)));
  return { not: { type: "object", anyOf: pairs } };
}

function addJwt(top: JsonSchema): void {
  const jwt = at(top, "jwt");
  const { description: _, ...algorithms } = structuredClone(at(jwt, "algorithms"));
  top.properties.jwt_secret = alias(at(jwt, "secret"), "kairos-rs README spelling of jwt.secret");
  jwt.properties.algorithm = {
    description: "Gateway README spelling of algorithms: one algorithm or a list",
    anyOf: [structuredClone(algorithms.items), algorithms],
  };
  addRules(top, atMostOne(["jwt_secret"], ["jwt", "secret"]));
  addRules(jwt, atMostOne(["algorithm"], ["algorithms"]));
}

/** Both kairos-rs rate-limit dialects (rate_limit_dialect.ts), top level and per route. */
function addRateLimit(rateLimit: JsonSchema): void {
  const properties = rateLimit.properties;
  const pascal = () => ({ type: "string", enum: Object.keys(STRATEGY_KEYS) });
  const units = RATE_UNITS.map(([unit]) => unit);
  properties.strategy = {
    description: 'kairos-rs: what to count by (PerIP… or {"Composite": […]}, read as key), ' +
      "or an algorithm name (read as algorithm)",
    anyOf: [
      { type: "string", enum: [...Object.keys(STRATEGY_KEYS), ...at(rateLimit, "algorithm").enum] },
      {
        type: "object",
        properties: {
          Composite: {
            description: "Keys to count by together; an entry's own limits and window are ignored",
            type: "array",
            minItems: 1,
            // kairos-rs writes whole rate-limit configs here: only their strategy is read.
            items: {
              anyOf: [pascal(), {
                type: "object",
                properties: { strategy: pascal() },
                required: ["strategy"],
              }],
            },
          },
        },
        required: ["Composite"],
        additionalProperties: false,
      },
    ],
  };
  properties.window_type = {
    description: "kairos-rs spelling of algorithm",
    type: "string",
    enum: Object.keys(WINDOW_TYPES),
  };
  properties.window_duration = {
    description: "kairos-rs: the window in seconds (read as window_ms)",
    type: "number",
    exclusiveMinimum: 0,
  };
  properties.burst_allowance = alias(at(rateLimit, "burst"), "kairos-rs spelling of burst");
  for (const [unit, windowMs] of RATE_UNITS) {
    properties[unit] = {
      description: `README: sets requests_per_window, with window_ms ${windowMs}`,
      type: "integer",
      minimum: 1,
    };
  }
  properties.burst_size = {
    description:
      "README: the most requests at once; read as burst = max(0, burst_size - requests_per_window)",
    type: "integer",
    minimum: 0,
  };
  delete rateLimit.required; // requests_per_window and window_ms, each of which has other spellings now
  addRules(
    rateLimit,
    { anyOf: ["requests_per_window", ...units].map((key) => has([key])) },
    { anyOf: ["window_ms", "window_duration", ...units].map((key) => has([key])) },
    atMostOne(...units.map((unit) => [unit])),
  );
}

/** The README's retry keys, and the gateway README's breaker threshold, which may sit in a retry block. */
function addRetry(retry: JsonSchema): void {
  const properties = retry.properties;
  for (const [from, to] of RETRY_ALIASES) {
    properties[from] = alias(at(retry, to), `kairos-rs README spelling of ${to}`);
    addRules(retry, atMostOne([from], [to]));
  }
  properties.circuit_breaker_threshold = breakerThreshold();
}

function breakerThreshold(): JsonSchema {
  return {
    description: "Gateway README: moved to the route's circuit_breaker.failure_threshold (with a warning)",
    deprecated: true,
    type: "integer",
    minimum: 1,
  };
}

function addRoute(route: JsonSchema): void {
  const properties = route.properties;
  properties.retry_config = alias(at(route, "retry"), "kairos-rs README spelling of retry");
  properties.circuit_breaker_threshold = breakerThreshold();
  const backend = at(route, "backends", "*");
  properties.host = alias(
    at(backend, "host"),
    "kairos-rs legacy single backend: with port, read as backends [{host, port}] when backends is absent",
  );
  properties.port = alias(at(backend, "port"), "kairos-rs legacy single backend: its port (see host)");
  route.required = route.required.filter((key: string) => key !== "backends");
  addRules(
    route,
    { anyOf: [has(["backends"]), has(["host"], ["port"])] },
    atMostOne(["retry"], ["retry_config"]),
    atMostOne(
      ["circuit_breaker_threshold"],
      ["retry", "circuit_breaker_threshold"],
      ["retry_config", "circuit_breaker_threshold"],
      ["circuit_breaker", "failure_threshold"],
    ),
  );
}
