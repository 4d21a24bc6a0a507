import assert from "node:assert/strict";
import {
  applyMask,
  encodeFrame,
  FrameParser,
  type FrameSink,
  OP_BINARY,
  OP_CLOSE,
  OP_PING,
  OP_TEXT,
} from "../../../src/protocols/websocket/frame_codec.ts";

/** A server-to-client (unmasked) frame, RFC 6455 §5.2. */
function serverFrame(
  opcode: number,
  payload: Uint8Array,
  { fin = true, rsv = 0, masked = false } = {},
): Uint8Array {
  const n = payload.length;
  const head = n < 126
    ? [n]
    : n < 65536
    ? [126, n >>> 8, n & 0xff]
    : [127, 0, 0, 0, 0, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  const mask = masked ? [1, 2, 3, 4] : [];
  head[0] |= masked ? 0x80 : 0;
  return new Uint8Array([(fin ? 0x80 : 0) | rsv | opcode, ...head, ...mask, ...payload]);
}

function collector(max = 1 << 20) {
  const got: Array<[number, string]> = [];
  const sink: FrameSink = {
    frameMessage: (op, payload) => got.push([op, new TextDecoder().decode(payload)]),
    frameControl: (op, payload) => got.push([op, String.fromCharCode(...payload)]),
  };
  return { got, parser: new FrameParser(max, sink) };
}

/** Decodes one masked client frame back to [opcode, payload]. */
function decodeClientFrame(chunks: Uint8Array[]): [number, Uint8Array, number] {
  const frame = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) frame.set(c, (at += c.length) - c.length);
  assert.equal(frame[0] & 0x80, 0x80, "FIN set");
  assert.equal(frame[1] & 0x80, 0x80, "client frames are masked");
  const len7 = frame[1] & 0x7f;
  const [length, offset] = len7 === 126
    ? [(frame[2] << 8) | frame[3], 4]
    : len7 === 127
    ? [new DataView(frame.buffer).getUint32(6), 10]
    : [len7, 2];
  const mask = frame.slice(offset, offset + 4);
  const payload = frame.slice(offset + 4);
  assert.equal(payload.length, length);
  applyMask(payload, mask);
  return [frame[0] & 0x0f, payload, offset];
}

Deno.test("encodeFrame() masks the payload and picks the 7, 16 or 64-bit length form", async (t) => {
  for (const size of [0, 125, 126, 65535, 65536, 100_000]) {
    await t.step(`${size} bytes`, () => {
      const payload = new Uint8Array(size).map((_, i) => i & 0xff);
      const original = payload.slice();
      const [opcode, decoded, offset] = decodeClientFrame(encodeFrame(OP_BINARY, payload));
      assert.equal(opcode, OP_BINARY);
      assert.equal(offset, size < 126 ? 2 : size < 65536 ? 4 : 10);
      assert.deepEqual(decoded, original);
    });
  }
});

Deno.test("applyMask() is its own inverse at every alignment and length", () => {
  const mask = new Uint8Array([0xde, 0xad, 0xbe, 0xef]);
  const backing = new Uint8Array(300).map((_, i) => (i * 7) & 0xff);
  for (const offset of [0, 1, 2, 3, 4]) {
    for (const length of [0, 1, 31, 32, 33, 100, 257]) {
      const view = backing.slice().subarray(offset, offset + length);
      const before = view.slice();
      applyMask(view, mask);
      if (length > 0) assert.notDeepEqual(view, before);
      assert.equal(view[0], length > 0 ? before[0] ^ 0xde : undefined);
      applyMask(view, mask);
      assert.deepEqual(view, before);
    }
  }
});

Deno.test("FrameParser joins fragments, passes control frames between them and survives 1-byte chunks", () => {
  const { got, parser } = collector();
  const enc = (s: string) => new TextEncoder().encode(s);
  const stream = new Uint8Array([
    ...serverFrame(OP_TEXT, enc("hel"), { fin: false }),
    ...serverFrame(OP_PING, enc("p")),
    ...serverFrame(0, enc("lo"), { fin: true }),
    ...serverFrame(OP_BINARY, new Uint8Array(300).fill(97)),
    ...serverFrame(OP_CLOSE, new Uint8Array([0x03, 0xe8])),
  ]);
  for (const byte of stream) assert.equal(parser.push(new Uint8Array([byte])), undefined);
  assert.deepEqual(got, [
    [OP_PING, "p"],
    [OP_TEXT, "hello"],
    [OP_BINARY, "a".repeat(300)],
    [OP_CLOSE, "\x03\xe8"],
  ]);
});

Deno.test("FrameParser reports protocol violations and oversized messages", async (t) => {
  const big = new Uint8Array(2000);
  const cases: Array<[string, Uint8Array[], number]> = [
    ["a masked server frame", [serverFrame(OP_TEXT, new Uint8Array(1), { masked: true })], 1002],
    ["reserved bits", [serverFrame(OP_TEXT, new Uint8Array(1), { rsv: 0x40 })], 1002],
    ["an unknown opcode", [serverFrame(0x3, new Uint8Array(1))], 1002],
    ["a 126-byte control frame", [serverFrame(OP_PING, new Uint8Array(126))], 1002],
    ["a fragmented control frame", [serverFrame(OP_PING, new Uint8Array(1), { fin: false })], 1002],
    ["a continuation without a message", [serverFrame(0, new Uint8Array(1))], 1002],
    [
      "a new message inside a fragmented one",
      [serverFrame(OP_TEXT, new Uint8Array(1), { fin: false }), serverFrame(OP_TEXT, new Uint8Array(1))],
      1002,
    ],
    ["a message over the limit", [serverFrame(OP_BINARY, big)], 1009],
    [
      "fragments adding up over the limit",
      [serverFrame(OP_BINARY, big.subarray(0, 600), { fin: false }), serverFrame(0, big.subarray(0, 600))],
      1009,
    ],
  ];
  for (const [name, frames, code] of cases) {
    await t.step(name, () => {
      const { parser } = collector(1000);
      let violation;
      for (const frame of frames) violation ??= parser.push(frame);
      assert.equal(violation?.code, code);
    });
  }
  await t.step("the size limit is checked from the header, before the payload arrives", () => {
    const { parser } = collector(1000);
    assert.equal(parser.push(serverFrame(OP_BINARY, big).subarray(0, 4))?.code, 1009);
  });
});
