import assert from "node:assert/strict";
import { deepFreeze } from "../../src/config/deep_freeze.ts";

Deno.test("deepFreeze() freezes nested objects and arrays and returns its argument", () => {
  const value = { a: [{ b: 1 }], c: { d: [2] } };
  assert.equal(deepFreeze(value), value);
  assert.ok(Object.isFrozen(value.a[0]));
  assert.ok(Object.isFrozen(value.c.d));
  assert.equal(deepFreeze(3), 3);
  assert.equal(deepFreeze(null), null);
});
