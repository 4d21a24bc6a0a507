/** The README's configuration reference is checked against the schema: every field is documented. */
import assert from "node:assert/strict";
import { configJsonSchema } from "../../src/config/json_schema.ts";

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
