import assert from "node:assert/strict";
import { ChunkedDecoder } from "../../../src/upstream/http1/chunked_decoder.ts";
import { ProtocolViolation } from "../../../src/upstream/http1/protocol_violation.ts";

const encoder = new TextEncoder();

// Feeds `wire` to a decoder in two deliveries split at `cut`, the way a connection's buffer would see them.
function decode(
  wire: string,
  cut: number,
  maxTrailerBytes = 1024,
): { data: string; rest: number; done: boolean } {
  const buf = encoder.encode(wire);
  const decoder = new ChunkedDecoder(maxTrailerBytes);
  let data = "";
  let pos = 0;
  for (const end of [cut, buf.length]) {
    for (;;) {
      pos = decoder.advance(buf, pos, end);
      if (decoder.state !== "data" || pos === end) break;
      const n = Math.min(end - pos, decoder.remaining);
      data += new TextDecoder().decode(buf.subarray(pos, pos + n));
      pos += n;
      decoder.consume(n);
    }
  }
  return { data, rest: buf.length - pos, done: decoder.state === "done" };
}

Deno.test("ChunkedDecoder decodes the same body whatever the packet boundaries", () => {
  const wire = "4;a=b\r\nWiki\r\n5 ;x\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\nNEXT";
  for (let cut = 0; cut <= wire.length; cut++) {
    const result = decode(wire, cut);
    assert.equal(result.data, "Wikipedia in\r\n\r\nchunks.", `cut at ${cut}`);
    assert.equal(result.done, true);
    assert.equal(result.rest, 4, "bytes after the body stay unread");
  }
});

Deno.test("ChunkedDecoder rejects malformed framing", async (t) => {
  const cases: [string, string, RegExp][] = [
    ["a non-hex size", "g\r\nx\r\n0\r\n\r\n", /not a hexadecimal number/],
    ["a size with trailing junk", "5x\r\nhello\r\n0\r\n\r\n", /not a hexadecimal number/],
    ["a size over 2^53", "20000000000000\r\n", /overflows 2\^53/],
    ["a missing CRLF after data", "2\r\nokX\r\n0\r\n\r\n", /not followed by CRLF/],
    ["a size line ended by a bare LF", "2\nok\r\n0\r\n\r\n", /bare LF/],
    ["a control byte in an extension", "2;\x01\r\nok\r\n0\r\n\r\n", /control byte 0x01/],
    ["an endless size line", `1;${"x".repeat(5000)}`, /longer than 4096 bytes/],
    ["an oversized trailer section", `0\r\nX-T: ${"t".repeat(2000)}\r\n\r\n`, /trailer section is longer/],
  ];
  for (const [name, wire, message] of cases) {
    await t.step(name, () => {
      assert.throws(() => decode(wire, wire.length), (err: unknown) => {
        assert.ok(err instanceof ProtocolViolation);
        assert.match(err.message, message);
        return true;
      });
    });
  }
});

Deno.test("ChunkedDecoder accepts the largest safe chunk size", () => {
  const decoder = new ChunkedDecoder(1024);
  decoder.advance(encoder.encode("1FFFFFFFFFFFFF\r\n"), 0, 16);
  assert.equal(decoder.state, "data");
  assert.equal(decoder.remaining, Number.MAX_SAFE_INTEGER);
});
