import assert from "node:assert/strict";
import { validateConfig, type ValidationResult } from "../../src/config/validate.ts";
import type { ConfigProblem } from "../../src/config/problems.ts";
import { configWith } from "./base_config.ts";

function errorsOf(result: ValidationResult): ConfigProblem[] {
  assert.ok(!result.ok, "expected validation to fail");
  return result.errors;
}

function okConfig(result: ValidationResult) {
  assert.ok(result.ok, JSON.stringify(!result.ok && result.errors));
  return result.config;
}

Deno.test("validateConfig() accepts a minimal canonical config and fills defaults", () => {
  const config = okConfig(validateConfig(configWith(), { env: {} }));
  assert.equal(config.routers[0].protocol, "http");
  assert.equal(config.routers[0].backends[0].weight, 1);
  assert.equal(config.admin.port, 5901);
  assert.equal(config.routers[0].circuit_breaker.failure_threshold, 5);
});

Deno.test("validateConfig() rejects a non-object at the top level", () => {
  for (const raw of [null, [], "x", 3]) {
    const errors = errorsOf(validateConfig(raw));
    assert.equal(errors[0].path, "");
    assert.match(errors[0].message, /expected a config object/);
  }
});

Deno.test("validateConfig() reports schema errors with the path and the value", async (t) => {
  const cases: [string, Record<string, unknown>, string, string][] = [
    [
      "port 0",
      configWith({ backends: [{ host: "http://a", port: 0 }] }),
      "routers[0].backends[0].port",
      "expected 1-65535, got 0",
    ],
    ["bad method", configWith({ methods: ["FETCH"] }), "routers[0].methods[0]", 'got "FETCH"'],
    [
      "no methods",
      configWith({ methods: [] }),
      "routers[0].methods",
      "At least one HTTP method must be specified",
    ],
    ["missing path", configWith({ external_path: undefined }), "routers[0].external_path", "required"],
    [
      "relative path",
      configWith({ internal_path: "v1" }),
      "routers[0].internal_path",
      "Internal path must start with '/'",
    ],
    [
      "string port",
      configWith({ backends: [{ host: "http://a", port: "80" }] }),
      "routers[0].backends[0].port",
      'expected a number, got "80"',
    ],
    ["empty routers", { routers: [] }, "routers", "No routers configured"],
    [
      "weight 0",
      configWith({ backends: [{ host: "http://a", port: 1, weight: 0 }] }),
      "routers[0].backends[0].weight",
      "got 0",
    ],
    [
      "max_retries 11",
      configWith({ retry: { max_retries: 11 } }),
      "routers[0].retry.max_retries",
      "should not exceed 10, got 11",
    ],
    [
      "bad key",
      configWith({}, { rate_limit: { requests_per_window: 1, window_ms: 1, key: 5 } }),
      "rate_limit.key",
      'one of "ip"',
    ],
  ];
  for (const [name, raw, path, message] of cases) {
    await t.step(name, () => {
      const errors = errorsOf(validateConfig(raw, { env: {} }));
      const found = errors.find((e) => e.path === path);
      assert.ok(found, `no error at ${path}: ${JSON.stringify(errors)}`);
      assert.ok(found.message.includes(message), `${found.message} lacks ${message}`);
    });
  }
});

Deno.test("validateConfig() turns unknown keys into warnings with a did-you-mean and still loads", () => {
  const raw = configWith({ metods: ["GET"], backends: [{ host: "http://a", port: 1, wieght: 2 }] }, {
    enabled: true,
  });
  const result = validateConfig(raw, { env: {} });
  const config = okConfig(result);
  // "methods" is already present, so it is not offered for "metods".
  assert.deepEqual(result.warnings.map((w) => [w.path, w.message]).sort(), [
    ["enabled", 'unknown key "enabled"'],
    ["routers[0].backends[0].wieght", 'unknown key "wieght" (did you mean "weight"?)'],
    ["routers[0].metods", 'unknown key "metods"'],
  ]);
  assert.ok(!("metods" in config.routers[0]));
});

Deno.test("validateConfig() with strict: true makes unknown keys errors", () => {
  const errors = errorsOf(
    validateConfig(configWith({ retry: { max_retris: 2 } }), { strict: true, env: {} }),
  );
  assert.deepEqual(errors, [{
    path: "routers[0].retry.max_retris",
    message: 'unknown key "max_retris" (did you mean "max_retries"?)',
  }]);
});

Deno.test("validateConfig() ignores _comment keys, $schema and nulls everywhere", () => {
  const raw = configWith(
    {
      _comment: "x",
      retry: null,
      backends: [{ _note: 1, host: "http://a", port: 1, health_check_path: null }],
    },
    { $schema: "./schema.json", _comment: "top", jwt: null },
  );
  const result = validateConfig(raw, { env: {} });
  okConfig(result);
  assert.deepEqual(result.warnings, []);
});

Deno.test("validateConfig() returns a deeply frozen config", () => {
  const config = okConfig(validateConfig(configWith({ retry: {} }), { env: {} }));
  assert.ok(Object.isFrozen(config));
  assert.ok(Object.isFrozen(config.routers));
  assert.ok(Object.isFrozen(config.routers[0].backends[0]));
  assert.ok(Object.isFrozen(config.routers[0].retry?.retry_on_status_codes));
  assert.throws(() => {
    (config.routers[0].backends[0] as { port: number }).port = 1;
  }, TypeError);
});

Deno.test("validateConfig() does not modify its input", () => {
  const raw = configWith({ host: undefined, retry_config: { retryable_status_codes: [503] } }, {
    jwt_secret: "s",
  });
  const before = structuredClone(raw);
  validateConfig(raw, { env: {} });
  assert.deepEqual(raw, before);
});

Deno.test("validateConfig() expands ${ENV} placeholders from options.env", () => {
  const raw = configWith({ backends: [{ host: "http://${BACKEND}", port: 80 }] }, {
    jwt: { secret: "${JWT_SECRET}-and-$${literal}" },
  });
  const config = okConfig(validateConfig(raw, { env: { BACKEND: "10.0.0.5", JWT_SECRET: "a".repeat(40) } }));
  assert.equal(config.routers[0].backends[0].host, "http://10.0.0.5");
  assert.equal(config.jwt?.secret, `${"a".repeat(40)}-and-\${literal}`);
});

Deno.test("validateConfig() reports an unset ${ENV} variable at its path", () => {
  const errors = errorsOf(validateConfig(configWith({}, { jwt: { secret: "${NOPE_SECRET}" } }), { env: {} }));
  assert.deepEqual(errors, [{
    path: "jwt.secret",
    message: 'Cannot expand "${NOPE_SECRET}": environment variable NOPE_SECRET is not set',
  }]);
});

Deno.test("validateConfig() reports one error for a route with neither backends nor host/port", () => {
  const raw = configWith({ backends: undefined });
  const errors = errorsOf(validateConfig(raw, { env: {} }));
  assert.deepEqual(errors, [{
    path: "routers[0]",
    message: "Either backends or host/port must be specified",
  }]);
});

Deno.test("validateConfig() keeps going after a dialect error to report schema errors too", () => {
  const raw = configWith({ methods: ["NOPE"], retry: {}, retry_config: {} });
  const paths = errorsOf(validateConfig(raw, { env: {} })).map((e) => e.path);
  assert.deepEqual(paths, ["routers[0].retry_config", "routers[0].methods[0]"]);
});
