/**
 * `kairos schema` checked with a real JSON Schema validator (Ajv, draft 2020-12), the way an editor uses it:
 * every config the loader accepts passes, in every kairos-rs spelling, and clear type errors fail.
 */
import assert from "node:assert/strict";
import { Ajv2020, type ErrorObject } from "ajv/dist/2020.js";
import ajvFormats from "ajv-formats";
import { configJsonSchema } from "../../src/config/json_schema.ts";
import { parseConfigText } from "../../src/config/load.ts";
import { RATE_UNITS, STRATEGY_KEYS, WINDOW_TYPES } from "../../src/config/rate_limit_dialect.ts";
import { validateConfig } from "../../src/config/validate.ts";
import { configWith } from "./base_config.ts";

type Raw = Record<string, unknown>;

const SECRET = "a-random-secret-of-at-least-32-chars!!";
// What the fixtures' and the cases' ${NAME} placeholders read.
const ENV = {
  KAIROS_ADMIN_TOKEN: "admin-token-0123456789",
  JWT_SECRET: SECRET,
  ADMIN_TOKEN: "admin-token-0123456789",
  PROTOCOL: "http",
  PREFIX: "/api",
  JWKS_URL: "https://id.example/jwks.json",
  HEADER: "X-Tenant",
};

// strict: unknown keywords, formats and ignored keywords are errors. allowUnionTypes is the one
// relaxation: `"type": ["string", "null"]` is plain draft 2020-12, and zod itself writes such unions.
// ajv-formats is CommonJS: at run time its default import is the plugin that its types put at `.default`.
const addFormats = ajvFormats as unknown as typeof ajvFormats.default;
const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
addFormats(ajv); // jwt.jwks_url is `"format": "uri"`; strict mode refuses an unknown format
const check = ajv.compile(configJsonSchema());

function schemaErrors(raw: unknown): string {
  if (check(raw)) return "";
  return (check.errors ?? []).map((e: ErrorObject) => `${e.instancePath || "/"} ${e.message}`).join("; ");
}

function assertSchemaAccepts(raw: unknown): void {
  const errors = schemaErrors(raw);
  assert.equal(errors, "", `the schema refuses a config the loader accepts: ${errors}`);
}

function assertLoads(raw: unknown): void {
  const result = validateConfig(raw, { env: ENV, strict: true });
  assert.ok(result.ok, JSON.stringify(!result.ok && result.errors));
}

/** A config whose one route has no `backends`, for the legacy host + port forms. */
function legacyRoute(fields: Raw): Raw {
  const raw = configWith(fields);
  delete (raw.routers as Raw[])[0].backends;
  return raw;
}

async function filesIn(dir: URL): Promise<URL[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) if (entry.isFile) names.push(entry.name);
  return names.sort().map((name) => new URL(name, dir));
}

Deno.test("configJsonSchema() compiles in Ajv's strict mode with union types allowed", () => {
  const strictest = new Ajv2020({ strict: true });
  addFormats(strictest);
  // The one relaxation, and why: without it Ajv refuses only the union types.
  assert.throws(() => strictest.compile(configJsonSchema()), /allowUnionTypes/);
  assert.equal(typeof check, "function");
});

Deno.test("the bundled config.json and every fixture that validateConfig() accepts pass the schema", async (t) => {
  const files = [
    new URL("../../config.json", import.meta.url),
    ...await filesIn(new URL("../fixtures/kairos-rs/", import.meta.url)),
    ...await filesIn(new URL("../fixtures/config/", import.meta.url)),
  ];
  const accepted: string[] = [];
  for (const file of files) {
    const name = file.pathname.split("/").slice(-2).join("/");
    const parsed = await parseConfigText(
      await Deno.readTextFile(file),
      /\.ya?ml$/.test(name) ? "yaml" : "json",
    );
    if (!parsed.ok || !validateConfig(parsed.raw, { env: ENV }).ok) continue;
    accepted.push(name);
    await t.step(name, () => assertSchemaAccepts(parsed.raw));
  }
  // config.json, the nine kairos-rs configs and full.yaml: a fixture that stopped loading fails here.
  assert.equal(accepted.length, 11, accepted.join(", "));
});

Deno.test("every kairos-rs spelling and legacy form that normalization maps passes the schema", async (t) => {
  const limit = (fields: Raw) => ({ requests_per_window: 10, window_duration: 60, ...fields });
  const cases: [string, Raw][] = [
    ["top-level jwt_secret", configWith({}, { jwt_secret: SECRET })],
    ["jwt_secret next to a jwt block", configWith({}, { jwt_secret: SECRET, jwt: { issuer: "kairos" } })],
    ["jwt.algorithm as one name", configWith({}, { jwt: { secret: SECRET, algorithm: "HS256" } })],
    ["jwt.algorithm as a list", configWith({}, { jwt: { secret: SECRET, algorithm: ["HS256", "HS512"] } })],
    [
      "retry_config with the README's keys",
      configWith({
        retry_config: {
          max_retries: 2,
          retryable_status_codes: [502, 503],
          base_delay_ms: 50,
          max_delay_ms: 500,
          backoff_multiplier: 2.0,
        },
      }),
    ],
    ["retry with the README's keys", configWith({ retry: { base_delay_ms: 10, max_delay_ms: 20 } })],
    ["circuit_breaker_threshold on a route", configWith({ circuit_breaker_threshold: 3 })],
    ["circuit_breaker_threshold in retry", configWith({ retry: { circuit_breaker_threshold: 3 } })],
    [
      "circuit_breaker_threshold in retry_config",
      configWith({ retry_config: { circuit_breaker_threshold: 3 } }),
    ],
    ["a legacy host + port route", legacyRoute({ host: "http://127.0.0.1", port: 8080 })],
    [
      "host + port next to backends (dropped with a warning)",
      configWith({ host: "http://127.0.0.1", port: 8080 }),
    ],
    ["serde's nulls beside backends", configWith({ host: null, port: null, retry: null })],
    ["backends: null on a legacy route", configWith({ backends: null, host: "http://a", port: 1 })],
    ...Object.keys(STRATEGY_KEYS).map((strategy): [string, Raw] => [
      `strategy ${strategy}`,
      configWith({ rate_limit: limit({ strategy }) }, { rate_limit: limit({ strategy }) }),
    ]),
    ...["token_bucket", "fixed_window", "sliding_window"].map((strategy): [string, Raw] => [
      `strategy "${strategy}" (an algorithm name)`,
      configWith({}, { rate_limit: { strategy, requests_per_minute: 100, burst_size: 150 } }),
    ]),
    ...Object.keys(WINDOW_TYPES).map((window_type): [string, Raw] => [
      `window_type ${window_type}`,
      configWith({ rate_limit: limit({ window_type }) }),
    ]),
    ...RATE_UNITS.map(([unit]): [string, Raw] => [
      `README ${unit} + burst_size`,
      configWith({ rate_limit: { algorithm: "token_bucket", [unit]: 100, burst_size: 150 } }),
    ]),
    [
      "the code dialect's whole rate_limit",
      configWith({}, {
        rate_limit: {
          strategy: "PerIPAndRoute",
          requests_per_window: 100,
          window_duration: 0.5,
          burst_allowance: 20,
          window_type: "SlidingWindow",
          enable_redis: false,
          redis_key_prefix: "kairos_rl",
        },
      }),
    ],
    [
      "Composite with whole kairos-rs entries and bare names",
      configWith({}, {
        rate_limit: limit({
          strategy: {
            Composite: [
              { strategy: "PerIP", requests_per_window: 5, window_duration: 1, burst_allowance: 0 },
              "PerRoute",
            ],
          },
        }),
      }),
    ],
    [
      "_comment keys and $schema at every depth",
      configWith(
        {
          _comment: "route",
          $schema: "x",
          backends: [{ _note: 1, host: "http://a", port: 1 }],
          security_headers: { headers: { _x: "y" } },
        },
        { $schema: "./schema.json", _comment: "top", server: { _c: true } },
      ),
    ],
    [
      "null for optional fields",
      configWith({ retry: null, auth_required: null, protocol: null, timeout_ms: null }, {
        jwt: null,
        rate_limit: null,
        server: { port: null },
        security_headers: { headers: { "X-A": null } },
      }),
    ],
    [
      "${NAME} placeholders in constrained strings",
      configWith(
        {
          external_path: "${PREFIX}/{id}",
          protocol: "${PROTOCOL}",
          request_transformation: { headers: [{ action: "set", name: "${HEADER}", value: "1" }] },
        },
        {
          admin: { token: "${ADMIN_TOKEN}" },
          jwt: { jwks_url: "${JWKS_URL}", algorithms: ["RS256"] },
        },
      ),
    ],
  ];
  for (const [name, raw] of cases) {
    await t.step(name, () => {
      assertLoads(structuredClone(raw)); // the case really is a config the loader accepts
      assertSchemaAccepts(raw);
    });
  }
  await t.step("__proto__ keys (ignored like _comment)", async () => {
    const text =
      `{"__proto__":{"x":1},"routers":[{"__proto__":{},"external_path":"/a","internal_path":"/a",` +
      `"methods":["GET"],"backends":[{"host":"http://a","port":1}]}]}`;
    const parsed = await parseConfigText(text, "json");
    assert.ok(parsed.ok);
    assertLoads(parsed.raw);
    assertSchemaAccepts(parsed.raw);
  });
});

Deno.test("configs with type errors fail both the loader and the schema", async (t) => {
  const cases: [string, Raw][] = [
    ["a string backend port", configWith({ backends: [{ host: "http://a", port: "8080" }] })],
    ["a string legacy port", legacyRoute({ host: "http://a", port: "8080" })],
    ["a port out of range", configWith({ backends: [{ host: "http://a", port: 70000 }] })],
    ["a string server.port", configWith({}, { server: { port: "5900" } })],
    ["a string version", configWith({}, { version: "1" })],
    ["an unknown protocol", configWith({ protocol: "grpc" })],
    ["an unknown balancer", configWith({ load_balancing_strategy: "fastest" })],
    ["a lower-case method", configWith({ methods: ["get"] })],
    [
      "an unknown kairos-rs strategy",
      configWith({}, { rate_limit: { strategy: "PerHost", requests_per_second: 1 } }),
    ],
    [
      "an unknown window_type",
      configWith({}, { rate_limit: { window_type: "Fixed", requests_per_second: 1 } }),
    ],
    [
      "a Composite of nothing",
      configWith({}, { rate_limit: { strategy: { Composite: [] }, requests_per_second: 1 } }),
    ],
    ["a rate_limit without a window", configWith({ rate_limit: { requests_per_window: 10 } })],
    ["a fractional requests_per_second", configWith({ rate_limit: { requests_per_second: 1.5 } })],
    ["a numeric jwt_secret", configWith({}, { jwt_secret: 42 })],
    ["an unknown jwt.algorithm", configWith({}, { jwt: { secret: SECRET, algorithm: "none" } })],
    ["a string retry count", configWith({ retry_config: { max_retries: "3" } })],
    ["a string retryable_status_codes", configWith({ retry: { retryable_status_codes: "502" } })],
    ["a route with neither backends nor host/port", legacyRoute({})],
    ["a legacy host without a port", legacyRoute({ host: "http://a" })],
    ["retry next to retry_config", configWith({ retry: {}, retry_config: {} })],
    [
      "base_delay_ms next to initial_backoff_ms",
      configWith({ retry: { base_delay_ms: 1, initial_backoff_ms: 1 } }),
    ],
    ["jwt_secret next to jwt.secret", configWith({}, { jwt_secret: SECRET, jwt: { secret: SECRET } })],
    [
      "circuit_breaker_threshold next to failure_threshold",
      configWith({ circuit_breaker_threshold: 3, circuit_breaker: { failure_threshold: 4 } }),
    ],
    ["null for a required field", configWith({ methods: null })],
    ["no routers", { version: 1 }],
  ];
  for (const [name, raw] of cases) {
    await t.step(name, () => {
      assert.ok(!validateConfig(structuredClone(raw), { env: ENV }).ok, "the loader accepts it");
      assert.notEqual(schemaErrors(raw), "", "the schema accepts it");
    });
  }
});

Deno.test("an unknown key only warns in the loader but fails the schema, as with --strict", () => {
  const raw = configWith({ timout_ms: 5000 });
  const loose = validateConfig(structuredClone(raw), { env: ENV });
  assert.ok(loose.ok);
  assert.deepEqual(loose.warnings.map((w) => w.path), ["routers[0].timout_ms"]);
  assert.ok(!validateConfig(structuredClone(raw), { env: ENV, strict: true }).ok);
  assert.match(schemaErrors(raw), /must NOT have additional properties/);
});

Deno.test("the schema still describes the canonical fields with their descriptions and defaults", () => {
  const schema = configJsonSchema();
  const route = schema.properties.routers.items.properties;
  assert.equal(route.timeout_ms.default, 30000);
  assert.match(route.timeout_ms.description, /first byte/);
  assert.equal(route.protocol.default, "http");
  assert.deepEqual(route.protocol.anyOf[0].enum, ["http", "websocket", "ftp", "dns"]);
  assert.equal(route.backends.items.properties.weight.default, 1);
  assert.match(route.retry_config.description, /spelling of retry/);
  assert.equal(route.circuit_breaker_threshold.deprecated, true);
  assert.match(schema.properties.jwt_secret.description, /jwt\.secret/);
});
