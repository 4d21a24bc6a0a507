/** The README's configuration reference is checked against the schema: every field is documented. */
import assert from "node:assert/strict";
import { configJsonSchema } from "../../src/config/json_schema.ts";
import { validateConfig } from "../../src/config/validate.ts";

type Schema = { properties?: Record<string, Schema>; items?: Schema; anyOf?: Schema[]; oneOf?: Schema[] };

function fieldNames(schema: Schema, out = new Set<string>()): Set<string> {
  for (const [name, sub] of Object.entries(schema.properties ?? {})) {
    out.add(name);
    fieldNames(sub, out);
  }
  if (schema.items) fieldNames(schema.items, out);
  for (const sub of [...(schema.anyOf ?? []), ...(schema.oneOf ?? [])]) fieldNames(sub, out);
  return out;
}

Deno.test("README documents every config field of the schema", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const missing = [...fieldNames(configJsonSchema() as Schema)].filter((name) =>
    !readme.includes(`\`${name}\``)
  );
  assert.deepEqual(missing, [], `README.md does not document: ${missing.join(", ")}`);
});

Deno.test("README keeps the two set-up commands at the top", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const head = readme.slice(0, 1200);
  assert.match(head, /npm install -g deno@2\.9\.6/);
  assert.match(head, /deno task start/);
  assert.match(head, /deno task test/);
});

/**
 * Each JSON example is a whole config, a route, a route's transformations, or top-level sections; placed in a
 * minimal config, it must load without errors or unknown keys (strict), so the README cannot drift from the
 * schema. Examples use `${ENV}` placeholders only for secrets, given here.
 */
Deno.test("README's JSON examples are valid configs", async (t) => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const blocks = [...readme.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.length >= 10, `expected the README's JSON examples, found ${blocks.length}`);
  const baseRoute = {
    external_path: "/api/{*rest}",
    internal_path: "/{rest}",
    methods: ["GET"],
    backends: [{ host: "http://127.0.0.1", port: 8080 }],
  };
  for (const [index, text] of blocks.entries()) {
    const example = JSON.parse(text) as Record<string, unknown>;
    let config: Record<string, unknown>;
    if ("routers" in example) config = example;
    else if ("external_path" in example) config = { routers: [example] };
    else if ("request_transformation" in example || "response_transformation" in example) {
      config = { routers: [{ ...baseRoute, ...example }] };
    } else config = { routers: [baseRoute], ...example };
    await t.step(`example ${index + 1}: ${Object.keys(example).join(", ")}`, () => {
      const result = validateConfig(config, { strict: true, env: EXAMPLE_ENV });
      const errors = result.ok ? [] : result.errors.map((p) => `${p.path}: ${p.message}`);
      assert.deepEqual(errors, [], `README example ${index + 1} does not load:\n${text}`);
    });
  }
});

const EXAMPLE_ENV = new Proxy({}, {
  get: () => "an-example-secret-that-is-long-enough-0123456789",
}) as Record<
  string,
  string
>;
