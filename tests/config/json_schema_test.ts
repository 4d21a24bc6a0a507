import assert from "node:assert/strict";
import { configJsonSchema } from "../../src/config/json_schema.ts";

// deno-lint-ignore no-explicit-any
type Json = Record<string, any>;

Deno.test("configJsonSchema() describes routers and allows $schema and _comment keys", () => {
  const schema = configJsonSchema() as Json;
  assert.equal(schema.type, "object");
  assert.ok("routers" in schema.properties);
  assert.equal(schema.properties.$schema.type, "string");
  assert.deepEqual(schema.patternProperties, { "^_": {} });
  const route = schema.properties.routers.items;
  assert.equal(route.additionalProperties, false);
  assert.deepEqual(route.patternProperties, { "^_": {} });
  assert.deepEqual(route.properties.backends.items.patternProperties, { "^_": {} });
  assert.match(route.properties.retry.description, /retry_config/);
  assert.match(schema.properties.jwt.description, /jwt_secret/);
});

Deno.test("configJsonSchema() describes the input side, so defaulted fields are optional", () => {
  const schema = configJsonSchema() as Json;
  const required: string[] = schema.properties.routers.items.required;
  assert.ok(required.includes("external_path"));
  assert.ok(!required.includes("protocol"));
  assert.ok(!schema.required.includes("version"));
});
