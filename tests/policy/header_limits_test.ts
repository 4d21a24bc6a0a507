import assert from "node:assert/strict";
import { serverSchema } from "../../src/config/schema.ts";
import { checkHeaderLimits } from "../../src/policy/header_limits.ts";
import { buildUpstreamHeaders, type HeadSize } from "../../src/proxy/forward_headers.ts";

const server = serverSchema.parse({ max_header_bytes: 2048, max_header_count: 5 });

/** Measures the head the way the runtime does: while copying the headers upstream. */
function check(request: Request) {
  const size: HeadSize = { count: 0, bytes: 0 };
  buildUpstreamHeaders(request.headers, {
    peerIp: "127.0.0.1",
    peerTrusted: false,
    requestId: "r",
    preserveHost: false,
  }, size);
  return checkHeaderLimits(request, size, server);
}

Deno.test("checkHeaderLimits() answers 431 past the header count or size", async (t) => {
  await t.step("within both limits", () => {
    assert.equal(check(new Request("http://gw.test/a", { headers: { a: "1", b: "2" } })), undefined);
  });
  await t.step("too many headers", () => {
    const headers = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`x-h${i}`, "v"]));
    const err = check(new Request("http://gw.test/a", { headers }));
    assert.equal(err?.status, 431);
    assert.equal(err?.type, "headers_too_large");
    assert.match(err!.message, /6 header fields, more than the limit of 5/);
  });
  await t.step("too many bytes", () => {
    const err = check(new Request("http://gw.test/a", { headers: { big: "x".repeat(2100) } }));
    assert.equal(err?.status, 431);
    assert.match(err!.message, /more than the limit of 2048/);
  });
});
