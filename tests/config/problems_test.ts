import assert from "node:assert/strict";
import { describeValue, formatPath, formatProblems, parsePath } from "../../src/config/problems.ts";

Deno.test("formatPath() and parsePath() round-trip keys, indexes and quoted keys", async (t) => {
  const cases: [(string | number)[], string][] = [
    [[], ""],
    [["routers", 3, "backends", 0, "port"], "routers[3].backends[0].port"],
    [["security_headers", "headers", "X-Frame-Options"], "security_headers.headers.X-Frame-Options"],
    [["a", "b.c", 1, 'q"[]'], 'a["b.c"][1]["q\\"[]"]'],
    [["$schema"], "$schema"],
    [[0], "[0]"],
  ];
  for (const [segments, text] of cases) {
    await t.step(text || "(root)", () => {
      assert.equal(formatPath(segments), text);
      assert.deepEqual(parsePath(text), segments);
    });
  }
  assert.equal(parsePath("a[x]"), undefined);
  assert.equal(parsePath(".a"), undefined);
  assert.equal(parsePath("a..b"), undefined);
});

Deno.test("formatProblems() prints one line per problem with optional line and column", () => {
  assert.equal(
    formatProblems([
      { path: "routers[3].backends[0].port", message: "expected 1-65535, got 0", line: 12, column: 5 },
      { path: "jwt", message: "m", line: 2 },
      { path: "", message: "Cannot parse JSON: x" },
    ]),
    [
      "line 12, column 5: routers[3].backends[0].port: expected 1-65535, got 0",
      "line 2: jwt: m",
      "Cannot parse JSON: x",
    ].join("\n"),
  );
  assert.equal(formatProblems([]), "");
});

Deno.test("describeValue() quotes strings, shortens long ones and names containers", () => {
  assert.equal(describeValue("a"), '"a"');
  assert.equal(describeValue("x".repeat(100)), JSON.stringify(`${"x".repeat(57)}...`));
  assert.equal(describeValue(3), "3");
  assert.equal(describeValue(null), "null");
  assert.equal(describeValue(undefined), "nothing");
  assert.equal(describeValue([1, 2]), "an array of 2");
  assert.equal(describeValue({}), "an object");
});
