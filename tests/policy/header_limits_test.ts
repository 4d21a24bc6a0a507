import assert from "node:assert/strict";
import { serverSchema } from "../../src/config/schema.ts";
import { checkHeaderLimits } from "../../src/policy/header_limits.ts";

const server = serverSchema.parse({ max_header_bytes: 2048, max_header_count: 5 });

Deno.test("checkHeaderLimits() answers 431 past the header count or size", async (t) => {
  await t.step("within both limits", () => {
    const request = new Request("http://gw.test/a", { headers: { a: "1", b: "2" } });
    assert.equal(checkHeaderLimits(request, server), undefined);
  });
  await t.step("too many headers", () => {
    const headers = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`x-h${i}`, "v"]));
    const err = checkHeaderLimits(new Request("http://gw.test/a", { headers }), server);
    assert.equal(err?.status, 431);
    assert.equal(err?.type, "headers_too_large");
    assert.match(err!.message, /6 header fields, more than the limit of 5/);
  });
  await t.step("too many bytes", () => {
    const err = checkHeaderLimits(
      new Request("http://gw.test/a", { headers: { big: "x".repeat(2100) } }),
      server,
    );
    assert.equal(err?.status, 431);
    assert.match(err!.message, /more than the limit of 2048/);
  });
});
