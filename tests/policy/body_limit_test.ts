import assert from "node:assert/strict";
import { compileBodyLimit } from "../../src/policy/body_limit.ts";
import { GatewayError } from "../../src/proxy/gateway_error.ts";
import { makeContext } from "./context_fixture.ts";

function chunked(chunks: number[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(new Uint8Array(chunks[i++]));
      else controller.close();
    },
  });
}

Deno.test("compileBodyLimit() refuses a declared Content-Length over the limit at once", () => {
  const stage = compileBodyLimit(10)!;
  const ctx = makeContext({ method: "POST", body: "x".repeat(11), headers: { "content-length": "11" } });
  assert.throws(() => stage(ctx), (err: unknown) => err instanceof GatewayError && err.status === 413);
  return ctx.request.body?.cancel();
});

Deno.test("compileBodyLimit() errors a chunked body with 413 once it crosses the limit", async () => {
  const stage = compileBodyLimit(10)!;
  const ctx = makeContext({ method: "POST", body: chunked([4, 4, 4, 4]) });
  stage(ctx);
  const reader = ctx.upstreamBody!.getReader();
  assert.equal((await reader.read()).value?.byteLength, 4);
  assert.equal((await reader.read()).value?.byteLength, 4);
  await assert.rejects(reader.read(), (err: unknown) => {
    assert.ok(err instanceof GatewayError);
    assert.equal(err.status, 413);
    assert.equal(err.type, "payload_too_large");
    return true;
  });
  assert.equal(ctx.bodyError?.status, 413);
  // The refused chunk was read from the client; the two passed on are the reader's to count.
  assert.equal(ctx.requestBodyBytes, 4);
});

Deno.test("compileBodyLimit() passes a body at the limit through untouched", async () => {
  const stage = compileBodyLimit(12)!;
  const ctx = makeContext({ method: "POST", body: chunked([4, 4, 4]) });
  stage(ctx);
  const bytes = await new Response(ctx.upstreamBody).arrayBuffer();
  assert.equal(bytes.byteLength, 12);
});

Deno.test("compileBodyLimit() is absent without a limit and ignores bodiless requests", () => {
  assert.equal(compileBodyLimit(undefined), undefined);
  const ctx = makeContext();
  assert.equal(compileBodyLimit(0)!(ctx), undefined);
  assert.equal(ctx.upstreamBody, null);
});
