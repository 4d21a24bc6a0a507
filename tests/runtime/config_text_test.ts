import assert from "node:assert/strict";
import { parse } from "yaml";
import { renderConfigText } from "../../src/runtime/config_text.ts";

const YAML_TEXT = `# Kairos config
version: 1 # the schema version
_comment: keep me
routers:
  # the users API
  - external_path: /users/{id}
    internal_path: /v1/users/{id}
    methods: [GET, PUT]
    backends:
      - { host: "http://127.0.0.1", port: 8080 }
`;

Deno.test("await renderConfigText() patches YAML in place, keeping comments and flow style", async () => {
  const raw = parse(YAML_TEXT);
  raw.routers[0].methods = ["GET"];
  raw.routers.push({ external_path: "/b", internal_path: "/b", methods: ["GET"], backends: [] });
  const text = await renderConfigText(raw, "yaml", YAML_TEXT);
  assert.match(text, /^# Kairos config$/m);
  assert.match(text, /version: 1 # the schema version/);
  assert.match(text, /# the users API/);
  assert.match(text, /methods: \[GET\]/);
  assert.deepEqual(parse(text), raw);
});

Deno.test("await renderConfigText() deletes keys and list items in YAML", async () => {
  const raw = parse(YAML_TEXT);
  delete raw._comment;
  raw.routers[0].backends = [];
  const text = await renderConfigText(raw, "yaml", YAML_TEXT);
  assert.deepEqual(parse(text), raw);
  assert.doesNotMatch(text, /keep me/);
});

Deno.test("await renderConfigText() writes YAML from scratch when there is no usable previous text", async () => {
  const raw = { version: 1, routers: [] };
  assert.deepEqual(parse(await renderConfigText(raw, "yaml", "")), raw);
  assert.deepEqual(parse(await renderConfigText(raw, "yaml", "garbage: [")), raw);
});

Deno.test("await renderConfigText() writes JSON with the previous file's indentation", async (t) => {
  const raw = { _comment: "x", version: 1 };
  await t.step("four spaces", async () => {
    assert.equal(
      await renderConfigText(raw, "json", '{\n    "version": 1\n}'),
      '{\n    "_comment": "x",\n    "version": 1\n}\n',
    );
  });
  await t.step("two spaces by default", async () => {
    assert.equal(await renderConfigText(raw, "json"), '{\n  "_comment": "x",\n  "version": 1\n}\n');
  });
});
