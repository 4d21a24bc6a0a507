import assert from "node:assert/strict";
import { acceptFor, backendHandshake } from "../../../src/protocols/websocket/backend_handshake.ts";
import { UpstreamError } from "../../../src/upstream/client.ts";

const decoder = new TextDecoder();

/**
 * Runs one handshake against a raw server whose answer `reply` builds from the request's key
 * (null: it never answers). Returns the outcome and the request head the server received.
 */
async function handshake(
  reply: (accept: string) => string | null,
  options: { protocols?: string | null; headers?: HeadersInit; timeoutMs?: number; hangUp?: boolean } = {},
) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let requestHead = "";
  let serverConn: Deno.Conn | undefined;
  const serving = (async () => {
    serverConn = await listener.accept();
    const buffer = new Uint8Array(8192);
    requestHead = decoder.decode(buffer.subarray(0, (await serverConn.read(buffer)) ?? 0));
    const key = /sec-websocket-key: (\S+)/.exec(requestHead)?.[1] ?? "";
    const answer = reply(await acceptFor(key));
    // Latin-1: one byte per character, so frame bytes can follow the head.
    if (answer !== null) await serverConn.write(Uint8Array.from(answer, (c) => c.charCodeAt(0)));
    if (options.hangUp) {
      serverConn.close();
      serverConn = undefined;
    }
  })();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: (listener.addr as Deno.NetAddr).port });
  try {
    const result = await backendHandshake(conn, "http://backend.test", {
      path: "/chat?room=1",
      host: "backend.test:8080",
      headers: new Headers(options.headers ?? {}),
      protocols: options.protocols ?? null,
    }, options.timeoutMs ?? 2000).catch((err: unknown) => err);
    await serving;
    return { result, requestHead };
  } finally {
    try {
      conn.close();
    } catch { /* closed by a timeout */ }
    serverConn?.close();
    listener.close();
  }
}

const ok = (accept: string, extra = "") =>
  `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n${extra}\r\n`;

Deno.test("backendHandshake() sends an RFC 6455 §4.1 request with the forwarded headers", async () => {
  const { result, requestHead } = await handshake((accept) => ok(accept) + "\x81\x02hi", {
    protocols: "a, b",
    headers: {
      cookie: "s=1",
      "x-request-id": "r1",
      host: "client.test",
      "sec-websocket-extensions": "permessage-deflate",
      "sec-websocket-key": "client-key",
    },
  });
  assert.deepEqual(result, { accepted: true, protocol: "", leftover: new Uint8Array([0x81, 2, 104, 105]) });
  const lines = requestHead.split("\r\n");
  assert.equal(lines[0], "GET /chat?room=1 HTTP/1.1");
  assert.ok(lines.includes("host: backend.test:8080"));
  assert.ok(lines.includes("upgrade: websocket"));
  assert.ok(lines.includes("connection: Upgrade"));
  assert.ok(lines.includes("sec-websocket-version: 13"));
  assert.ok(lines.includes("sec-websocket-protocol: a, b"));
  assert.ok(lines.includes("cookie: s=1"));
  assert.ok(lines.includes("x-request-id: r1"));
  assert.ok(!requestHead.includes("client.test"), "the client's Host is replaced");
  assert.ok(!requestHead.includes("permessage-deflate"), "extensions are not offered");
  assert.ok(!requestHead.includes("client-key"), "the gateway makes its own key");
  assert.match(requestHead, /sec-websocket-key: [A-Za-z0-9+/]{22}==\r\n/);
  assert.ok(requestHead.endsWith("\r\n\r\n"));
});

Deno.test("backendHandshake() returns the backend's subprotocol and a refusal's status", async (t) => {
  await t.step("the chosen subprotocol", async () => {
    const { result } = await handshake((accept) => ok(accept, "Sec-WebSocket-Protocol: b\r\n"), {
      protocols: "a, b",
    });
    assert.equal((result as { protocol: string }).protocol, "b");
  });
  await t.step("a refusal", async () => {
    const { result } = await handshake(() => "HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
    assert.deepEqual(result, { accepted: false, status: 403 });
  });
});

Deno.test("backendHandshake() rejects a wrong answer, a hang and a drop with UpstreamError", async (t) => {
  type Options = { protocols?: string; hangUp?: boolean };
  const cases: Array<[string, (accept: string) => string | null, string, RegExp, Options?]> = [
    ["a wrong accept", () => ok("AAAAAAAAAAAAAAAAAAAAAAAAAAA="), "protocol", /Sec-WebSocket-Accept/],
    ["an unoffered subprotocol", (a) => ok(a, "Sec-WebSocket-Protocol: c\r\n"), "protocol", /not offered/, {
      protocols: "a, b",
    }],
    [
      "an extension",
      (a) => ok(a, "Sec-WebSocket-Extensions: permessage-deflate\r\n"),
      "protocol",
      /extension/,
    ],
    ["no Upgrade header", (a) => ok(a).replace("Upgrade: websocket\r\n", ""), "protocol", /Upgrade/],
    ["garbage", () => "SSH-2.0-OpenSSH\r\n\r\n", "protocol", /status line/],
    ["a hang", () => null, "timeout", /within 150 ms/],
    ["a drop", () => "HTTP/1.1 101 Switching", "reset", /closed the connection/, { hangUp: true }],
  ];
  for (const [name, reply, kind, message, options] of cases) {
    await t.step(name, async () => {
      const { result } = await handshake(reply, { timeoutMs: 150, ...options });
      assert.ok(result instanceof UpstreamError, String(result));
      assert.equal(result.kind, kind);
      assert.match(result.message, message);
    });
  }
});
