import assert from "node:assert/strict";
import {
  applyHeaderActions,
  compileHeaderActions,
  compileReplacement,
} from "../../src/policy/header_actions.ts";
import { PolicyConfigError } from "../../src/policy/policy_config_error.ts";

const action = (a: Record<string, unknown>) =>
  ({ value: null, pattern: null, replacement: null, ...a }) as never;

Deno.test("applyHeaderActions() follows kairos-rs semantics for add, set, remove and replace", async (t) => {
  const cases: Array<
    [string, Record<string, unknown>, Record<string, string>, Record<string, string | null>]
  > = [
    ["add inserts an absent header", { action: "add", name: "X-New", value: "1" }, {}, { "x-new": "1" }],
    ["add keeps a present header", { action: "add", name: "X-Old", value: "new" }, { "x-old": "old" }, {
      "x-old": "old",
    }],
    ["set overwrites", { action: "set", name: "X-Old", value: "new" }, { "x-old": "old" }, {
      "x-old": "new",
    }],
    ["remove deletes", { action: "remove", name: "X-Old" }, { "x-old": "old" }, { "x-old": null }],
    [
      "replace rewrites every match with $1",
      { action: "replace", name: "X-Ver", pattern: "v(\\d)", replacement: "version-$1" },
      { "x-ver": "v1 v2" },
      { "x-ver": "version-1 version-2" },
    ],
    [
      "replace understands Rust's ${name}",
      { action: "replace", name: "X-Ver", pattern: "v(?<n>\\d)", replacement: "n=${n}" },
      { "x-ver": "v7" },
      { "x-ver": "n=7" },
    ],
    [
      "replace leaves an absent header absent",
      { action: "replace", name: "X-Ver", pattern: "a", replacement: "b" },
      {},
      { "x-ver": null },
    ],
  ];
  for (const [name, config, before, after] of cases) {
    await t.step(name, () => {
      const headers = new Headers(before);
      applyHeaderActions(compileHeaderActions([action(config)], "h"), headers);
      for (const [key, value] of Object.entries(after)) assert.equal(headers.get(key), value);
    });
  }
});

Deno.test("compileHeaderActions() reports actions that cannot run at their path", async (t) => {
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ action: "set", name: "X-A" }, "h[0].value", /needs a value/],
    [{ action: "add", name: "X-A" }, "h[0].value", /needs a value/],
    [{ action: "replace", name: "X-A" }, "h[0].pattern", /needs a pattern/],
    [{ action: "replace", name: "X-A", pattern: "(" }, "h[0].pattern", /Cannot compile regular expression/],
  ];
  for (const [config, path, message] of cases) {
    await t.step(`${JSON.stringify(config)} → ${path}`, () => {
      assert.throws(() => compileHeaderActions([action(config)], "h"), (err: unknown) => {
        assert.ok(err instanceof PolicyConfigError);
        assert.equal(err.path, path);
        assert.match(err.message, message);
        return true;
      });
    });
  }
});

Deno.test("compileReplacement() maps Rust group references to JavaScript ones", () => {
  assert.equal(
    compileReplacement("$1-${2}-$name-${name}-$$-$0", /(a)(b)(?<name>c)/, "p"),
    "$01-$02-$<name>-$<name>-$$-$&",
  );
});
