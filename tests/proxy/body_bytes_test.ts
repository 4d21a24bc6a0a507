import assert from "node:assert/strict";
import { joinChunks, readBytesUpTo } from "../../src/proxy/body_bytes.ts";

const bytes = (...values: number[]) => new Uint8Array(values);

function streamOf(chunks: Uint8Array[], onCancel?: () => void): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]);
      else controller.close();
    },
    cancel: onCancel,
  });
}

Deno.test("joinChunks() joins in order, with or without the size, and hands one chunk back as is", () => {
  assert.deepEqual(joinChunks([bytes(1, 2), bytes(3), bytes(4, 5)]), bytes(1, 2, 3, 4, 5));
  assert.deepEqual(joinChunks([bytes(1), bytes(2, 3)], 3), bytes(1, 2, 3));
  const one = bytes(9);
  assert.equal(joinChunks([one]), one);
  assert.deepEqual(joinChunks([]), bytes());
});

Deno.test("readBytesUpTo() reads a body up to the limit whole", async () => {
  assert.deepEqual(
    await readBytesUpTo(streamOf([bytes(1, 2), bytes(3)]), 3, () => new Error("x")),
    bytes(1, 2, 3),
  );
  assert.deepEqual(await readBytesUpTo(streamOf([]), 3, () => new Error("x")), bytes());
});

Deno.test("readBytesUpTo() cancels the stream and throws past the limit", async () => {
  let cancelled = false;
  let reported = -1;
  await assert.rejects(
    readBytesUpTo(streamOf([bytes(1, 2), bytes(3, 4), bytes(5)], () => cancelled = true), 3, (size) => {
      reported = size;
      return new RangeError("too large");
    }),
    RangeError,
  );
  assert.equal(reported, 4);
  assert.ok(cancelled);
});
