import assert from "node:assert/strict";
import { parseConfigText } from "../../src/config/parse_text.ts";

Deno.test("parseConfigText() parses JSON and YAML, skipping a byte order mark", async () => {
  assert.deepEqual(await parseConfigText('\uFEFF{"a": [1]}', "json"), { ok: true, raw: { a: [1] } });
  assert.deepEqual(await parseConfigText("a:\n  - 1\nb: on\n", "yaml"), {
    ok: true,
    raw: { a: [1], b: "on" },
  });
});

Deno.test("parseConfigText() reports JSON syntax errors with line and column", async (t) => {
  const cases: [string, number, number][] = [
    ['{\n  "a": 1,\n  "b" 2\n}', 3, 7],
    ['{"a": 1,', 1, 9],
    ["{\n", 2, 1],
  ];
  for (const [text, line, column] of cases) {
    await t.step(JSON.stringify(text), async () => {
      const result = await parseConfigText(text, "json");
      assert.ok(!result.ok);
      assert.equal(result.errors[0].path, "");
      assert.match(result.errors[0].message, /^Cannot parse JSON: /);
      assert.doesNotMatch(result.errors[0].message, /position/);
      assert.deepEqual([result.errors[0].line, result.errors[0].column], [line, column]);
    });
  }
});

Deno.test("parseConfigText() reports YAML errors with line and column", async () => {
  const result = await parseConfigText("a: 1\na: 2\n", "yaml");
  assert.ok(!result.ok);
  assert.match(result.errors[0].message, /^Cannot parse YAML: .*unique/i);
  assert.equal(result.errors[0].line, 2);
  assert.equal(result.errors[0].column, 1);
});

Deno.test("parseConfigText() rejects empty text in either format", async () => {
  for (const format of ["json", "yaml"] as const) {
    const result = await parseConfigText(" \n", format);
    assert.ok(!result.ok);
    assert.equal(result.errors[0].message, "Cannot parse config: it is empty");
  }
});
