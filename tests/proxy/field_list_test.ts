import assert from "node:assert/strict";
import { FieldList } from "../../src/proxy/field_list.ts";

Deno.test("FieldList behaves like Headers for the operations stages use", () => {
  const fields = new FieldList(["accept", "*/*", "x-a", "1"]);
  fields.append("X-A", "2");
  assert.equal(fields.get("x-a"), "1, 2");
  assert.ok(fields.has("ACCEPT"));
  fields.set("X-A", "3");
  assert.equal(fields.get("x-a"), "3");
  fields.delete("accept");
  assert.equal(fields.get("accept"), null);
  assert.deepEqual([...fields], [["x-a", "3"]]);
  assert.deepEqual(fields.list, ["x-a", "3"]);
});

Deno.test("FieldList refuses names and values that could split a request", () => {
  const fields = new FieldList();
  assert.throws(() => fields.set("bad name", "v"), TypeError);
  assert.throws(() => fields.set("x-claim", "a\r\nInjected: 1"), /CR, LF or NUL/);
  assert.throws(() => fields.append("x-claim", "a\0b"), TypeError);
  assert.deepEqual(fields.list, []);
});
