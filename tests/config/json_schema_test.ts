import assert from "node:assert/strict";
import { configJsonSchema } from "../../src/config/json_schema.ts";

// deno-lint-ignore no-explicit-any
type Json = Record<string, any>;

Deno.test("configJsonSchema() describes routers and allows $schema and _comment keys", () => {
  const schema = configJsonSchema() as Json;
  assert.equal(schema.type, "object");
  assert.ok("routers" in schema.properties);
  assert.deepEqual(schema.properties.$schema.type, ["string", "null"]); // null reads as absent, as everywhere
  assert.deepEqual(schema.patternProperties, { "^_": {} });
  const route = schema.properties.routers.items;
  assert.equal(route.additionalProperties, false);
  // Below the top level `$schema` is a pattern too: the loader ignores it at every depth.
  const ignored = { "^_": {}, "^\\$schema$": {} };
  assert.deepEqual(route.patternProperties, ignored);
  assert.deepEqual(route.properties.backends.items.patternProperties, ignored);
});

Deno.test("configJsonSchema() declares the kairos-rs spellings beside the canonical fields", () => {
  const schema = configJsonSchema() as Json;
  const route = schema.properties.routers.items;
  assert.match(route.properties.retry_config.description, /spelling of retry/);
  assert.match(schema.properties.jwt_secret.description, /jwt\.secret/);
  for (const key of ["strategy", "window_type", "window_duration", "requests_per_second", "burst_size"]) {
    assert.ok(key in route.properties.rate_limit.properties, key);
  }
  // backends or the legacy host + port: an alternative in allOf, not a plain `required`.
  assert.ok(!route.required.includes("backends"));
  assert.ok("host" in route.properties && "port" in route.properties);
});

Deno.test("configJsonSchema() describes the input side, so defaulted fields are optional", () => {
  const schema = configJsonSchema() as Json;
  const required: string[] = schema.properties.routers.items.required;
  assert.ok(required.includes("external_path"));
  assert.ok(!required.includes("protocol"));
  assert.ok(!schema.required.includes("version"));
});
