import assert from "node:assert/strict";
import { ReplayableBody } from "../../src/proxy/replayable_body.ts";
import type { BodyByteCounter } from "../../src/upstream/client.ts";

const enc = new TextEncoder();
function stream(...parts: string[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const p of parts) c.enqueue(enc.encode(p));
      c.close();
    },
  });
}
function counter(): BodyByteCounter {
  return { requestBodyBytes: 0 };
}
async function text(body: Uint8Array | ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(body as BodyInit).text();
}

Deno.test("ReplayableBody buffers a body within the limit and replays it", async () => {
  const body = await ReplayableBody.from(stream("hello ", "world"), new Headers(), 64, counter());
  assert.ok(body.buffered);
  assert.ok(body.replayable);
  assert.equal(await text(body.forAttempt()), "hello world");
  assert.equal(await text(body.forAttempt()), "hello world");
});

Deno.test("ReplayableBody streams a body over the limit once, keeping what it read", async () => {
  const body = await ReplayableBody.from(stream("aaaa", "bbbb", "cccc"), new Headers(), 5, counter());
  assert.ok(!body.buffered);
  assert.ok(!body.replayable);
  assert.equal(await text(body.forAttempt()), "aaaabbbbcccc");
});

Deno.test("ReplayableBody does not read a body whose Content-Length is over the limit until an attempt does", async () => {
  const body = await ReplayableBody.from(
    stream("x".repeat(100)),
    new Headers({ "content-length": "100" }),
    10,
    counter(),
  );
  assert.ok(body.replayable, "untouched: another attempt could still send it");
  const attempt = body.forAttempt() as ReadableStream<Uint8Array>;
  assert.equal((await text(attempt)).length, 100);
  assert.ok(!body.replayable);
});

Deno.test("ReplayableBody counts each byte it reads from the client once, however many attempts send it", async (t) => {
  await t.step("a buffered body counts when it is read, not when it is replayed", async () => {
    const bytes = counter();
    const body = await ReplayableBody.from(stream("hello ", "world"), new Headers(), 64, bytes);
    assert.equal(bytes.requestBodyBytes, 11);
    await text(body.forAttempt());
    await text(body.forAttempt());
    assert.equal(bytes.requestBodyBytes, 11);
  });
  await t.step("a body over the limit counts what was read ahead and what the attempt reads", async () => {
    const bytes = counter();
    const body = await ReplayableBody.from(stream("aaaa", "bbbb", "cccc"), new Headers(), 5, bytes);
    assert.equal(bytes.requestBodyBytes, 8, "read until past the limit");
    await text(body.forAttempt());
    assert.equal(bytes.requestBodyBytes, 12);
  });
  await t.step("a body that fails while buffered counts what came before", async () => {
    const bytes = counter();
    let pulls = 0;
    const failing = new ReadableStream<Uint8Array>({
      pull(c) {
        if (pulls++ === 0) c.enqueue(enc.encode("abc"));
        else c.error(new Error("client went away"));
      },
    });
    await assert.rejects(ReplayableBody.from(failing, new Headers(), 64, bytes), /client went away/);
    assert.equal(bytes.requestBodyBytes, 3);
  });
});
