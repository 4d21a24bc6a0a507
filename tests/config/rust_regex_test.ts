import assert from "node:assert/strict";
import { rustRegex, rustReplacement, translateRustRegex } from "../../src/config/rust_regex.ts";

Deno.test("translateRustRegex() rewrites Rust spellings into JavaScript ones", async (t) => {
  const cases: [string, { source: string; flags: string }][] = [
    ["(?P<v>\\d+)", { source: "(?<v>\\d+)", flags: "" }],
    ["(?i)abc", { source: "abc", flags: "i" }],
    ["a(?i)b", { source: "a(?i:b)", flags: "" }],
    ["[[:digit:]]+", { source: "[0-9]+", flags: "" }],
    ["\\a", { source: "\\x07", flags: "" }],
  ];
  for (const [pattern, expected] of cases) {
    await t.step(pattern, () => assert.deepEqual(translateRustRegex(pattern), expected));
  }
});

Deno.test("translateRustRegex() keeps to what V8's linear-time fallback can run", () => {
  assert.deepEqual(translateRustRegex("(?i)\\A(?P<a>x+)\\z"), { source: "^(?<a>x+)$", flags: "i" });
  assert.deepEqual(translateRustRegex("(?m)^a\\z"), { source: "^a(?![\\s\\S])", flags: "m" });
});

Deno.test("translateRustRegex() refuses what JavaScript would silently misread", async (t) => {
  const cases: [string, RegExp][] = [
    ["\\p{L}", /unsupported escape "\\p"/],
    ["[[a]]", /nested character classes/],
    ["(?x)a", /unsupported inline flags/],
    ["[a&&b]", /class intersection/],
  ];
  for (const [pattern, message] of cases) {
    await t.step(pattern, () => assert.throws(() => translateRustRegex(pattern), message));
  }
});

Deno.test("rustReplacement() turns Rust group references into JavaScript ones", () => {
  const regex = rustRegex("(?P<major>\\d+)\\.(\\d+)");
  assert.equal(rustReplacement("v$major-${2}-$0-$$", regex), "v$<major>-$02-$&-$$");
  assert.throws(() => rustReplacement("$3", regex), /refers to group 3, but the pattern has 2/);
  assert.throws(() => rustReplacement("$1a", regex), /write "\$\{1\}" for group 1/);
});
