/**
 * kairos-rs compatibility audit of config loading: every field, default, legacy form, alias, enum spelling,
 * range and nasty input from /work/shared/reference/kairos-rs.md §1, probed through the public loaders.
 * Each test says what kairos-rs does and what Kairos must do (the same, or the documented fix).
 */
import assert from "node:assert/strict";
import { validateConfig, type ValidationResult } from "../../src/config/validate.ts";
import { loadConfigFile, parseConfigText } from "../../src/config/load.ts";
import type { ConfigProblem } from "../../src/config/problems.ts";
import type { Config } from "../../src/config/schema.ts";
import { parseBackendHost } from "../../src/config/backend_address.ts";
import { compileTemplate, renderTemplate } from "../../src/routing/path_template.ts";
import { compileRouteTable } from "../../src/routing/route_table.ts";
import { configWith, configWithRoutes } from "./base_config.ts";

const SECRET = "a-random-secret-of-at-least-32-chars!!";

function ok(raw: unknown, env: Record<string, string> = {}): { config: Config; warnings: ConfigProblem[] } {
  const result = validateConfig(raw, { env });
  assert.ok(result.ok, JSON.stringify(!result.ok && result.errors));
  return result;
}

function errorsOf(result: ValidationResult): ConfigProblem[] {
  assert.ok(!result.ok, "expected validation to fail");
  return result.errors;
}

function fail(
  raw: unknown,
  options: { strict?: boolean; env?: Record<string, string> } = {},
): ConfigProblem[] {
  return errorsOf(validateConfig(raw, { env: {}, ...options }));
}

/** Asserts exactly one error, at `path`, whose message matches `message`. */
function assertOneError(raw: unknown, path: string, message: RegExp | string): void {
  const errors = fail(raw);
  assert.equal(errors.length, 1, JSON.stringify(errors));
  assert.equal(errors[0].path, path, JSON.stringify(errors));
  if (typeof message === "string") assert.equal(errors[0].message, message);
  else assert.match(errors[0].message, message);
}

const route = (fields: Record<string, unknown> = {}) => ({
  external_path: "/a",
  internal_path: "/a",
  methods: ["GET"],
  backends: [{ host: "http://127.0.0.1", port: 8080 }],
  ...fields,
});

// ---------------------------------------------------------------------------------------------------
// Whole kairos-rs configs

// kairos-rs.md §1.14: "valid against the real schema".
const FULL_EXAMPLE = {
  version: 1,
  jwt: {
    secret: "replace-with-a-random-secret-of-32+-chars!!",
    issuer: "kairos-gateway",
    audience: "api-clients",
    required_claims: ["sub", "exp"],
  },
  rate_limit: {
    strategy: "PerIPAndRoute",
    requests_per_window: 100,
    window_duration: 60,
    burst_allowance: 20,
    window_type: "SlidingWindow",
    enable_redis: false,
    redis_key_prefix: "kairos_rl",
  },
  ai: { provider: "openai", model: "gpt-4o" },
  routers: [
    {
      host: "http://legacy-svc",
      port: 8080,
      external_path: "/legacy/status",
      internal_path: "/status",
      methods: ["GET"],
    },
    {
      protocol: "http",
      backends: [
        { host: "http://users-a", port: 8080, weight: 2, health_check_path: "/health" },
        { host: "https://users-b", port: 443, weight: 1 },
      ],
      load_balancing_strategy: "weighted",
      external_path: "/api/users/{id}",
      internal_path: "/v1/user/{id}",
      methods: ["GET", "PUT", "DELETE"],
      auth_required: true,
      retry: {
        max_retries: 3,
        initial_backoff_ms: 100,
        max_backoff_ms: 5000,
        backoff_multiplier: 2.0,
        retry_on_status_codes: [502, 503, 504],
        retry_on_connection_error: true,
      },
      request_transformation: {
        headers: [{ action: "add", name: "X-Forwarded-By", value: "kairos" }],
        path: { pattern: "^/v1/(.+)$", replacement: "/v2/$1" },
        query_params: [{ action: "remove", name: "debug" }],
      },
      response_transformation: {
        headers: [{ action: "remove", name: "Server" }],
        status_code_mappings: [{ from: 404, to: 200, condition: null }],
      },
    },
    {
      protocol: "websocket",
      backends: [{ host: "ws://chat-svc", port: 3000 }],
      external_path: "/chat",
      internal_path: "/ws",
      methods: ["GET"],
    },
    {
      backends: [{ host: "http://fast", port: 8080 }, { host: "http://smart", port: 8081 }],
      external_path: "/api/smart",
      internal_path: "/",
      methods: ["POST"],
      ai_policy: {
        enabled: true,
        strategy: { content_analysis: { model: "gpt-4o-mini" } },
        provider: "openai",
        fallback_backend_index: 0,
      },
    },
  ],
};

Deno.test("audit: kairos-rs.md's full example config loads with every field mapped", () => {
  const { config, warnings } = ok(structuredClone(FULL_EXAMPLE));
  assert.deepEqual(warnings, []);
  assert.equal(config.jwt?.issuer, "kairos-gateway");
  assert.deepEqual(config.jwt?.required_claims, ["sub", "exp"]);
  assert.deepEqual(config.rate_limit, {
    algorithm: "sliding_window",
    requests_per_window: 100,
    window_ms: 60_000,
    burst: 20,
    key: "ip_route",
    enable_redis: false,
    redis_key_prefix: "kairos_rl",
  });
  const [legacy, users, chat, smart] = config.routers;
  assert.deepEqual(legacy.backends, [{ host: "http://legacy-svc", port: 8080, weight: 1 }]);
  assert.equal(users.load_balancing_strategy, "weighted");
  assert.deepEqual(users.backends.map((b) => [b.weight, b.health_check_path]), [[2, "/health"], [
    1,
    undefined,
  ]]);
  assert.equal(users.retry?.backoff_multiplier, 2);
  assert.equal(users.response_transformation?.status_code_mappings[0].to, 200);
  assert.equal(chat.protocol, "websocket");
  assert.equal(smart.ai_policy?.enabled, true);
});

Deno.test("audit: kairos-rs's CONFIGURATION.md example (server, metrics, cors, README retry) loads", () => {
  const raw = {
    version: 1,
    server: { host: "0.0.0.0", port: 5900 },
    metrics: { enabled: true, path: "/metrics" },
    cors: {
      allowed_origins: ["*"],
      allowed_methods: ["GET", "POST", "PUT", "DELETE", "OPTIONS"],
      allowed_headers: ["Authorization", "Content-Type"],
      max_age: 3600,
    },
    jwt: {
      secret: "your-super-secure-jwt-secret-key-must-be-at-least-32-characters-long",
      issuer: "kairos-gateway",
      audience: "your-app",
      required_claims: ["sub", "exp", "role"],
    },
    routers: [{
      external_path: "/api/users",
      internal_path: "/users",
      methods: ["GET", "POST"],
      protocol: "http",
      backends: [{ host: "http://backend1", port: 8080, weight: 2 }, {
        host: "http://backend2",
        port: 8080,
        weight: 1,
      }],
      load_balancing_strategy: "round_robin",
      auth_required: true,
      rate_limit: { requests_per_second: 100, burst_size: 20 },
      retry: {
        max_retries: 3,
        base_delay_ms: 100,
        max_delay_ms: 2000,
        retryable_status_codes: [500, 502, 503, 504],
      },
    }],
  };
  const { config, warnings } = ok(raw);
  // kairos-rs ignores `metrics` too; Kairos says so instead of dropping it silently.
  assert.deepEqual(warnings.map((w) => w.path), ["metrics"]);
  assert.equal(config.server.port, 5900);
  assert.equal(config.cors?.max_age, 3600);
  const retry = config.routers[0].retry!;
  assert.deepEqual(
    [retry.initial_backoff_ms, retry.max_backoff_ms, retry.retry_on_status_codes],
    [100, 2000, [500, 502, 503, 504]],
  );
  assert.deepEqual(config.routers[0].rate_limit?.requests_per_window, 100);
});

// ---------------------------------------------------------------------------------------------------
// Defaults (kairos-rs.md §1.6–1.8)

Deno.test("audit: defaults are kairos-rs's", () => {
  const { config } = ok(configWith({ retry: {} }, { jwt: { secret: SECRET } }));
  const r = config.routers[0];
  assert.equal(r.auth_required, false);
  assert.equal(r.protocol, "http");
  assert.equal(r.load_balancing_strategy, "round_robin");
  assert.equal(r.backends[0].weight, 1);
  assert.equal(r.backends[0].health_check_path, undefined);
  assert.deepEqual(
    { ...r.retry, jitter: undefined, max_buffered_body_bytes: undefined },
    {
      max_retries: 3,
      initial_backoff_ms: 100,
      max_backoff_ms: 5000,
      backoff_multiplier: 2,
      retry_on_status_codes: [502, 503, 504],
      retry_on_connection_error: true,
      jitter: undefined,
      max_buffered_body_bytes: undefined,
    },
  );
  assert.deepEqual(config.jwt?.required_claims, []);
  // No retry block means one attempt, as in kairos-rs; the hard-coded breaker values are the defaults.
  const plain = ok(configWith()).config.routers[0];
  assert.equal(plain.retry, undefined);
  assert.deepEqual(
    [
      plain.circuit_breaker.failure_threshold,
      plain.circuit_breaker.success_threshold,
      plain.circuit_breaker.reset_timeout_ms,
    ],
    [5, 3, 30000],
  );
  assert.equal(plain.timeout_ms, 30000);
});

Deno.test("audit: version is optional, 0-255 like kairos-rs's u8", async (t) => {
  const noVersion = configWith();
  delete noVersion.version;
  assert.equal(ok(noVersion).config.version, 1);
  for (const version of [0, 255]) assert.equal(ok(configWith({}, { version })).config.version, version);
  const bad: [unknown, RegExp][] = [
    [256, /expected <= 255, got 256/],
    [-1, /expected >= 0, got -1/],
    [1.5, /expected an integer, got 1\.5/],
    ["1", /expected a number, got "1"/],
  ];
  for (const [version, message] of bad) {
    await t.step(String(version), () => assertOneError(configWith({}, { version }), "version", message));
  }
});

// ---------------------------------------------------------------------------------------------------
// Enum spellings: kairos-rs's are case-sensitive

Deno.test("audit: every kairos-rs enum value is accepted", () => {
  ok(configWith({ methods: ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE"] }));
  for (const strategy of ["round_robin", "least_connections", "random", "weighted", "ip_hash"]) {
    assert.equal(
      ok(configWith({ load_balancing_strategy: strategy })).config.routers[0].load_balancing_strategy,
      strategy,
    );
  }
  const keys: [string, string][] = [
    ["PerIP", "ip"],
    ["PerUser", "user"],
    ["PerRoute", "route"],
    ["PerIPAndRoute", "ip_route"],
    ["PerUserAndRoute", "user_route"],
  ];
  const windows: [string, string][] = [
    ["FixedWindow", "fixed_window"],
    ["SlidingWindow", "sliding_window"],
    ["TokenBucket", "token_bucket"],
  ];
  for (const [[strategy, key], [windowType, algorithm]] of keys.map((k, i) => [k, windows[i % 3]])) {
    const rl = ok(configWith({}, {
      rate_limit: { strategy, window_type: windowType, requests_per_window: 1, window_duration: 1 },
    })).config.rate_limit;
    assert.deepEqual([rl?.key, rl?.algorithm], [key, algorithm]);
  }
  assert.equal(
    ok(configWith({ protocol: "websocket", backends: [{ host: "wss://a", port: 1 }] })).config.routers[0]
      .protocol,
    "websocket",
  );
});

Deno.test("audit: near-miss enum spellings are refused with the path and the allowed values", async (t) => {
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    [
      "lowercase method",
      configWith({ methods: ["GET", "get"] }),
      "routers[0].methods[1]",
      /one of "GET".*got "get"/,
    ],
    ["CONNECT", configWith({ methods: ["CONNECT"] }), "routers[0].methods[0]", /got "CONNECT"/],
    ["null method", configWith({ methods: [null] }), "routers[0].methods[0]", /one of "GET".*got null$/],
    ["HTTP", configWith({ protocol: "HTTP" }), "routers[0].protocol", /one of "http".*got "HTTP"/],
    [
      "RoundRobin",
      configWith({ load_balancing_strategy: "RoundRobin" }),
      "routers[0].load_balancing_strategy",
      /"round_robin".*got "RoundRobin"/,
    ],
    [
      "perip",
      configWith({}, { rate_limit: { strategy: "perip", requests_per_window: 1, window_duration: 1 } }),
      "rate_limit.strategy",
      /"PerIP".*got "perip"/,
    ],
    [
      "window_type in snake case",
      configWith({}, {
        rate_limit: { window_type: "fixed_window", requests_per_window: 1, window_duration: 1 },
      }),
      "rate_limit.window_type",
      /"FixedWindow".*got "fixed_window"/,
    ],
    [
      "header action",
      configWith({ request_transformation: { headers: [{ action: "ADD", name: "X", value: "v" }] } }),
      "routers[0].request_transformation.headers[0].action",
      /"add".*got "ADD"/,
    ],
  ];
  for (const [name, raw, path, message] of cases) {
    await t.step(name, () => assertOneError(raw, path, message));
  }
});

// ---------------------------------------------------------------------------------------------------
// Numeric ranges and wrong types

Deno.test("audit: ports, weights and retry limits follow kairos-rs's ranges", async (t) => {
  const backend = (fields: Record<string, unknown>) =>
    configWith({ backends: [{ host: "http://a", port: 80, ...fields }] });
  ok(backend({ port: 1 }));
  ok(backend({ port: 65535 }));
  ok(configWith({ retry: { max_retries: 10, backoff_multiplier: 1.0, initial_backoff_ms: 5000 } }));
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    ["port 0", backend({ port: 0 }), "routers[0].backends[0].port", /^expected 1-65535, got 0$/],
    ["port 65536", backend({ port: 65536 }), "routers[0].backends[0].port", /^expected 1-65535, got 65536$/],
    ["port 80.5", backend({ port: 80.5 }), "routers[0].backends[0].port", /expected an integer, got 80\.5/],
    ['port "80"', backend({ port: "80" }), "routers[0].backends[0].port", /expected a number, got "80"/],
    ['port "NaN"', backend({ port: "NaN" }), "routers[0].backends[0].port", /expected a number, got "NaN"/],
    ["port true", backend({ port: true }), "routers[0].backends[0].port", /expected a number, got true/],
    ["weight 0", backend({ weight: 0 }), "routers[0].backends[0].weight", /at least 1, got 0/],
    ["weight 1.5", backend({ weight: 1.5 }), "routers[0].backends[0].weight", /an integer, got 1\.5/],
    [
      "weight 1e300",
      backend({ weight: 1e300 }),
      "routers[0].backends[0].weight",
      /expected <= \d+, got 1e\+300/,
    ],
    [
      "max_retries 11",
      configWith({ retry: { max_retries: 11 } }),
      "routers[0].retry.max_retries",
      /should not exceed 10, got 11/,
    ],
    [
      "max_retries -1",
      configWith({ retry: { max_retries: -1 } }),
      "routers[0].retry.max_retries",
      /expected >= 0, got -1/,
    ],
    [
      "multiplier 0.5",
      configWith({ retry: { backoff_multiplier: 0.5 } }),
      "routers[0].retry.backoff_multiplier",
      /must be >= 1\.0, got 0\.5/,
    ],
    [
      'multiplier "NaN"',
      configWith({ retry: { backoff_multiplier: "NaN" } }),
      "routers[0].retry.backoff_multiplier",
      /expected a number, got "NaN"/,
    ],
    [
      "initial > max",
      configWith({ retry: { initial_backoff_ms: 6000 } }),
      "routers[0].retry.initial_backoff_ms",
      /cannot be greater than max_backoff_ms \(6000 > 5000\)/,
    ],
    [
      "status 1000",
      configWith({ retry: { retry_on_status_codes: [1000] } }),
      "routers[0].retry.retry_on_status_codes[0]",
      /<= 599/,
    ],
    [
      'auth_required "true"',
      configWith({ auth_required: "true" }),
      "routers[0].auth_required",
      /true or false, got "true"/,
    ],
    ['methods "GET"', configWith({ methods: "GET" }), "routers[0].methods", /expected an array, got "GET"/],
    ["routers {}", { routers: {} }, "routers", /expected an array, got an object/],
    ["routers [1]", { routers: [1] }, "routers[0]", /expected an object, got 1/],
  ];
  for (const [name, raw, path, message] of cases) {
    await t.step(name, () => assertOneError(raw, path, message));
  }
});

Deno.test("audit: a number too big for JSON becomes Infinity and is refused, not read as a port", async () => {
  const text = JSON.stringify(configWith()).replace('"port":8080', '"port":1e400');
  const parsed = await parseConfigText(text, "json");
  assert.ok(parsed.ok);
  assertOneError(parsed.raw, "routers[0].backends[0].port", /got Infinity/);
});

Deno.test("audit: durations a timer cannot wait for are refused (setTimeout would fire after 1 ms)", async (t) => {
  const max = 2 ** 31 - 1;
  ok(configWith({ timeout_ms: max, health_check: { interval_ms: max } }));
  const cases: [string, Record<string, unknown>, string][] = [
    ["timeout_ms", configWith({ timeout_ms: max + 1 }), "routers[0].timeout_ms"],
    ["connect_timeout_ms", configWith({ connect_timeout_ms: 3e9 }), "routers[0].connect_timeout_ms"],
    [
      "health interval",
      configWith({ health_check: { interval_ms: 3e9 } }),
      "routers[0].health_check.interval_ms",
    ],
    ["retry backoff", configWith({ retry: { max_backoff_ms: 3e9 } }), "routers[0].retry.max_backoff_ms"],
    ["shutdown grace", configWith({}, { server: { shutdown_grace_ms: 3e9 } }), "server.shutdown_grace_ms"],
    [
      "jwks timeout",
      configWith({}, { jwt: { secret: SECRET, jwks_timeout_ms: 3e9 } }),
      "jwt.jwks_timeout_ms",
    ],
  ];
  for (const [name, raw, path] of cases) {
    await t.step(name, () => assertOneError(raw, path, /at most 2147483647 ms/));
  }
});

// ---------------------------------------------------------------------------------------------------
// Legacy host/port and the dialect aliases: errors name the key the file has

Deno.test("audit: a legacy host/port route's errors name routers[i].host/port, not backends[0]", async (t) => {
  const legacy = (host: unknown, port: unknown) => configWith({ backends: undefined, host, port });
  assert.deepEqual(ok(legacy("https://svc", 443)).config.routers[0].backends, [{
    host: "https://svc",
    port: 443,
    weight: 1,
  }]);
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    ["port 0", legacy("http://a", 0), "routers[0].port", /^expected 1-65535, got 0$/],
    ['port "80"', legacy("http://a", "80"), "routers[0].port", /expected a number, got "80"/],
    [
      "ftp host",
      legacy("ftp://a", 21),
      "routers[0].host",
      /must start with http:\/\/, https:\/\/, got "ftp:\/\/a"/,
    ],
    ["no scheme", legacy("a", 80), "routers[0].host", /must start with http/],
    [
      "host only",
      configWith({ backends: undefined, host: "http://a" }),
      "routers[0].port",
      /needs both host and port/,
    ],
    [
      "neither",
      configWith({ backends: undefined }),
      "routers[0]",
      /^Either backends or host\/port must be specified$/,
    ],
  ];
  for (const [name, raw, path, message] of cases) {
    await t.step(name, () => assertOneError(raw, path, message));
  }
  await t.step("backends wins over host/port, even when empty", () => {
    const errors = fail(configWith({ backends: [], host: "http://a", port: 1 }));
    assert.deepEqual(errors.map((e) => [e.path, e.message]), [[
      "routers[0].backends",
      "At least one backend must be specified",
    ]]);
  });
});

Deno.test("audit: errors under kairos-rs spellings name the spelling the file uses", async (t) => {
  const rl = (fields: Record<string, unknown>) => configWith({}, { rate_limit: fields });
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    [
      "retry_config.retryable_status_codes",
      configWith({ retry_config: { retryable_status_codes: [1000] } }),
      "routers[0].retry_config.retryable_status_codes[0]",
      /<= 599, got 1000/,
    ],
    [
      "retry_config.max_retries",
      configWith({ retry_config: { max_retries: 11 } }),
      "routers[0].retry_config.max_retries",
      /should not exceed 10/,
    ],
    [
      "base_delay_ms > max_delay_ms",
      configWith({ retry: { base_delay_ms: 10, max_delay_ms: 5 } }),
      "routers[0].retry.base_delay_ms",
      /cannot be greater than max_backoff_ms \(10 > 5\)/,
    ],
    ["jwt_secret", configWith({}, { jwt_secret: "" }), "jwt_secret", /JWT secret cannot be empty/],
    ["jwt_secret type", configWith({}, { jwt_secret: 5 }), "jwt_secret", /expected a string, got 5/],
    [
      "jwt.algorithm",
      configWith({}, { jwt: { secret: SECRET, algorithm: "hs256" } }),
      "jwt.algorithm",
      /one of "HS256".*got "hs256"/,
    ],
    [
      "window_duration 0",
      rl({ strategy: "PerIP", requests_per_window: 10, window_duration: 0 }),
      "rate_limit.window_duration",
      /at least 1 ms/,
    ],
    [
      "requests_per_second 0",
      rl({ requests_per_second: 0, burst_size: 1 }),
      "rate_limit.requests_per_second",
      /at least 1 request per window, got 0/,
    ],
    [
      "requests_per_minute 1.5",
      rl({ requests_per_minute: 1.5 }),
      "rate_limit.requests_per_minute",
      /an integer, got 1\.5/,
    ],
    [
      "burst_allowance -1",
      rl({ strategy: "PerIP", requests_per_window: 1, window_duration: 1, burst_allowance: -1 }),
      "rate_limit.burst_allowance",
      /non-negative number, got -1/,
    ],
  ];
  for (const [name, raw, path, message] of cases) {
    await t.step(name, () => assertOneError(raw, path, message));
  }
  await t.step("circuit_breaker_threshold", () => {
    const result = validateConfig(configWith({ circuit_breaker_threshold: 0 }), { env: {} });
    assert.deepEqual(errorsOf(result).map((e) => e.path), ["routers[0].circuit_breaker_threshold"]);
  });
  await t.step("a warning inside retry_config", () => {
    const { warnings } = ok(configWith({ retry_config: { circuit_breaker_threshold: 3 } }));
    assert.deepEqual(warnings.map((w) => w.path), ["routers[0].retry_config.circuit_breaker_threshold"]);
  });
});

Deno.test("audit: line numbers of dialect errors point at the key the file has", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kairos_audit_" });
  try {
    const path = `${dir}/config.json`;
    await Deno.writeTextFile(
      path,
      `{
  "version": 1,
  "rate_limit": { "strategy": "PerIP", "requests_per_window": 5,
                  "window_duration": 0 },
  "routers": [
    { "external_path": "/a", "internal_path": "/a", "methods": ["GET"],
      "host": "http://a",
      "port": 0 }
  ]
}`,
    );
    const result = await loadConfigFile(path, { env: {} });
    assert.ok(!result.ok);
    assert.deepEqual(result.errors.map((e) => [e.path, e.line]), [
      ["rate_limit.window_duration", 4],
      ["routers[0].port", 8],
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("audit: two spellings of one setting give one error, not also an unknown-key warning", () => {
  const result = validateConfig(
    configWith({ retry: { retry_on_status_codes: [500], retryable_status_codes: [502] } }),
    { env: {} },
  );
  assert.deepEqual(errorsOf(result).map((e) => e.path), ["routers[0].retry.retryable_status_codes"]);
  assert.deepEqual(result.warnings, []);
});

Deno.test("audit: a rate_limit without a limit or a window says which keys would do", async (t) => {
  await t.step("gateway README's shape (kairos-rs panics on it)", () => {
    assertOneError(
      configWith({}, { rate_limit: { requests_per_window: 100, burst_allowance: 200 } }),
      "rate_limit.window_ms",
      "required: set window_ms (or window_duration in seconds)",
    );
  });
  await t.step("release 0.2.11's shape", () => {
    const result = validateConfig(configWith({}, { rate_limit: { enabled: true, max_requests: 100 } }), {
      env: {},
    });
    assert.deepEqual(errorsOf(result).map((e) => [e.path, e.message]), [
      [
        "rate_limit.requests_per_window",
        "required: set requests_per_window (or requests_per_second, _minute or _hour)",
      ],
      ["rate_limit.window_ms", "required: set window_ms (or window_duration in seconds)"],
    ]);
    assert.deepEqual(result.warnings.map((w) => w.path), ["rate_limit.enabled", "rate_limit.max_requests"]);
  });
  await t.step("a bad requests_per_second is one error, not three", () => {
    assertOneError(
      configWith({}, { rate_limit: { requests_per_second: "100" } }),
      "rate_limit.requests_per_second",
      /non-negative number, got "100"/,
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// JWT (kairos-rs.md §1.3, §1.12)

Deno.test("audit: kairos-rs's default JWT secret is refused, as kairos-rs does", () => {
  assertOneError(
    configWith({ auth_required: true }, { jwt: { secret: "please-change-this-secret" } }),
    "jwt.secret",
    "JWT secret must be changed from default value",
  );
});

Deno.test("audit: a short JWT secret only warns, counted in bytes like kairos-rs", () => {
  assert.deepEqual(ok(configWith({}, { jwt: { secret: "é".repeat(16) } })).warnings, []);
  const { warnings } = ok(configWith({}, { jwt: { secret: "é".repeat(15) } }));
  assert.deepEqual(warnings.map((w) => [w.path, w.message]), [[
    "jwt.secret",
    "JWT secret should be at least 32 characters for security, got 30",
  ]]);
});

Deno.test("audit: JWT problems found by both the cross-checks and the policy compiler are reported once", async (t) => {
  await t.step("auth_required without jwt", () => {
    assertOneError(
      configWith({ auth_required: true }),
      "routers[0].auth_required",
      "JWT configuration is required when routes have auth_required=true",
    );
  });
  await t.step("jwt without a key (a typo in secret)", () => {
    const result = validateConfig(configWith({}, { jwt: { secrt: SECRET } }), { env: {} });
    assert.deepEqual(errorsOf(result).map((e) => e.path), ["jwt"]);
    assert.deepEqual(result.warnings.map((w) => w.message), ['unknown key "secrt" (did you mean "secret"?)']);
  });
  await t.step("null issuer and audience are absent, as with serde", () => {
    const { config } = ok(configWith({}, { jwt: { secret: SECRET, issuer: null, audience: null } }));
    assert.equal(config.jwt?.issuer, undefined);
  });
  await t.step("an audience list names the bad item", () => {
    assertOneError(
      configWith({}, { jwt: { secret: SECRET, audience: ["a", 5] } }),
      "jwt.audience[1]",
      /expected a string, got 5/,
    );
    assertOneError(
      configWith({}, { jwt: { secret: SECRET, audience: 5 } }),
      "jwt.audience",
      "expected a string or an array, got 5",
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// Other overlapping checks and message quality

Deno.test("audit: regex, replace and CIDR problems are reported once per path", async (t) => {
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    [
      "bad header pattern",
      configWith({
        response_transformation: {
          headers: [{ action: "replace", name: "Server", pattern: "(", replacement: "" }],
        },
      }),
      "routers[0].response_transformation.headers[0].pattern",
      /Cannot compile pattern "\("/,
    ],
    [
      "replace without pattern",
      configWith({
        response_transformation: { headers: [{ action: "replace", name: "Server", replacement: "x" }] },
      }),
      "routers[0].response_transformation.headers[0].pattern",
      /needs a pattern/,
    ],
    [
      "bad path pattern",
      configWith({
        // Rust's `(?P<rest>…)` compiles now; `\p{L}` is a Rust escape JavaScript would misread.
        request_transformation: { path: { pattern: "^/v1/(?P<rest>\\p{L}+)$", replacement: "/v2/$rest" } },
      }),
      "routers[0].request_transformation.path.pattern",
      /Cannot compile pattern/,
    ],
    [
      "bad CIDR",
      configWith({ ip_filter: { allow: ["1.2.3.4/40"] } }),
      "routers[0].ip_filter.allow[0]",
      /IP address or CIDR/,
    ],
  ];
  for (const [name, raw, path, message] of cases) {
    await t.step(name, () => assertOneError(raw, path, message));
  }
});

Deno.test("audit: schema messages say what is wrong, in words", async (t) => {
  const cases: [string, Record<string, unknown>, string, string][] = [
    [
      "relative health_check_path",
      configWith({ backends: [{ host: "http://a", port: 1, health_check_path: "health" }] }),
      "routers[0].backends[0].health_check_path",
      `expected a path starting with '/', got "health"`,
    ],
    [
      "bad header name as a record key",
      configWith({}, { security_headers: { headers: { "Bad Header": "x" } } }),
      'security_headers.headers["Bad Header"]',
      'invalid key: expected a valid HTTP header name, got "Bad Header"',
    ],
    [
      "bad composite rate-limit key",
      configWith({}, {
        rate_limit: { requests_per_window: 1, window_ms: 1, key: { composite: ["planet"] } },
      }),
      "rate_limit.key.composite[0]",
      'expected one of "ip", "route", "ip_route", "user", "user_route" or an object, got "planet"',
    ],
  ];
  for (const [name, raw, path, message] of cases) {
    await t.step(name, () => assertOneError(raw, path, message));
  }
});

// ---------------------------------------------------------------------------------------------------
// Paths and hosts

Deno.test("audit: route parameters may use Unicode letters, as Rust's is_alphanumeric allows", () => {
  const { config } = ok(
    configWith({ external_path: "/api/{идент}/{número_2}", internal_path: "/v1/{идент}/{número_2}" }),
  );
  const table = compileRouteTable([{ pattern: config.routers[0].external_path, methods: ["GET"], value: 0 }]);
  const match = table.match("GET", "/api/7/x");
  assert.equal(match.kind, "found");
  assert.equal(renderTemplate(compileTemplate(config.routers[0].internal_path), match.params), "/v1/7/x");
  // Still refused, as in kairos-rs: punctuation, regex syntax and empty names.
  for (const bad of ["/a/{user-id}", "/a/{p:.*}", "/a/{}", "/a/{id"]) {
    assertOneError(
      configWith({ external_path: bad, internal_path: "/x" }),
      "routers[0].external_path",
      /Cannot parse/,
    );
  }
});

Deno.test("audit: path rules: leading slash, traversal, placeholders the external path lacks", async (t) => {
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    [
      "no slash",
      configWith({ external_path: "api" }),
      "routers[0].external_path",
      /External path must start with '\/'/,
    ],
    [
      "empty",
      configWith({ external_path: "" }),
      "routers[0].external_path",
      /External path must start with '\/'/,
    ],
    [
      "traversal",
      configWith({ external_path: "/a/../b", internal_path: "/x" }),
      "routers[0].external_path",
      /Path traversal/,
    ],
    [
      "encoded traversal",
      configWith({ external_path: "/a/%2e%2e/b", internal_path: "/x" }),
      "routers[0].external_path",
      /Path traversal/,
    ],
    // kairos-rs forwards `{name}` literally when external_path has no such parameter: always a mistake.
    [
      "uncaptured placeholder",
      configWith({ external_path: "/a/{id}", internal_path: "/x/{name}" }),
      "routers[0].internal_path",
      /"\{name\}" is not captured/,
    ],
  ];
  for (const [name, raw, path, message] of cases) {
    await t.step(name, () => assertOneError(raw, path, message));
  }
});

Deno.test("audit: backend hosts: schemes, ports, paths and internationalized names", async (t) => {
  const host = (h: string, port = 8080, protocol = "http") =>
    configWith({ protocol, backends: [{ host: h, port }] });
  await t.step("accepted", () => {
    ok(host("HTTP://Svc"));
    ok(host("http://svc:8080")); // the port inside host equals `port`
    ok(host("ws://chat", 80, "websocket"));
    ok(host("http://chat", 80, "websocket"));
    ok(host("8.8.8.8", 53, "dns"));
    ok(host("ftp://files", 21, "ftp"));
  });
  await t.step(
    "an internationalized name is accepted and dialled as punycode (reqwest does the same)",
    () => {
      const { config } = ok(host("http://bücher.example"));
      assert.equal(config.routers[0].backends[0].host, "http://bücher.example");
      const address = parseBackendHost("http://bücher.example", 8080, "http");
      assert.equal(typeof address === "string" ? address : address.authority, "xn--bcher-kva.example:8080");
    },
  );
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["different port in host", host("http://svc:8081"), /names port 8081 but port is 8080/],
    ["path in host", host("http://svc/api"), /scheme:\/\/hostname only; put the path in internal_path/],
    ["trailing slash", host("http://svc/"), /scheme:\/\/hostname only/],
    ["ws on an http route", host("ws://svc"), /http route must start with http:\/\/, https:\/\//],
    ["http on an ftp route", host("http://ftp.example.com", 21, "ftp"), /ftp route must start with ftp:\/\//],
    ["space in name", host("http://ex ample.com"), /invalid hostname/],
    ["empty", host(""), /at least 1 character/],
  ];
  for (const [name, raw, message] of cases) {
    await t.step(name, () => assertOneError(raw, "routers[0].backends[0].host", message));
  }
});

// ---------------------------------------------------------------------------------------------------
// Duplicates, empty arrays, nulls, unknown keys

Deno.test("audit: duplicate routes", async (t) => {
  await t.step("same path and method: refused, naming the earlier route", () => {
    assertOneError(
      configWithRoutes([route(), route()]),
      "routers[1].external_path",
      "Duplicate route path detected: /a (also routers[0], both for GET)",
    );
  });
  await t.step("same path, other methods: allowed (one route per method)", () => {
    ok(configWithRoutes([route(), route({ methods: ["POST"] })]));
  });
  await t.step(
    "same shape with other parameter names: refused (kairos-rs would never reach the second)",
    () => {
      assertOneError(
        configWithRoutes([route({ external_path: "/a/{x}" }), route({ external_path: "/a/{y}" })]),
        "routers[1].external_path",
        /Duplicate route path detected: \/a\/\{y\}/,
      );
    },
  );
  await t.step(
    "repeated methods in one route are harmless",
    () => void ok(configWith({ methods: ["GET", "GET"] })),
  );
});

Deno.test("audit: empty arrays", async (t) => {
  const cases: [string, Record<string, unknown>, string, string][] = [
    [
      "routers",
      { version: 1, routers: [] },
      "routers",
      "No routers configured - gateway will not handle any requests",
    ],
    [
      "methods",
      configWith({ methods: [] }),
      "routers[0].methods",
      "At least one HTTP method must be specified",
    ],
    [
      "backends",
      configWith({ backends: [] }),
      "routers[0].backends",
      "At least one backend must be specified",
    ],
    [
      "Composite",
      configWith({}, {
        rate_limit: { strategy: { Composite: [] }, requests_per_window: 1, window_duration: 1 },
      }),
      "rate_limit.strategy.Composite",
      "expected at least one strategy in Composite",
    ],
  ];
  for (const [name, raw, path, message] of cases) {
    await t.step(name, () => assertOneError(raw, path, message));
  }
  await t.step("retry_on_status_codes [] means retry on connection errors only", () => {
    assert.deepEqual(
      ok(configWith({ retry: { retry_on_status_codes: [] } })).config.routers[0].retry?.retry_on_status_codes,
      [],
    );
  });
});

Deno.test("audit: null is absent for optional fields and an error for required ones", async (t) => {
  await t.step("optional", () => {
    const { config, warnings } = ok(configWith(
      { retry: null, auth_required: null, load_balancing_strategy: null, protocol: null },
      { jwt: null, rate_limit: null, ai: null },
    ));
    assert.deepEqual(warnings, []);
    assert.equal(config.routers[0].load_balancing_strategy, "round_robin");
    assert.equal(config.jwt, undefined);
  });
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    ["routers", { version: 1, routers: null }, "routers", /required \(expected an array\)/],
    ["methods", configWith({ methods: null }), "routers[0].methods", /required/],
    ["routers[0]", { routers: [null] }, "routers[0]", /expected an object, got null/],
    [
      "backends[0]",
      configWith({ backends: [null] }),
      "routers[0].backends[0]",
      /expected an object, got null/,
    ],
  ];
  for (const [name, raw, path, message] of cases) {
    await t.step(name, () => assertOneError(raw, path, message));
  }
});

Deno.test("audit: unknown keys warn with their path and a did-you-mean at every depth", () => {
  const raw = configWith(
    {
      metods: ["GET"],
      retry: { max_retris: 2 },
      backends: [{ host: "http://a", port: 1, wieght: 2 }],
      rate_limit: { requests_per_window: 1, window_ms: 1, bust: 2 },
    },
    { rate_limt: {}, jwt: { secret: SECRET, isuer: "x" } },
  );
  const result = validateConfig(raw, { env: {} });
  assert.ok(result.ok, JSON.stringify(!result.ok && result.errors));
  assert.deepEqual(result.warnings.map((w) => [w.path, w.message]).sort(), [
    ["jwt.isuer", 'unknown key "isuer" (did you mean "issuer"?)'],
    ["rate_limt", 'unknown key "rate_limt" (did you mean "rate_limit"?)'],
    ["routers[0].backends[0].wieght", 'unknown key "wieght" (did you mean "weight"?)'],
    ["routers[0].metods", 'unknown key "metods"'], // "methods" is present, so it is not offered
    ["routers[0].rate_limit.bust", 'unknown key "bust" (did you mean "burst"?)'],
    ["routers[0].retry.max_retris", 'unknown key "max_retris" (did you mean "max_retries"?)'],
  ]);
  // kairos-rs drops misspelled fields silently; here they are dropped too, but loudly.
  assert.equal(result.config.routers[0].retry?.max_retries, 3);
  // --strict turns each into an error.
  assert.equal(fail(raw, { strict: true }).length, 6);
});

Deno.test("audit: a missing routers key is an error that points at the typo", () => {
  const result = validateConfig({ version: 1, router: [route()] }, { env: {} });
  assert.deepEqual(errorsOf(result).map((e) => e.path), ["routers"]);
  assert.deepEqual(result.warnings.map((w) => w.message), ['unknown key "router" (did you mean "routers"?)']);
});

Deno.test("audit: _comment keys, $schema and __proto__ are ignored everywhere", async () => {
  const text =
    `{"$schema":"x","_comment":"a","__proto__":{"routers":[]},"routers":[{"_comment":"b","__proto__":{"auth_required":true},` +
    `"external_path":"/a","internal_path":"/a","methods":["GET"],"backends":[{"host":"http://a","port":1}]}]}`;
  const parsed = await parseConfigText(text, "json");
  assert.ok(parsed.ok);
  const { config, warnings } = ok(parsed.raw);
  assert.deepEqual(warnings, []);
  assert.equal(config.routers[0].auth_required, false);
  assert.equal(Object.getPrototypeOf(config.routers[0]), Object.prototype);
});

// ---------------------------------------------------------------------------------------------------
// ${ENV} placeholders

Deno.test("audit: ${ENV} placeholders", async (t) => {
  await t.step("a missing variable names the path", () => {
    assertOneError(
      configWith({ backends: [{ host: "http://${NOPE_HOST}", port: 1 }] }),
      "routers[0].backends[0].host",
      'Cannot expand "${NOPE_HOST}": environment variable NOPE_HOST is not set',
    );
  });
  await t.step("in a number field it fails once, not again as a type error", () => {
    assertOneError(
      configWith({ backends: [{ host: "http://a", port: "${PORT_X}" }] }),
      "routers[0].backends[0].port",
      /environment variable PORT_X is not set/,
    );
  });
  await t.step("inside a _comment it is not expanded", () => void ok(configWith({ _comment: "${NOPE}" })));
  await t.step("$${ is a literal, and an empty variable is still a value", () => {
    const { config } = ok(
      configWith({ backends: [{ host: "http://a${EMPTY}", port: 1 }] }, {
        jwt: { secret: `$\${x}${SECRET}` },
      }),
      {
        EMPTY: "",
      },
    );
    assert.equal(config.routers[0].backends[0].host, "http://a");
    assert.equal(config.jwt?.secret, `\${x}${SECRET}`);
  });
  await t.step("an empty secret from the environment is refused", () => {
    const errors = fail(configWith({}, { jwt: { secret: "${JWT}" } }), { env: { JWT: "" } });
    assert.deepEqual(errors.map((e) => [e.path, e.message]), [["jwt.secret", "JWT secret cannot be empty"]]);
  });
});

// ---------------------------------------------------------------------------------------------------
// Text: JSON syntax, BOM, duplicate keys, YAML

Deno.test("audit: JSON syntax errors have a line and column and a plain message", async (t) => {
  const cases: [string, string, RegExp, number, number][] = [
    ["trailing comma in an array", '{\n  "methods": ["GET", "POST",],\n  "x": 1\n}', /trailing comma/, 2, 28],
    ["trailing comma in an object", '{\n  "a": 1,\n}', /trailing comma/, 2, 9],
    ["NaN", '{\n  "port": NaN\n}', /^Cannot parse JSON: Unexpected token 'N'$/, 2, 11],
    ["comment", '{\n  "a": 1 // x\n}', /Expected ',' or '}'/, 2, 10],
    ["undefined", '{"a": true,\n "b": undefined}', /^Cannot parse JSON: Unexpected token 'u'$/, 2, 7],
    [
      "text after the end",
      '{"a": 1}}',
      /^Cannot parse JSON: Unexpected non-whitespace character after JSON$/,
      1,
      9,
    ],
    ["single quotes", "{'a': 1}", /Expected property name/, 1, 2],
  ];
  for (const [name, text, message, line, column] of cases) {
    await t.step(name, async () => {
      const result = await parseConfigText(text, "json");
      assert.ok(!result.ok);
      assert.equal(result.errors.length, 1);
      assert.match(result.errors[0].message, message);
      assert.deepEqual([result.errors[0].line, result.errors[0].column], [line, column]);
    });
  }
});

Deno.test("audit: a key repeated in one JSON object is an error at its path (serde refuses it too)", async () => {
  const text = `{
  "routers": [
    { "external_path": "/a", "internal_path": "/a", "methods": ["GET"],
      "backends": [{ "host": "http://a", "port": 80, "port": 81 }] }
  ]
}`;
  const result = await parseConfigText(text, "json");
  assert.ok(!result.ok);
  assert.deepEqual(result.errors, [{
    path: "routers[0].backends[0].port",
    message: 'Cannot parse JSON: key "port" appears twice in one object; keep one',
    line: 4,
    column: 54,
  }]);
  // Ignored keys may repeat (kairos-rs ignores unknown fields, repeated or not), and equal keys in
  // different objects are not repeats.
  assert.ok(
    (await parseConfigText('{"_comment": 1, "_comment": 2, "a": {"x": 1}, "b": {"x": 2}}', "json")).ok,
  );
});

Deno.test("audit: BOM, empty text, a top-level array and deep nesting", async () => {
  const bom = await parseConfigText(`\uFEFF${JSON.stringify(configWith())}`, "json");
  assert.ok(bom.ok);
  ok(bom.raw);
  for (const text of ["", "\uFEFF", " \n\t"]) {
    const empty = await parseConfigText(text, "json");
    assert.ok(!empty.ok);
    assert.equal(empty.errors[0].message, "Cannot parse config: it is empty");
  }
  const array = await parseConfigText("[]", "json");
  assert.ok(array.ok);
  assertOneError(array.raw, "", "expected a config object at the top level, got an array of 0");
  // Deeply nested input gets an answer, not a stack overflow from the recursive walks.
  const deep = await parseConfigText(`{"routers": ${"[".repeat(50_000)}${"]".repeat(50_000)}}`, "json");
  assert.ok(deep.ok);
  assertOneError(deep.raw, `routers${"[0]".repeat(63)}`, "nested deeper than 64 levels");
});

Deno.test("audit: YAML: merge keys, duplicate keys, several documents, yes/no", async (t) => {
  await t.step("<<: *anchor merges instead of becoming a key", async () => {
    const yaml = [
      "_route: &route",
      "  methods: [GET]",
      "  backends: [{ host: http://127.0.0.1, port: 8080 }]",
      "routers:",
      "  - <<: *route",
      "    external_path: /a",
      "    internal_path: /a",
      "  - <<: *route",
      "    external_path: /b",
      "    internal_path: /b",
      "    methods: [POST]",
    ].join("\n");
    const parsed = await parseConfigText(yaml, "yaml");
    assert.ok(parsed.ok);
    const { config, warnings } = ok(parsed.raw);
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.routers.map((r) => r.methods), [["GET"], ["POST"]]);
  });
  await t.step("a repeated key is an error with its line", async () => {
    const parsed = await parseConfigText("version: 1\nversion: 2\n", "yaml");
    assert.ok(!parsed.ok);
    assert.equal(parsed.errors[0].line, 2);
  });
  await t.step("several documents are refused", async () => {
    const parsed = await parseConfigText("version: 1\n---\nversion: 2\n", "yaml");
    assert.ok(!parsed.ok);
    assert.match(parsed.errors[0].message, /multiple documents/);
  });
  await t.step("YAML 1.2: yes is a string, and the error says so", async () => {
    const parsed = await parseConfigText(
      "routers:\n  - { external_path: /a, internal_path: /a, methods: [GET], auth_required: yes, " +
        "backends: [{ host: 'http://a', port: 1 }] }\n",
      "yaml",
    );
    assert.ok(parsed.ok);
    assertOneError(parsed.raw, "routers[0].auth_required", 'expected true or false, got "yes"');
  });
  await t.step("a comment-only file is not a config", async () => {
    const parsed = await parseConfigText("# nothing\n", "yaml");
    assert.ok(parsed.ok);
    assertOneError(parsed.raw, "", "expected a config object at the top level, got null");
  });
});
