import assert from "node:assert/strict";
import { type BackendEnd, BackendSocket } from "../../../src/protocols/websocket/backend_socket.ts";
import { applyMask } from "../../../src/protocols/websocket/frame_codec.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The backend's end of the socket: writes raw frames, reads the gateway's masked ones. */
class RawPeer {
  #pending = new Uint8Array(0);
  constructor(readonly conn: Deno.Conn) {}

  async send(bytes: number[] | Uint8Array): Promise<void> {
    await this.conn.write(new Uint8Array(bytes));
  }

  /** The next client frame as [opcode, unmasked payload], or null at EOF. */
  async frame(): Promise<[number, Uint8Array] | null> {
    while (true) {
      const p = this.#pending;
      if (p.length >= 2) {
        const len7 = p[1] & 0x7f;
        const offset = len7 === 126 ? 4 : 2;
        const length = len7 === 126 ? (p[2] << 8) | p[3] : len7;
        if (p.length >= offset + 4 + length) {
          const payload = p.slice(offset + 4, offset + 4 + length);
          applyMask(payload, p.subarray(offset, offset + 4));
          this.#pending = p.slice(offset + 4 + length);
          return [p[0] & 0x0f, payload];
        }
      }
      const buffer = new Uint8Array(65536);
      const n = await this.conn.read(buffer);
      if (n === null) return null;
      this.#pending = new Uint8Array([...p, ...buffer.subarray(0, n)]);
    }
  }
}

/** A BackendSocket on one end of a loopback TCP pair, started, with what its listener heard. */
async function socketPair(maxMessageBytes = 1 << 20) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [client, server] = await Promise.all([
    Deno.connect({ hostname: "127.0.0.1", port: (listener.addr as Deno.NetAddr).port }),
    listener.accept(),
  ]);
  listener.close();
  const heard: Array<string | number[]> = [];
  let ended!: (end: BackendEnd) => void;
  const end = new Promise<BackendEnd>((resolve) => ended = resolve);
  const socket = new BackendSocket(client, new Uint8Array(0), maxMessageBytes, {
    backendText: (text) => heard.push(text),
    backendBinary: (data) => heard.push([...data]),
    backendClosed: (e) => ended(e),
  });
  socket.start();
  const peer = new RawPeer(server);
  return {
    socket,
    peer,
    heard,
    end,
    async [Symbol.asyncDispose]() {
      socket.abort();
      await socket.closed;
      try {
        server.close();
      } catch { /* closed in the test */ }
    },
  };
}

const closeFrame = (code: number, reason: string) => {
  const text = encoder.encode(reason);
  return [0x88, 2 + text.length, code >> 8, code & 0xff, ...text];
};

Deno.test("BackendSocket delivers text and binary messages and answers a ping with a pong", async () => {
  await using pair = await socketPair();
  await pair.peer.send([0x81, 2, 104, 105, 0x82, 2, 1, 2, 0x89, 1, 120]);
  const [opcode, payload] = (await pair.peer.frame())!;
  assert.deepEqual([opcode, decoder.decode(payload)], [0xa, "x"]);
  assert.deepEqual(pair.heard, ["hi", [1, 2]]);
});

Deno.test("BackendSocket sends masked text, binary and ping frames", async () => {
  await using pair = await socketPair();
  assert.equal(pair.socket.sendText("héllo"), 6);
  pair.socket.sendBinary(new Uint8Array(300).fill(7));
  pair.socket.ping();
  const text = (await pair.peer.frame())!;
  const binary = (await pair.peer.frame())!;
  const ping = (await pair.peer.frame())!;
  assert.deepEqual([text[0], decoder.decode(text[1])], [1, "héllo"]);
  assert.deepEqual([binary[0], binary[1].length, binary[1][299]], [2, 300, 7]);
  assert.deepEqual([ping[0], ping[1].length], [9, 0]);
  assert.equal(pair.socket.bufferedAmount, 0);
});

Deno.test("BackendSocket echoes a backend's close (RFC 6455 §5.5.1) and reports it as the peer's", async () => {
  await using pair = await socketPair();
  await pair.peer.send(closeFrame(4001, "bye"));
  const [opcode, payload] = (await pair.peer.frame())!;
  assert.equal(opcode, 8);
  assert.deepEqual([...payload], closeFrame(4001, "bye").slice(2));
  assert.deepEqual(await pair.end, { how: "peer", code: 4001, reason: "bye" });
  assert.equal(await pair.peer.frame(), null, "the connection is closed after the echo");
});

Deno.test("BackendSocket.close() sends the code, waits for the reply and reports a local close", async () => {
  await using pair = await socketPair();
  pair.socket.sendText("ignored after close?");
  pair.socket.close(1001, "going away");
  assert.equal((await pair.peer.frame())![0], 1);
  const [opcode, payload] = (await pair.peer.frame())!;
  assert.deepEqual([opcode, (payload[0] << 8) | payload[1], decoder.decode(payload.subarray(2))], [
    8,
    1001,
    "going away",
  ]);
  assert.equal(pair.socket.sendText("after close"), 0, "nothing is sent once closing");
  await pair.peer.send(closeFrame(1001, ""));
  assert.deepEqual(await pair.end, { how: "local", code: 1001, reason: "going away" });
});

Deno.test("BackendSocket fails the connection on a broken stream and reports why", async (t) => {
  const cases: Array<[string, number[], number, string]> = [
    ["invalid UTF-8 in a text message (§8.1)", [0x81, 2, 0xc3, 0x28], 1007, "violation"],
    ["an invalid close code", closeFrame(1005, ""), 1002, "violation"],
    ["a message over the limit", [0x82, 126, 0x01, 0x00, ...new Uint8Array(256)], 1009, "violation"],
  ];
  for (const [name, bytes, code, how] of cases) {
    await t.step(name, async () => {
      await using pair = await socketPair(100);
      await pair.peer.send(bytes);
      const [opcode, payload] = (await pair.peer.frame())!;
      assert.deepEqual([opcode, (payload[0] << 8) | payload[1]], [8, code]);
      // The socket lingers for the backend's side of the close (§7.1.1); the backend hangs up.
      pair.peer.conn.close();
      const end = await pair.end;
      assert.deepEqual([end.how, end.code], [how, code]);
      assert.deepEqual(pair.heard, []);
    });
  }
});

Deno.test("BackendSocket reports a connection that ends without a close frame as lost (1006)", async () => {
  await using pair = await socketPair();
  pair.peer.conn.close();
  assert.deepEqual(await pair.end, { how: "lost", code: 1006, reason: "" });
});
