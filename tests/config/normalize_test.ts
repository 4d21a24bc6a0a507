import assert from "node:assert/strict";
import { normalizeConfig, stripIgnoredKeys } from "../../src/config/normalize.ts";
import { validateConfig } from "../../src/config/validate.ts";
import { configWith } from "./base_config.ts";

function normalized(raw: Record<string, unknown>) {
  return normalizeConfig(stripIgnoredKeys(raw));
}

function loaded(raw: Record<string, unknown>) {
  const result = validateConfig(raw, { env: {} });
  assert.ok(result.ok, JSON.stringify(!result.ok && result.errors));
  return result;
}

Deno.test("stripIgnoredKeys() removes _-prefixed keys, $schema and nulls at every depth", () => {
  assert.deepEqual(
    stripIgnoredKeys({ $schema: "s", _c: 1, a: { _d: 2, b: [{ _e: 3, f: null, g: 4 }] }, h: null }),
    { a: { b: [{ g: 4 }] } },
  );
});

Deno.test("normalizeConfig() maps every rate_limit dialect to the canonical shape", async (t) => {
  const cases: [string, Record<string, unknown>, Record<string, unknown>][] = [
    [
      "code dialect",
      {
        strategy: "PerUserAndRoute",
        requests_per_window: 10,
        window_duration: 30,
        burst_allowance: 5,
        window_type: "FixedWindow",
        enable_redis: true,
        redis_key_prefix: "p",
      },
      {
        key: "user_route",
        requests_per_window: 10,
        window_ms: 30000,
        burst: 5,
        algorithm: "fixed_window",
        enable_redis: true,
        redis_key_prefix: "p",
      },
    ],
    [
      "Composite strategy",
      {
        strategy: { Composite: [{ strategy: "PerIP" }, "PerRoute"] },
        requests_per_window: 1,
        window_duration: 1,
        burst_allowance: 0,
        window_type: "TokenBucket",
      },
      {
        key: { composite: ["ip", "route"] },
        requests_per_window: 1,
        window_ms: 1000,
        burst: 0,
        algorithm: "token_bucket",
      },
    ],
    [
      "README per second",
      { algorithm: "token_bucket", requests_per_second: 100, burst_size: 150 },
      { algorithm: "token_bucket", requests_per_window: 100, window_ms: 1000, burst: 50 },
    ],
    [
      "multi-protocol strategy as algorithm",
      { strategy: "sliding_window", requests_per_minute: 100, burst_size: 150 },
      { algorithm: "sliding_window", requests_per_window: 100, window_ms: 60000, burst: 50 },
    ],
    [
      "canonical passes through",
      {
        algorithm: "fixed_window",
        requests_per_window: 5,
        window_ms: 10,
        burst: 1,
        key: { header: "X-Key" },
      },
      {
        algorithm: "fixed_window",
        requests_per_window: 5,
        window_ms: 10,
        burst: 1,
        key: { header: "X-Key" },
      },
    ],
  ];
  for (const [name, input, expected] of cases) {
    await t.step(`${name} (global and per route)`, () => {
      const result = normalized(configWith({ rate_limit: structuredClone(input) }, { rate_limit: input }));
      assert.deepEqual(result.errors, []);
      const value = result.value as { rate_limit: unknown; routers: { rate_limit: unknown }[] };
      assert.deepEqual(value.rate_limit, expected);
      assert.deepEqual(value.routers[0].rate_limit, expected);
    });
  }
});

Deno.test("normalizeConfig() reports conflicting or invalid rate_limit spellings", async (t) => {
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    [
      "two rates",
      { requests_per_second: 1, requests_per_minute: 60 },
      "rate_limit.requests_per_minute",
      /both "requests_per_second" and "requests_per_minute"/,
    ],
    [
      "strategy and key",
      { strategy: "PerIP", key: "user", requests_per_window: 1, window_ms: 1 },
      "rate_limit.strategy",
      /both "key" and "strategy"/,
    ],
    [
      "unknown strategy",
      { strategy: "PerPlanet" },
      "rate_limit.strategy",
      /expected one of "PerIP".*got "PerPlanet"/,
    ],
    ["unknown window type", { window_type: "Hourly" }, "rate_limit.window_type", /got "Hourly"/],
    [
      "string window",
      { window_duration: "60" },
      "rate_limit.window_duration",
      /expected a non-negative number, got "60"/,
    ],
    [
      "nested Composite",
      { strategy: { Composite: [{ strategy: { Composite: [] } }] } },
      "rate_limit.strategy.Composite[0].strategy",
      /expected one of/,
    ],
  ];
  for (const [name, input, path, message] of cases) {
    await t.step(name, () => {
      const result = normalized(configWith({}, { rate_limit: input }));
      const found = result.errors.find((e) => e.path === path);
      assert.ok(found, JSON.stringify(result.errors));
      assert.match(found.message, message);
    });
  }
});

Deno.test("normalizeConfig() warns that Composite entries' own limits are ignored", () => {
  const result = normalized(configWith({}, {
    rate_limit: { strategy: { Composite: [{ strategy: "PerIP", requests_per_window: 9 }] } },
  }));
  assert.deepEqual(result.warnings.map((w) => w.path), ["rate_limit.strategy.Composite[0]"]);
});

Deno.test("normalizeConfig() maps jwt_secret and jwt.algorithm", () => {
  const config =
    loaded(configWith({}, { jwt_secret: "k".repeat(32), jwt: { algorithm: "HS256", issuer: "i" } })).config;
  assert.equal(config.jwt?.secret, "k".repeat(32));
  assert.deepEqual(config.jwt?.algorithms, ["HS256"]);
  assert.equal(config.jwt?.issuer, "i");
});

Deno.test("normalizeConfig() rejects jwt_secret next to jwt.secret, naming both", () => {
  const result = normalized(configWith({}, { jwt_secret: "a", jwt: { secret: "b" } }));
  assert.deepEqual(result.errors, [{
    path: "jwt_secret",
    message: 'Cannot use both "jwt_secret" and "jwt.secret"; keep one',
  }]);
});

Deno.test("normalizeConfig() maps retry_config and its README keys", () => {
  const config = loaded(configWith({
    retry_config: { retryable_status_codes: [500], base_delay_ms: 10, max_delay_ms: 20 },
  })).config;
  const retry = config.routers[0].retry;
  assert.deepEqual(retry?.retry_on_status_codes, [500]);
  assert.equal(retry?.initial_backoff_ms, 10);
  assert.equal(retry?.max_backoff_ms, 20);
});

Deno.test("normalizeConfig() rejects retry next to retry_config", () => {
  const result = normalized(configWith({ retry: {}, retry_config: {} }));
  assert.deepEqual(result.errors.map((e) => e.path), ["routers[0].retry_config"]);
});

Deno.test("normalizeConfig() moves circuit_breaker_threshold with a warning", async (t) => {
  for (
    const [name, route, path] of [
      ["on the route", { circuit_breaker_threshold: 7 }, "routers[0].circuit_breaker_threshold"],
      [
        "inside retry",
        { retry: { circuit_breaker_threshold: 7 } },
        "routers[0].retry.circuit_breaker_threshold",
      ],
    ] as const
  ) {
    await t.step(name, () => {
      const result = loaded(configWith(route));
      assert.equal(result.config.routers[0].circuit_breaker.failure_threshold, 7);
      assert.deepEqual(result.warnings.map((w) => w.path), [path]);
      assert.match(result.warnings[0].message, /moved to routers\[0\]\.circuit_breaker\.failure_threshold/);
    });
  }
});

Deno.test("normalizeConfig() turns legacy host/port into one backend", () => {
  const config = loaded(configWith({ backends: undefined, host: "https://svc", port: 8443 })).config;
  assert.deepEqual(config.routers[0].backends, [{ host: "https://svc", port: 8443, weight: 1 }]);
});

Deno.test("normalizeConfig() prefers backends over host/port and warns", () => {
  const result = loaded(configWith({ host: "http://old", port: 1 }));
  assert.equal(result.config.routers[0].backends[0].host, "http://127.0.0.1");
  assert.deepEqual(result.warnings.map((w) => w.path), ["routers[0].host"]);
});

Deno.test("normalizeConfig() requires host and port together", () => {
  const result = normalized(configWith({ backends: undefined, host: "http://a" }));
  assert.deepEqual(result.errors.map((e) => e.path), ["routers[0].port"]);
  assert.ok(result.suppress.has("routers[0].backends"));
});
