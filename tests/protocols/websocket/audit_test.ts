/**
 * RFC 6455 conformance and robustness of the WebSocket proxy, probed from both ends: scripted raw TCP
 * backends (Deno.listen) that answer the handshake and send frames byte by byte, and raw clients where
 * the WebSocket API cannot misbehave (not reading, not answering a close, vanishing).
 */
import assert from "node:assert/strict";
import { acceptFor } from "../../../src/protocols/websocket/backend_handshake.ts";
import { applyMask } from "../../../src/protocols/websocket/frame_codec.ts";
import { sample } from "../../system/harness.ts";
import { closed, connect, echoBackend, eventually, MIB, nextMessage, startProxy } from "./proxy_fixture.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const backendAt = (port: number) => [{ host: "ws://127.0.0.1", port }];
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Frame {
  readonly fin: boolean;
  readonly rsv: number;
  readonly opcode: number;
  readonly masked: boolean;
  /** Unmasked. */
  readonly payload: Uint8Array;
}

/** Reads an HTTP head, then frames (masked or not), from a raw connection. */
class FrameReader {
  #pending = new Uint8Array(0);
  constructor(readonly conn: Deno.Conn) {}

  async #more(): Promise<boolean> {
    const buffer = new Uint8Array(65536);
    const n = await this.conn.read(buffer);
    if (n === null) return false;
    const joined = new Uint8Array(this.#pending.length + n);
    joined.set(this.#pending);
    joined.set(buffer.subarray(0, n), this.#pending.length);
    this.#pending = joined;
    return true;
  }

  /** The HTTP head up to the blank line (excluded); bytes after it stay for frame(). */
  async head(): Promise<string> {
    while (true) {
      const text = String.fromCharCode(...this.#pending);
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) {
        this.#pending = this.#pending.slice(end + 4);
        return text.slice(0, end);
      }
      if (!(await this.#more())) throw new Error(`Connection closed before a head: ${JSON.stringify(text)}`);
    }
  }

  /** The rest of the stream until EOF, or its first `length` bytes, as text (e.g. an error body). */
  async rest(length = Infinity): Promise<string> {
    while (this.#pending.length < length && await this.#more().catch(() => false));
    return decoder.decode(this.#pending);
  }

  /** The next frame, or null at EOF (or a reset). */
  async frame(): Promise<Frame | null> {
    while (true) {
      const p = this.#pending;
      if (p.length >= 2) {
        const len7 = p[1] & 0x7f;
        const masked = (p[1] & 0x80) !== 0;
        const offset = len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
        if (p.length >= offset) {
          const view = new DataView(p.buffer, p.byteOffset);
          const length = len7 === 126 ? view.getUint16(2) : len7 === 127 ? view.getUint32(6) : len7;
          const start = offset + (masked ? 4 : 0);
          if (p.length >= start + length) {
            const payload = p.slice(start, start + length);
            if (masked) applyMask(payload, p.subarray(offset, offset + 4));
            this.#pending = p.slice(start + length);
            return { fin: (p[0] & 0x80) !== 0, rsv: p[0] & 0x70, opcode: p[0] & 0x0f, masked, payload };
          }
        }
      }
      if (!(await this.#more().catch(() => false))) return null;
    }
  }

  /** The next data or close frame, answering nothing and skipping pings and pongs. */
  async dataFrame(): Promise<Frame | null> {
    while (true) {
      const frame = await this.frame();
      if (frame === null || frame.opcode < 0x9) return frame;
    }
  }
}

interface FrameOptions {
  readonly fin?: boolean;
  readonly rsv?: number;
  /** Masks the frame with these 4 bytes (what a client sends). */
  readonly mask?: number[];
  /** Forces the 64-bit length form with this upper 32-bit word. */
  readonly high?: number;
}

/** One frame as bytes (§5.2). */
function frame(
  opcode: number,
  payload: Uint8Array | number[] | string = [],
  { fin = true, rsv = 0, mask, high }: FrameOptions = {},
): Uint8Array {
  const data = typeof payload === "string" ? encoder.encode(payload) : Uint8Array.from(payload);
  const n = data.length;
  const word = (w: number) => [w >>> 24, (w >>> 16) & 0xff, (w >>> 8) & 0xff, w & 0xff];
  const length = high !== undefined || n >= 65536
    ? [127, ...word(high ?? 0), ...word(n)]
    : n < 126
    ? [n]
    : [126, n >>> 8, n & 0xff];
  if (mask) {
    length[0] |= 0x80;
    applyMask(data, Uint8Array.from(mask));
  }
  return new Uint8Array([(fin ? 0x80 : 0) | rsv | opcode, ...length, ...(mask ?? []), ...data]);
}

const closeFrame = (code: number, reason: string | number[] = "", mask?: number[]) =>
  frame(0x8, [code >> 8, code & 0xff, ...(typeof reason === "string" ? encoder.encode(reason) : reason)], {
    mask,
  });

function closeOf(f: Frame | null): { code: number; reason: string } | null {
  if (f === null || f.opcode !== 0x8) return null;
  if (f.payload.length < 2) return { code: 1005, reason: "" };
  return { code: (f.payload[0] << 8) | f.payload[1], reason: decoder.decode(f.payload.subarray(2)) };
}

/** Reads until the gateway's close frame, answers it (§5.5.1) and returns it; null at EOF. */
async function answerClose(peer: Peer): Promise<{ code: number; reason: string } | null> {
  while (true) {
    const f = await peer.reader.dataFrame();
    if (f === null) return null;
    if (f.opcode !== 0x8) continue;
    await peer.write(frame(0x8, f.payload.subarray(0, 2)));
    return closeOf(f);
  }
}

/** The backend's view of one proxied connection. */
interface Peer {
  readonly conn: Deno.Conn;
  readonly reader: FrameReader;
  /** The upgrade request head. */
  readonly request: string;
  /** Writes a 101 with the right Sec-WebSocket-Accept, `extra` header lines, then `after` in the same write. */
  accept(extra?: string, after?: Uint8Array): Promise<void>;
  write(bytes: Uint8Array): Promise<void>;
}

interface ScriptedBackend {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A raw backend: for each connection, reads the upgrade request and runs `script`; its errors fail close(). */
function scriptedBackend(script: (peer: Peer) => Promise<void>): ScriptedBackend {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const runs: Promise<void>[] = [];
  const failures: unknown[] = [];
  let closing = false;
  const serve = async (conn: Deno.Conn) => {
    const reader = new FrameReader(conn);
    try {
      const request = await reader.head();
      const key = /^sec-websocket-key: *(\S+)/im.exec(request)?.[1] ?? "";
      const write = async (bytes: Uint8Array) => {
        for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
      };
      await script({
        conn,
        reader,
        request,
        write,
        async accept(extra = "", after = new Uint8Array(0)) {
          const head = encoder.encode(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
              `Sec-WebSocket-Accept: ${await acceptFor(key)}\r\n${extra}\r\n`,
          );
          const all = new Uint8Array(head.length + after.length);
          all.set(head);
          all.set(after, head.length);
          await write(all);
        },
      });
    } catch (err) {
      // An I/O error from the harness closing the socket is expected; a failed assertion never is.
      if (!closing || err instanceof assert.AssertionError) failures.push(err);
    }
  };
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        conns.push(conn);
        runs.push(serve(conn));
      }
    } catch { /* listener closed */ }
  })();
  let done: Promise<void> | undefined;
  const close = () =>
    done ??= (async () => {
      closing = true;
      listener.close();
      await accepting;
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed by the script or the gateway */ }
      }
      await Promise.all(runs);
      if (failures.length > 0) throw failures[0];
    })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get accepted() {
      return conns.length;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** A raw client after its upgrade: the response head, and frames to read and write (masked). */
interface RawClient {
  readonly conn: Deno.Conn;
  readonly reader: FrameReader;
  readonly head: string;
  readonly status: number;
  send(opcode: number, payload?: Uint8Array | number[] | string, fin?: boolean): Promise<void>;
  /** A non-101 answer's body (by its content-length: the connection stays open). */
  body(): Promise<string>;
  close(): void;
}

async function rawClient(
  url: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<RawClient> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(new URL(url).port) });
  const all: Record<string, string> = {
    host: "127.0.0.1",
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    "sec-websocket-version": "13",
    ...headers,
  };
  const lines = Object.entries(all).filter(([, v]) => v !== "").map(([k, v]) => `${k}: ${v}\r\n`).join("");
  await conn.write(encoder.encode(`GET ${path} HTTP/1.1\r\n${lines}\r\n`));
  const reader = new FrameReader(conn);
  const head = await reader.head();
  let closedOnce = false;
  return {
    conn,
    reader,
    head,
    status: Number(head.slice(9, 12)),
    body: () => reader.rest(Number(/^content-length: *(\d+)/im.exec(head)?.[1] ?? 0)),
    async send(opcode, payload = [], fin = true) {
      await conn.write(frame(opcode, payload, { fin, mask: [0x12, 0x34, 0x56, 0x78] }));
    },
    close() {
      if (closedOnce) return;
      closedOnce = true;
      try {
        conn.close();
      } catch { /* reset by the gateway */ }
    },
  };
}

/** A metric's value in the registry's text form, or undefined. */
const metric = (text: string, name: string, labels: string) => sample(text, `${name}{${labels}}`);
const ROUTE = `route="/ws/{*rest}"`;

// ---------------------------------------------------------------------------------------------------
// The opening handshake toward the backend (§4.1): what the gateway must refuse, and what it must accept.
// ---------------------------------------------------------------------------------------------------

Deno.test("a backend's wrong handshake answer fails the upgrade with 502 and never sends a 101", async (t) => {
  const cases: Array<[string, (accept: string) => string]> = [
    ["a wrong Sec-WebSocket-Accept", () => "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n"],
    ["no Sec-WebSocket-Accept", () => ""],
    [
      "two Sec-WebSocket-Accept headers",
      (a) => `Sec-WebSocket-Accept: ${a}\r\nSec-WebSocket-Accept: ${a}\r\n`,
    ],
    ["an Upgrade to something else", (a) => `Sec-WebSocket-Accept: ${a}\r\nUpgrade: h2c\r\n`],
    ["a head over 16 KiB", (a) => `Sec-WebSocket-Accept: ${a}\r\nX-Big: ${"b".repeat(17000)}\r\n`],
  ];
  for (const [name, header] of cases) {
    await t.step(name, async () => {
      await using backend = scriptedBackend(async (peer) => {
        const key = /^sec-websocket-key: *(\S+)/im.exec(peer.request)![1];
        await peer.write(encoder.encode(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            `${header(await acceptFor(key))}\r\n`,
        ));
        await peer.reader.rest();
      });
      await using gw = startProxy({ backends: backendAt(backend.port) });
      const client = await rawClient(gw.url, "/ws/h");
      try {
        assert.equal(client.status, 502, client.head);
        assert.match(await client.body(), /answered the WebSocket handshake wrongly|handshake head over/);
      } finally {
        client.close();
      }
    });
  }
  await t.step("no Upgrade or no Connection: Upgrade", async () => {
    for (const drop of ["Upgrade: websocket\r\n", "Connection: Upgrade\r\n"]) {
      await using backend = scriptedBackend(async (peer) => {
        const key = /^sec-websocket-key: *(\S+)/im.exec(peer.request)![1];
        const head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Accept: ${await acceptFor(key)}\r\n\r\n`;
        await peer.write(encoder.encode(head.replace(drop, "")));
        await peer.reader.rest();
      });
      await using gw = startProxy({ backends: backendAt(backend.port) });
      const client = await rawClient(gw.url, "/ws/h");
      client.close();
      assert.equal(client.status, 502, `${drop.trim()} missing: ${client.head}`);
    }
  });
});

Deno.test("the upgrade request to the backend drops hop-by-hop fields and extensions, keeping end-to-end ones", async () => {
  let request = "";
  await using backend = scriptedBackend(async (peer) => {
    request = peer.request;
    await peer.accept();
    await answerClose(peer);
  });
  await using gw = startProxy({ backends: backendAt(backend.port) });
  const client = await rawClient(gw.url, "/ws/x?q=1", {
    connection: "keep-alive, Upgrade, X-Secret",
    "x-secret": "1",
    "keep-alive": "timeout=5",
    te: "trailers",
    "proxy-connection": "keep-alive",
    "sec-websocket-extensions": "permessage-deflate",
    "sec-websocket-key": "AAAAAAAAAAAAAAAAAAAAAA==",
    cookie: "a=1",
    origin: "http://o.example",
  });
  client.close();
  assert.equal(client.status, 101);
  const lines = request.split("\r\n");
  assert.equal(lines[0], "GET /x?q=1 HTTP/1.1");
  for (const gone of ["x-secret", "keep-alive", "te", "proxy-connection", "sec-websocket-extensions"]) {
    assert.ok(!lines.some((l) => l.toLowerCase().startsWith(`${gone}:`)), `${gone} is not forwarded`);
  }
  assert.ok(!request.includes("AAAAAAAAAAAAAAAAAAAAAA=="), "the gateway makes its own key");
  assert.deepEqual(lines.filter((l) => /^(upgrade|connection|cookie|origin):/i.test(l)), [
    "upgrade: websocket",
    "connection: Upgrade",
    "cookie: a=1",
    "origin: http://o.example",
  ]);
});

Deno.test("a backend's handshake with extra Connection tokens and odd case is accepted (§4.1 is case-insensitive)", async () => {
  await using backend = scriptedBackend(async (peer) => {
    const key = /^sec-websocket-key: *(\S+)/im.exec(peer.request)![1];
    await peer.write(encoder.encode(
      "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nconnection: keep-alive, UPGRADE\r\n" +
        `sec-websocket-accept: ${await acceptFor(key)}\r\nX-Extra: 1\r\n\r\n`,
    ));
    await peer.write(frame(0x1, "hello"));
    assert.equal(closeOf(await peer.reader.dataFrame())?.code, 1000);
    await peer.write(closeFrame(1000));
  });
  await using gw = startProxy({ backends: backendAt(backend.port) });
  const ws = await connect(`${gw.url}/ws/case`);
  assert.equal(await nextMessage(ws), "hello");
  await (ws.close(1000), closed(ws));
});

Deno.test("subprotocols: the backend's choice reaches the client; an unoffered choice is a 502", async (t) => {
  const chooser = (choice: string | null) =>
    scriptedBackend(async (peer) => {
      await peer.accept(choice === null ? "" : `Sec-WebSocket-Protocol: ${choice}\r\n`);
      await answerClose(peer);
    });
  const cases: Array<[string, string | undefined, string | null, number, string | null]> = [
    ["an offered protocol is chosen", "chat, superchat", "superchat", 101, "superchat"],
    ["no protocol is chosen", "chat, superchat", null, 101, null],
    ["an offer without spaces (Node's ws sends 'a,b')", "chat,superchat", "superchat", 101, "superchat"],
    ["an offer with extra spaces", "chat ,  superchat", "superchat", 101, "superchat"],
    ["a protocol the client did not offer", "chat", "superchat", 502, null],
    ["a protocol when the client offered none", undefined, "chat", 502, null],
    ["a protocol differing only in case (tokens are case-sensitive)", "chat", "Chat", 502, null],
    ["two protocols at once", "chat, superchat", "chat, superchat", 502, null],
  ];
  for (const [name, offer, choice, status, echoed] of cases) {
    await t.step(name, async () => {
      await using backend = chooser(choice);
      await using gw = startProxy({ backends: backendAt(backend.port) });
      const client = await rawClient(
        gw.url,
        "/ws/p",
        offer === undefined ? {} : { "sec-websocket-protocol": offer },
      );
      client.close();
      assert.equal(client.status, status, client.head);
      assert.equal(/^sec-websocket-protocol: *(.*)$/im.exec(client.head)?.[1] ?? null, echoed);
    });
  }
});

Deno.test("a subprotocol offer written 'a,b' opens a working connection with the backend's choice", async () => {
  await using backend = scriptedBackend(async (peer) => {
    assert.match(peer.request, /^sec-websocket-protocol: chat,superchat$/im);
    await peer.accept("Sec-WebSocket-Protocol: superchat\r\n");
    const f = (await peer.reader.dataFrame())!;
    await peer.write(frame(0x1, f.payload));
    await answerClose(peer);
  });
  await using gw = startProxy({ backends: backendAt(backend.port) });
  const client = await rawClient(gw.url, "/ws/p", { "sec-websocket-protocol": "chat,superchat" });
  try {
    assert.equal(client.status, 101);
    assert.match(client.head, /^sec-websocket-protocol: superchat$/im);
    await client.send(0x1, "over superchat");
    assert.equal(decoder.decode((await client.reader.frame())!.payload), "over superchat");
    await client.send(0x8, [0x03, 0xe8]);
    assert.equal(closeOf(await client.reader.frame())?.code, 1000);
    await eventually(() => gw.proxy.openCount === 0, "the session to end");
  } finally {
    client.close();
  }
});

Deno.test("extensions: a client's permessage-deflate offer is not forwarded, and a backend that uses one anyway is a 502", async (t) => {
  await t.step("the offer stays on the client leg, and the 101 agrees to none", async () => {
    let request = "";
    await using backend = scriptedBackend(async (peer) => {
      request = peer.request;
      await peer.accept();
      await answerClose(peer);
    });
    await using gw = startProxy({ backends: backendAt(backend.port) });
    const client = await rawClient(gw.url, "/ws/x", {
      "sec-websocket-extensions": "permessage-deflate; client_max_window_bits",
    });
    client.close();
    assert.equal(client.status, 101);
    assert.doesNotMatch(request, /sec-websocket-extensions/i);
    assert.doesNotMatch(client.head, /sec-websocket-extensions/i);
  });
  await t.step("an unrequested extension in the backend's 101", async () => {
    await using backend = scriptedBackend(async (peer) => {
      await peer.accept("Sec-WebSocket-Extensions: permessage-deflate\r\n");
      await peer.reader.rest();
    });
    await using gw = startProxy({ backends: backendAt(backend.port) });
    const client = await rawClient(gw.url, "/ws/x");
    client.close();
    assert.equal(client.status, 502);
  });
});

Deno.test("a backend that refuses the upgrade yields a 502 JSON error naming its status, without its body", async (t) => {
  for (
    const [status, text] of [[403, "Forbidden"], [401, "Unauthorized"], [200, "OK"], [302, "Found"]] as const
  ) {
    await t.step(`${status} ${text}`, async () => {
      await using backend = scriptedBackend(async (peer) => {
        await peer.write(encoder.encode(
          `HTTP/1.1 ${status} ${text}\r\ncontent-type: text/plain\r\ncontent-length: 14\r\n\r\nsecret details`,
        ));
        await peer.reader.rest();
      });
      await using gw = startProxy({ backends: backendAt(backend.port) });
      const client = await rawClient(gw.url, "/ws/r");
      try {
        assert.equal(client.status, 502);
        const body = await client.body();
        assert.match(body, new RegExp(`status ${status}`));
        assert.doesNotMatch(body, /secret details/);
      } finally {
        client.close();
      }
    });
  }
});

Deno.test("a handshake answer in 1-byte writes, with frames in the same packet as the head, is read whole", async () => {
  await using backend = scriptedBackend(async (peer) => {
    const key = /^sec-websocket-key: *(\S+)/im.exec(peer.request)![1];
    const head = encoder.encode(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        `Sec-WebSocket-Accept: ${await acceptFor(key)}\r\n\r\n`,
    );
    for (const byte of head) await peer.write(Uint8Array.of(byte));
    await peer.write(new Uint8Array([...frame(0x1, "one"), ...frame(0x2, [1, 2, 3])]));
    assert.equal(closeOf(await peer.reader.dataFrame())?.code, 1000);
    await peer.write(closeFrame(1000));
  });
  await using gw = startProxy({ backends: backendAt(backend.port) });
  const ws = new WebSocket(`${gw.url}/ws/slow`);
  ws.binaryType = "arraybuffer";
  const got: unknown[] = [];
  ws.onmessage = (e) => got.push(typeof e.data === "string" ? e.data : [...new Uint8Array(e.data)]);
  await new Promise((resolve) => ws.onopen = resolve);
  await eventually(() => got.length === 2, "both messages");
  assert.deepEqual(got, ["one", [1, 2, 3]]);
  await (ws.close(1000), closed(ws));
});

Deno.test("a backend that never answers the handshake is a 504 after connect_timeout_ms", async () => {
  await using backend = scriptedBackend((peer) => peer.reader.rest().then(() => {}));
  await using gw = startProxy({ backends: backendAt(backend.port), connect_timeout_ms: 200 });
  const started = Date.now();
  const client = await rawClient(gw.url, "/ws/hang");
  client.close();
  assert.equal(client.status, 504);
  assert.ok(Date.now() - started < 2000);
});

// ---------------------------------------------------------------------------------------------------
// Frames from the backend (§5): every violation fails the backend leg with the right code, and the client
// gets 1011 without any part of the offending message.
// ---------------------------------------------------------------------------------------------------

/**
 * Runs one proxied connection against a backend that sends "ready", then `bytes`, then reports the
 * gateway's answer: the close frame it sent (or null) and what the client received.
 */
async function backendSends(bytes: Uint8Array, websocket: Record<string, unknown> = {}) {
  let answer: { code: number; reason: string } | null = null;
  let dataAfterClose = false;
  await using backend = scriptedBackend(async (peer) => {
    await peer.accept("", frame(0x1, "ready"));
    await peer.write(bytes);
    while (true) {
      const f = await peer.reader.frame();
      if (f === null) break;
      if (answer !== null && f.opcode < 0x8) dataAfterClose = true;
      if (f.opcode === 0x8 && answer === null) {
        answer = closeOf(f);
        // Answer, and then keep reading: nothing but silence may follow our close (§5.5.1).
        await peer.write(frame(0x8, f.payload.subarray(0, 2)));
        setTimeout(() => peer.conn.close(), 40);
      }
    }
  });
  await using gw = startProxy({
    backends: backendAt(backend.port),
    websocket: { ping_interval_ms: 0, ...websocket },
  });
  const ws = await connect(`${gw.url}/ws/f`);
  const got: unknown[] = [];
  ws.onmessage = (e) => got.push(typeof e.data === "string" ? e.data : [...new Uint8Array(e.data)]);
  const client = await closed(ws);
  await eventually(() => gw.proxy.openCount === 0, "the session to end");
  await backend.close();
  return { answer: answer as { code: number; reason: string } | null, client, got, dataAfterClose, gw };
}

Deno.test("frames a server must not send fail the backend leg with 1002, 1007 or 1009 and the client with 1011", async (t) => {
  const big = new Uint8Array(126);
  const cases: Array<[string, Uint8Array, number]> = [
    ["a masked frame (§5.1)", frame(0x1, "x", { mask: [1, 2, 3, 4] }), 1002],
    ["RSV1 without an extension (§5.2)", frame(0x1, "x", { rsv: 0x40 }), 1002],
    ["RSV2", frame(0x2, "x", { rsv: 0x20 }), 1002],
    ["RSV3 on a ping", frame(0x9, "x", { rsv: 0x10 }), 1002],
    ["reserved data opcode 0x3", frame(0x3, "x"), 1002],
    ["reserved data opcode 0x7", frame(0x7, "x"), 1002],
    ["reserved control opcode 0xB", frame(0xb, "x"), 1002],
    ["reserved control opcode 0xF", frame(0xf, []), 1002],
    ["a fragmented ping (§5.5)", frame(0x9, "x", { fin: false }), 1002],
    ["a ping of 126 bytes", frame(0x9, big), 1002],
    ["a pong of 126 bytes", frame(0xa, big), 1002],
    ["a close of 126 bytes", frame(0x8, [0x03, 0xe8, ...big.subarray(2)]), 1002],
    [
      "a new text message inside a fragmented one (§5.4)",
      new Uint8Array([...frame(0x1, "a", { fin: false }), ...frame(0x1, "b")]),
      1002,
    ],
    [
      "a binary message inside a fragmented text",
      new Uint8Array([...frame(0x1, "a", { fin: false }), ...frame(0x2, "b")]),
      1002,
    ],
    ["a continuation without a message", frame(0x0, "x"), 1002],
    ["invalid UTF-8 in a text message (§8.1)", frame(0x1, [0xc3, 0x28]), 1007],
    ["an overlong UTF-8 encoding", frame(0x1, [0xc0, 0xaf]), 1007],
    ["a UTF-16 surrogate in UTF-8", frame(0x1, [0xed, 0xa0, 0x80]), 1007],
    ["a code point above U+10FFFF", frame(0x1, [0xf4, 0x90, 0x80, 0x80]), 1007],
    [
      "a truncated character at the end of fragments",
      new Uint8Array([...frame(0x1, [0x61], { fin: false }), ...frame(0x0, [0xe2, 0x82])]),
      1007,
    ],
    ["invalid UTF-8 in a close reason (§7.1.6)", closeFrame(1000, [0xff, 0xfe]), 1007],
    ["a one-byte close payload (§5.5.1)", frame(0x8, [0x03]), 1002],
    ["a 64-bit length with the most significant bit set (§5.2)", frame(0x2, [], { high: 0x80000000 }), 1002],
  ];
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]) {
    cases.push([`close code ${code} (§7.4)`, closeFrame(code, "x"), 1002]);
  }
  for (const [name, bytes, code] of cases) {
    await t.step(name, async () => {
      const { answer, client, got, dataAfterClose } = await backendSends(bytes);
      assert.equal(answer?.code, code, JSON.stringify(answer));
      assert.equal(client.code, 1011);
      assert.match(client.reason, /^backend: /);
      assert.deepEqual(got, ["ready"], "nothing of the offending message reaches the client");
      assert.equal(dataAfterClose, false);
    });
  }
});

Deno.test("a backend message over max_message_bytes is refused with 1009 from its frame header", async (t) => {
  const cases: Array<[string, Uint8Array]> = [
    ["one frame", frame(0x2, new Uint8Array(1025))],
    [
      "fragments adding up",
      new Uint8Array([
        ...frame(0x2, new Uint8Array(600), { fin: false }),
        ...frame(0x0, new Uint8Array(600)),
      ]),
    ],
    ["a 64-bit length of 2^32 bytes, before any payload", frame(0x2, [], { high: 1 })],
    [
      "a 32-bit length of 4 GiB - 1, before any payload",
      Uint8Array.of(0x81, 127, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff),
    ],
  ];
  for (const [name, bytes] of cases) {
    await t.step(name, async () => {
      const { answer, client, got, gw } = await backendSends(bytes, { max_message_bytes: 1024 });
      assert.equal(answer?.code, 1009);
      assert.equal(client.code, 1011);
      assert.deepEqual(got, ["ready"]);
      const text = gw.registry.render();
      assert.equal(metric(text, "kairos_websocket_closes_total", `${ROUTE},code="1011"`), 1);
      assert.equal(
        metric(text, "kairos_websocket_messages_total", `${ROUTE},direction="backend_to_client"`),
        1,
      );
    });
  }
  await t.step("exactly max_message_bytes passes", async () => {
    await using backend = scriptedBackend(async (peer) => {
      await peer.accept("", frame(0x2, new Uint8Array(1024).fill(7)));
      await answerClose(peer);
    });
    await using gw = startProxy({
      backends: backendAt(backend.port),
      websocket: { max_message_bytes: 1024 },
    });
    const ws = await connect(`${gw.url}/ws/f`);
    assert.equal(((await nextMessage(ws)) as ArrayBuffer).byteLength, 1024);
    await (ws.close(1000), closed(ws));
  });
});

Deno.test("valid backend framing passes: fragments with control frames between them, empty messages, split UTF-8", async () => {
  const pingData = new Uint8Array(125).map((_, i) => i);
  let pong: Frame | null = null;
  await using backend = scriptedBackend(async (peer) => {
    const text = encoder.encode("héllo €");
    await peer.accept(
      "",
      new Uint8Array([
        ...frame(0x1, text.subarray(0, 2), { fin: false }), // splits "é"
        ...frame(0x9, pingData),
        ...frame(0x0, text.subarray(2, 8), { fin: false }), // splits "€"
        ...frame(0xa, "unsolicited"),
        ...frame(0x0, [], { fin: false }),
        ...frame(0x0, text.subarray(8)),
        ...frame(0x1, ""),
        ...frame(0x2, []),
        ...frame(0x2, [], { fin: false }),
        ...frame(0x0, [9]),
        // Non-minimal lengths (§5.2 asks senders for minimal ones; receivers need not refuse them).
        0x81,
        126,
        0,
        2,
        0x6f,
        0x6b,
        ...frame(0x1, "ok", { high: 0 }),
      ]),
    );
    pong = await peer.reader.frame();
    await answerClose(peer);
  });
  await using gw = startProxy({ backends: backendAt(backend.port) });
  const ws = await connect(`${gw.url}/ws/v`);
  const got: unknown[] = [];
  ws.onmessage = (e) => got.push(typeof e.data === "string" ? e.data : [...new Uint8Array(e.data)]);
  await eventually(() => got.length === 6, "six messages");
  assert.deepEqual(got, ["héllo €", "", [], [9], "ok", "ok"]);
  await eventually(() => pong !== null, "the pong");
  assert.equal(pong!.opcode, 0xa);
  assert.equal(pong!.masked, true, "frames from the gateway to a server are masked (§5.3)");
  assert.deepEqual(pong!.payload, pingData, "a pong carries the ping's data (§5.5.3)");
  await (ws.close(1000), closed(ws));
});

// ---------------------------------------------------------------------------------------------------
// Closing handshakes (§7), both directions, with misbehaving peers.
// ---------------------------------------------------------------------------------------------------

Deno.test("after failing a backend, the gateway sends it nothing more: no client message, no ping (§5.5.1)", async () => {
  const frames: string[] = [];
  await using backend = scriptedBackend(async (peer) => {
    await peer.accept("", frame(0x1, "ready"));
    await delay(100);
    await peer.write(frame(0x1, [0xff]));
    // Read what follows without answering the close, as a slow backend would, then hang up.
    const stop = setTimeout(() => peer.conn.close(), 400);
    let closedAt = false;
    for (let f = await peer.reader.frame(); f !== null; f = await peer.reader.frame()) {
      frames.push(`${closedAt ? "after" : "before"} close: opcode ${f.opcode}`);
      if (f.opcode === 0x8) closedAt = true;
    }
    clearTimeout(stop);
  });
  await using gw = startProxy({ backends: backendAt(backend.port), websocket: { ping_interval_ms: 100 } });
  const ws = await connect(`${gw.url}/ws/late`);
  const sending = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send("late"), 10);
  const client = await closed(ws);
  clearInterval(sending);
  assert.equal(client.code, 1011);
  assert.deepEqual(frames.filter((f) => f.startsWith("after")), [], frames.join("\n"));
  assert.ok(frames.includes("before close: opcode 8"));
});

Deno.test("a client's close reaches the backend masked with its code and reason; the session ends on the reply", async () => {
  let seen: Frame | null = null;
  let eof = false;
  await using backend = scriptedBackend(async (peer) => {
    await peer.accept();
    seen = await peer.reader.dataFrame();
    await peer.write(frame(0x8, seen!.payload));
    eof = (await peer.reader.frame()) === null;
  });
  await using gw = startProxy({ backends: backendAt(backend.port) });
  const ws = await connect(`${gw.url}/ws/c`);
  const done = closed(ws);
  ws.close(4321, "héllo bye");
  assert.deepEqual(await done, { code: 4321, reason: "héllo bye" });
  await eventually(() => gw.proxy.openCount === 0, "the session to end");
  assert.equal(seen!.masked, true);
  assert.deepEqual(closeOf(seen), { code: 4321, reason: "héllo bye" });
  await eventually(() => eof, "the backend connection to be closed");
});

Deno.test("a client's close to a backend that never answers drops the backend after the close timeout", async () => {
  let eof = false;
  await using backend = scriptedBackend(async (peer) => {
    await peer.accept();
    assert.equal(closeOf(await peer.reader.dataFrame())?.code, 1000);
    eof = (await peer.reader.frame()) === null; // never answered
  });
  await using gw = startProxy({ backends: backendAt(backend.port) });
  const ws = await connect(`${gw.url}/ws/half`);
  const started = Date.now();
  await (ws.close(1000), closed(ws));
  await eventually(() => gw.proxy.openCount === 0, "the session to end", 4000);
  assert.ok(eof);
  assert.ok(Date.now() - started >= 1500, "the backend had time to answer");
});

Deno.test("a backend's close reaches the client; a client that never answers it is dropped after the close timeout", async () => {
  let backendGot: { code: number; reason: string } | null = null;
  await using backend = scriptedBackend(async (peer) => {
    await peer.accept("", closeFrame(4001, "bye"));
    backendGot = closeOf(await peer.reader.frame());
    await peer.reader.frame();
  });
  await using gw = startProxy({ backends: backendAt(backend.port) });
  const client = await rawClient(gw.url, "/ws/c");
  try {
    assert.deepEqual(closeOf(await client.reader.frame()), { code: 4001, reason: "bye" });
    assert.deepEqual(backendGot, { code: 4001, reason: "bye" }, "the backend's close is echoed at once");
    // The client keeps its TCP connection open and never answers.
    await eventually(() => gw.proxy.openCount === 0, "the session to end", 4000);
    const text = gw.registry.render();
    assert.equal(metric(text, "kairos_websocket_connections_open", ROUTE), 0);
    assert.equal(metric(text, "kairos_websocket_closes_total", `${ROUTE},code="4001"`), 1);
  } finally {
    client.close();
  }
});

Deno.test("a backend's close passes its code and reason to the client, mapped only where the client leg cannot carry it", async (t) => {
  const reason123 = "é".repeat(61) + "x"; // 123 bytes: the most a close frame holds
  const cases: Array<[string, Uint8Array, number, string]> = [
    ["1000 with a reason", closeFrame(1000, "done"), 1000, "done"],
    ["1001", closeFrame(1001, "away"), 1001, "away"],
    ["1003", closeFrame(1003, ""), 1003, ""],
    ["1008", closeFrame(1008, "policy"), 1008, "policy"],
    ["1011", closeFrame(1011, "oops"), 1011, "oops"],
    ["1012", closeFrame(1012, "restart"), 1012, "restart"],
    ["1013", closeFrame(1013, "later"), 1013, "later"],
    ["3000", closeFrame(3000, "x"), 3000, "x"],
    ["4999 with a 123-byte reason", closeFrame(4999, reason123), 4999, reason123],
    ["1014, which the client leg cannot send, as 1011", closeFrame(1014, "gw"), 1011, "gw"],
    ["an empty close as no code (1005)", frame(0x8, []), 1005, ""],
  ];
  for (const [name, bytes, code, reason] of cases) {
    await t.step(name, async () => {
      await using backend = scriptedBackend(async (peer) => {
        await peer.accept("", bytes);
        await peer.reader.frame();
      });
      await using gw = startProxy({ backends: backendAt(backend.port) });
      const ws = await connect(`${gw.url}/ws/codes`);
      assert.deepEqual(await closed(ws), { code, reason });
    });
  }
});

Deno.test("a backend's data after its close frame never reaches the client", async () => {
  await using backend = scriptedBackend(async (peer) => {
    await peer.accept(
      "",
      new Uint8Array([...frame(0x1, "before"), ...closeFrame(1000), ...frame(0x1, "after")]),
    );
    await peer.reader.frame();
  });
  await using gw = startProxy({ backends: backendAt(backend.port) });
  const ws = new WebSocket(`${gw.url}/ws/after`);
  const got: unknown[] = [];
  ws.onmessage = (e) => got.push(e.data);
  assert.equal((await closed(ws)).code, 1000);
  assert.deepEqual(got, ["before"]);
});

// ---------------------------------------------------------------------------------------------------
// Peers that vanish, stall or go quiet.
// ---------------------------------------------------------------------------------------------------

Deno.test("a backend dying mid-message closes the client with 1011 and delivers no partial message", async (t) => {
  const cases: Array<[string, Uint8Array]> = [
    ["after a first fragment", frame(0x1, "part", { fin: false })],
    ["inside a frame header", Uint8Array.of(0x82, 127, 0, 0)],
    ["inside a payload", frame(0x2, new Uint8Array(1000)).subarray(0, 500)],
  ];
  for (const [name, bytes] of cases) {
    await t.step(name, async () => {
      await using backend = scriptedBackend(async (peer) => {
        await peer.accept("", frame(0x1, "whole"));
        await delay(20);
        await peer.write(bytes);
        peer.conn.close();
      });
      await using gw = startProxy({ backends: backendAt(backend.port) });
      const ws = await connect(`${gw.url}/ws/die`);
      const got: unknown[] = [];
      ws.onmessage = (e) => got.push(e.data);
      assert.deepEqual(await closed(ws), { code: 1011, reason: "backend connection lost" });
      assert.deepEqual(got, ["whole"]);
    });
  }
});

Deno.test("a client that vanishes without a close frame makes the gateway close the backend with 1001", async () => {
  let backendGot: { code: number; reason: string } | null = null;
  await using backend = scriptedBackend(async (peer) => {
    await peer.accept();
    backendGot = await answerClose(peer);
  });
  await using gw = startProxy({ backends: backendAt(backend.port) });
  const client = await rawClient(gw.url, "/ws/gone");
  await client.send(0x1, "hi");
  client.close();
  await eventually(() => gw.proxy.openCount === 0, "the session to end");
  assert.equal(backendGot!.code, 1001);
  const logged = gw.lines.map((l) => JSON.parse(l)).find((l) => l.msg === "websocket closed");
  assert.equal(logged.close_code, 1006, "an abnormal end is logged as 1006, not 0");
  assert.equal(metric(gw.registry.render(), "kairos_websocket_closes_total", `${ROUTE},code="1006"`), 1);
});

Deno.test("a client breaking the protocol ends the session, and the backend gets a close frame", async (t) => {
  const cases: Array<[string, Uint8Array]> = [
    ["invalid UTF-8 in a text message", frame(0x1, [0xc3, 0x28], { mask: [1, 2, 3, 4] })],
    ["reserved bits", frame(0x1, "x", { rsv: 0x40, mask: [1, 2, 3, 4] })],
    ["close code 1005 on the wire", closeFrame(1005, "", [1, 2, 3, 4])],
  ];
  for (const [name, bytes] of cases) {
    await t.step(name, async () => {
      let backendGot: { code: number; reason: string } | null = null;
      await using backend = scriptedBackend(async (peer) => {
        await peer.accept();
        backendGot = await answerClose(peer);
      });
      await using gw = startProxy({ backends: backendAt(backend.port) });
      const client = await rawClient(gw.url, "/ws/bad");
      try {
        await client.conn.write(bytes);
        await eventually(() => gw.proxy.openCount === 0, "the session to end");
        assert.equal(backendGot!.code, 1001);
      } finally {
        client.close();
      }
    });
  }
});

Deno.test("a quiet connection whose peers answer pings is kept open; the backend is pinged and the client ping answered", async () => {
  let pings = 0;
  await using backend = scriptedBackend(async (peer) => {
    await peer.accept();
    for (let f = await peer.reader.frame(); f !== null; f = await peer.reader.frame()) {
      if (f.opcode === 0x9) {
        pings++;
        await peer.write(frame(0xa, f.payload));
      } else if (f.opcode === 0x8) {
        await peer.write(frame(0x8, f.payload));
        break;
      }
    }
  });
  await using gw = startProxy({ backends: backendAt(backend.port), websocket: { ping_interval_ms: 150 } });
  const client = await rawClient(gw.url, "/ws/quiet");
  try {
    // The client answers the gateway's pings too (Deno pings it after ping_interval_ms of silence).
    let clientPinged = 0;
    const until = Date.now() + 1000;
    await client.send(0x9, "are you there");
    let next = client.reader.frame();
    while (Date.now() < until) {
      const f = await Promise.race([next, delay(until - Date.now()).then(() => undefined)]);
      if (f === undefined) break;
      next = client.reader.frame();
      assert.ok(f !== null && f.opcode !== 0x8, "the connection stays open");
      if (f.opcode === 0x9) {
        clientPinged++;
        await client.send(0xa, f.payload);
      } else assert.deepEqual([f.opcode, decoder.decode(f.payload)], [0xa, "are you there"]);
    }
    assert.equal(gw.proxy.openCount, 1);
    assert.ok(pings >= 2, `backend pinged ${pings} times`);
    assert.ok(clientPinged >= 2, `client pinged ${clientPinged} times`);
    await client.send(0x8, [0x03, 0xe8]);
    for (let f = await next; f !== null; f = await client.reader.frame()) {
      if (f.opcode === 0x8) {
        assert.equal(closeOf(f)?.code, 1000);
        break;
      }
    }
    await eventually(() => gw.proxy.openCount === 0, "the session to end");
  } finally {
    client.close();
  }
});

Deno.test("a half-open backend (connected, silent, not answering pings) is dropped with 1011", async () => {
  await using backend = scriptedBackend(async (peer) => {
    await peer.accept();
    await peer.reader.rest();
  });
  await using gw = startProxy({ backends: backendAt(backend.port), websocket: { ping_interval_ms: 150 } });
  const ws = await connect(`${gw.url}/ws/half`);
  const started = Date.now();
  assert.deepEqual(await closed(ws), { code: 1011, reason: "backend stopped responding" });
  assert.ok(Date.now() - started < 1500);
  await eventually(() => gw.proxy.openCount === 0, "the session to end");
});

// ---------------------------------------------------------------------------------------------------
// Sizes, backpressure, many sessions, metrics.
// ---------------------------------------------------------------------------------------------------

Deno.test("client messages at each length boundary reach the backend masked and intact (§5.2, §5.3)", async () => {
  const sizes = [0, 125, 126, 16383, 16384, 65535, 65536, 200_000];
  const seen: Frame[] = [];
  await using backend = scriptedBackend(async (peer) => {
    await peer.accept();
    while (seen.length < sizes.length) seen.push((await peer.reader.dataFrame())!);
    await answerClose(peer);
  });
  await using gw = startProxy({ backends: backendAt(backend.port) });
  const ws = await connect(`${gw.url}/ws/sizes`);
  for (const size of sizes) ws.send(new Uint8Array(size).map((_, i) => i * 7));
  await eventually(() => seen.length === sizes.length, "every message");
  for (const [i, size] of sizes.entries()) {
    assert.equal(seen[i].masked, true);
    assert.equal(seen[i].opcode, 0x2);
    assert.deepEqual(seen[i].payload, new Uint8Array(size).map((_, j) => j * 7), `${size} bytes`);
  }
  await (ws.close(1000), closed(ws));
});

Deno.test("a client message over max_message_bytes closes the client with 1009 and the backend with 1001", async (t) => {
  const cases: Array<[string, string | Uint8Array, boolean]> = [
    ["binary at the limit", new Uint8Array(1024), true],
    ["binary one byte over", new Uint8Array(1025), false],
    ["text of 512 two-byte characters (1024 bytes)", "é".repeat(512), true],
    ["text of 513 two-byte characters (1026 bytes)", "é".repeat(513), false],
  ];
  for (const [name, message, passes] of cases) {
    await t.step(name, async () => {
      let backendGot: { code: number; reason: string } | null = null;
      await using backend = scriptedBackend(async (peer) => {
        await peer.accept();
        backendGot = await answerClose(peer);
      });
      await using gw = startProxy({
        backends: backendAt(backend.port),
        websocket: { max_message_bytes: 1024 },
      });
      const ws = await connect(`${gw.url}/ws/big`);
      const done = closed(ws);
      ws.send(message);
      if (passes) {
        await delay(50);
        ws.close(1000);
        assert.equal((await done).code, 1000);
        await eventually(() => backendGot !== null, "the backend's close");
        assert.equal(backendGot!.code, 1000);
      } else {
        assert.deepEqual(await done, { code: 1009, reason: "message too big" });
        await eventually(() => backendGot !== null, "the backend's close");
        assert.equal(backendGot!.code, 1001);
      }
    });
  }
});

Deno.test("a backend flooding small messages to a client that does not read is held back by TCP, not buffered", async () => {
  let written = 0;
  let stop = false;
  await using backend = scriptedBackend(async (peer) => {
    await peer.accept();
    const burst = new Uint8Array(
      Array.from({ length: 64 }, () => [...frame(0x2, new Uint8Array(4096))]).flat(),
    );
    while (!stop) {
      await peer.write(burst);
      written += burst.length;
    }
    await answerClose(peer);
  });
  await using gw = startProxy({
    backends: backendAt(backend.port),
    websocket: { max_buffered_bytes: MIB, ping_interval_ms: 0 },
  });
  const client = await rawClient(gw.url, "/ws/slow");
  try {
    // Wait until the backend's writes stall: everything in between is socket buffers plus the gateway's share.
    let last = -1;
    for (let i = 0; i < 40 && written !== last; i++) {
      last = written;
      await delay(100);
    }
    assert.equal(written, last, "the backend's writes stall");
    assert.ok(written < 32 * MIB, `the backend got ${(written / MIB).toFixed(1)} MiB out`);
    assert.equal(gw.proxy.openCount, 1);
  } finally {
    stop = true;
    client.close();
  }
  await eventually(() => gw.proxy.openCount === 0, "the session to end");
});

Deno.test("64 concurrent sessions relay in order, end cleanly and leave the metrics at zero open", async () => {
  await using echo = echoBackend();
  await using gw = startProxy({ backends: backendAt(echo.port) });
  const sessions = await Promise.all(Array.from({ length: 64 }, () => connect(`${gw.url}/ws/many`)));
  assert.equal(gw.proxy.openCount, 64);
  await Promise.all(sessions.map(async (ws, i) => {
    const got: unknown[] = [];
    ws.onmessage = (e) => got.push(e.data);
    for (let m = 0; m < 10; m++) ws.send(`${i}:${m}`);
    await eventually(() => got.length === 10, `session ${i}'s echoes`);
    assert.deepEqual(got, Array.from({ length: 10 }, (_, m) => `${i}:${m}`));
    const done = closed(ws);
    ws.close(1000);
    await done;
  }));
  await eventually(() => gw.proxy.openCount === 0, "every session to end");
  await eventually(
    () => echo.sockets.every((s) => s.readyState === WebSocket.CLOSED),
    "every backend socket",
  );
  const text = gw.registry.render();
  assert.equal(metric(text, "kairos_websocket_connections_open", ROUTE), 0);
  assert.equal(metric(text, "kairos_websocket_upgrades_total", ROUTE), 64);
  assert.equal(metric(text, "kairos_websocket_closes_total", `${ROUTE},code="1000"`), 64);
  assert.equal(
    metric(text, "kairos_websocket_messages_total", `${ROUTE},direction="client_to_backend"`),
    640,
  );
  assert.equal(
    metric(text, "kairos_websocket_messages_total", `${ROUTE},direction="backend_to_client"`),
    640,
  );
});
