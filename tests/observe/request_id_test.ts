import assert from "node:assert/strict";
import { acceptRequestId, newRequestId } from "../../src/observe/request_id.ts";

Deno.test("newRequestId() returns distinct ids that a client could echo back", () => {
  const ids = new Set<string>();
  for (let i = 0; i < 10_000; i++) ids.add(newRequestId());
  assert.equal(ids.size, 10_000);
  for (const id of [...ids].slice(0, 3)) {
    assert.match(id, /^[0-9a-f]{16}-[0-9a-z]+$/);
    assert.equal(acceptRequestId(id), id);
  }
});

Deno.test("acceptRequestId() keeps valid client ids and replaces the rest", async (t) => {
  const cases: [string | null, boolean][] = [
    ["abc-123", true],
    ["A.b_c:d-e", true],
    ["550e8400-e29b-41d4-a716-446655440000", true],
    ["x".repeat(128), true],
    ["x".repeat(129), false],
    ["", false],
    [null, false],
    ["has space", false],
    ["new\nline", false],
    ['quote"', false],
    ["ünïcode", false],
    ["a/b", false],
  ];
  for (const [value, kept] of cases) {
    await t.step(`${JSON.stringify(value)?.slice(0, 40)} is ${kept ? "kept" : "replaced"}`, () => {
      const id = acceptRequestId(value);
      if (kept) assert.equal(id, value);
      else {
        assert.notEqual(id, value);
        assert.match(id, /^[0-9a-f]{16}-[0-9a-z]+$/);
      }
    });
  }
});
