import assert from "node:assert/strict";
import { ReplayableBody } from "../../src/proxy/replayable_body.ts";

const enc = new TextEncoder();
function stream(...parts: string[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const p of parts) c.enqueue(enc.encode(p));
      c.close();
    },
  });
}
async function text(body: Uint8Array | ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(body as BodyInit).text();
}

Deno.test("ReplayableBody buffers a body within the limit and replays it", async () => {
  const body = await ReplayableBody.from(stream("hello ", "world"), new Headers(), 64);
  assert.ok(body.buffered);
  assert.ok(body.replayable);
  assert.equal(await text(body.forAttempt()), "hello world");
  assert.equal(await text(body.forAttempt()), "hello world");
});

Deno.test("ReplayableBody streams a body over the limit once, keeping what it read", async () => {
  const body = await ReplayableBody.from(stream("aaaa", "bbbb", "cccc"), new Headers(), 5);
  assert.ok(!body.buffered);
  assert.ok(!body.replayable);
  assert.equal(await text(body.forAttempt()), "aaaabbbbcccc");
});

Deno.test("ReplayableBody does not read a body whose Content-Length is over the limit until an attempt does", async () => {
  const body = await ReplayableBody.from(
    stream("x".repeat(100)),
    new Headers({ "content-length": "100" }),
    10,
  );
  assert.ok(body.replayable, "untouched: another attempt could still send it");
  const attempt = body.forAttempt() as ReadableStream<Uint8Array>;
  assert.equal((await text(attempt)).length, 100);
  assert.ok(!body.replayable);
});
