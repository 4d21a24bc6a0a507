/**
 * createWebSocketProxy() behind the real request handler, in process: shutdown, metrics, the log line,
 * idle timeout, backend pings, both directions of backpressure, the access_token query and the Origin check.
 */
import assert from "node:assert/strict";
import {
  closed,
  connect,
  echoBackend,
  eventually,
  MIB,
  nextMessage,
  stalledBackend,
  startProxy,
} from "./proxy_fixture.ts";
import { acceptFor } from "../../../src/protocols/websocket/backend_handshake.ts";

const backendAt = (port: number) => [{ host: "ws://127.0.0.1", port }];

Deno.test("closeAll() closes both legs with the given code and resolves once they are closed", async () => {
  await using echo = echoBackend();
  await using gw = startProxy({ backends: backendAt(echo.port) });
  const ws = await connect(`${gw.url}/ws/a`);
  assert.equal(await (ws.send("up"), nextMessage(ws)), "up");
  const clientSaw = closed(ws);
  const backendSaw = echo.nextClose();
  assert.equal(gw.proxy.openCount, 1);
  await gw.proxy.closeAll(1001, "going down");
  assert.equal(gw.proxy.openCount, 0);
  assert.deepEqual(await clientSaw, { code: 1001, reason: "going down" });
  assert.deepEqual(await backendSaw, { code: 1001, reason: "going down" });
});

Deno.test("metrics count open connections, messages and bytes each way and closes by code; one log line", async () => {
  await using echo = echoBackend();
  await using gw = startProxy({ backends: backendAt(echo.port) });
  const series = (name: string) => new RegExp(`^${name} (\\d+)$`, "m").exec(gw.registry.render())?.[1];
  const ws = await connect(`${gw.url}/ws/m`);
  assert.equal(series(`kairos_websocket_connections_open\\{route="/ws/\\{\\*rest\\}"\\}`), "1");
  assert.equal(await (ws.send("héllo"), nextMessage(ws)), "héllo");
  await (ws.send(new Uint8Array(10)), nextMessage(ws));
  const clientSaw = closed(ws);
  ws.close(4000, "done");
  await clientSaw;
  await eventually(() => gw.proxy.openCount === 0, "the session to end");
  const route = `route="/ws/\\{\\*rest\\}"`;
  assert.equal(series(`kairos_websocket_connections_open\\{${route}\\}`), "0");
  assert.equal(series(`kairos_websocket_upgrades_total\\{${route}\\}`), "1");
  assert.equal(series(`kairos_websocket_messages_total\\{${route},direction="client_to_backend"\\}`), "2");
  assert.equal(series(`kairos_websocket_messages_total\\{${route},direction="backend_to_client"\\}`), "2");
  assert.equal(series(`kairos_websocket_bytes_total\\{${route},direction="client_to_backend"\\}`), "16");
  assert.equal(series(`kairos_websocket_bytes_total\\{${route},direction="backend_to_client"\\}`), "16");
  assert.equal(series(`kairos_websocket_closes_total\\{${route},code="4000"\\}`), "1");
  const logged = gw.lines.map((line) => JSON.parse(line)).filter((line) => line.msg === "websocket closed");
  assert.equal(logged.length, 1);
  assert.deepEqual(
    [logged[0].messages_in, logged[0].bytes_out, logged[0].close_code, logged[0].closed_by],
    [2, 16, 4000, "client"],
  );
  assert.equal(typeof logged[0].duration_ms, "number");
});

Deno.test("a backend message over max_message_bytes closes the backend with 1009 and the client with 1011", async () => {
  await using echo = echoBackend();
  await using gw = startProxy({ backends: backendAt(echo.port), websocket: { max_message_bytes: 1024 } });
  const ws = await connect(`${gw.url}/ws/big`);
  const clientSaw = closed(ws);
  const backendSaw = echo.nextClose();
  ws.send("flood:1");
  assert.deepEqual(await clientSaw, { code: 1011, reason: "backend: message of more than 1024 bytes" });
  assert.equal((await backendSaw).code, 1009);
});

Deno.test("idle_timeout_ms closes a connection without messages with 1001 on both legs", async () => {
  await using echo = echoBackend();
  await using gw = startProxy({
    backends: backendAt(echo.port),
    websocket: { idle_timeout_ms: 300, ping_interval_ms: 0 },
  });
  const ws = await connect(`${gw.url}/ws/idle`);
  const clientSaw = closed(ws);
  const backendSaw = echo.nextClose();
  assert.deepEqual(await clientSaw, { code: 1001, reason: "idle timeout" });
  assert.equal((await backendSaw).code, 1001);
});

Deno.test("a backend that stops answering pings is dropped and the client gets 1011", async () => {
  const stalled = stalledBackend();
  try {
    await using gw = startProxy({ backends: backendAt(stalled.port), websocket: { ping_interval_ms: 200 } });
    const ws = await connect(`${gw.url}/ws/ping`);
    assert.deepEqual(await closed(ws), { code: 1011, reason: "backend stopped responding" });
  } finally {
    await stalled.close();
  }
});

Deno.test("a client flooding a backend that does not read is closed with 1008, not buffered", async () => {
  const stalled = stalledBackend();
  try {
    await using gw = startProxy({
      backends: backendAt(stalled.port),
      websocket: { max_buffered_bytes: MIB, ping_interval_ms: 0 },
    });
    const ws = await connect(`${gw.url}/ws/flood`);
    const clientSaw = closed(ws);
    // Each message as fast as the gateway takes it in; the backend takes nothing.
    for (let i = 0; i < 64 && ws.readyState === WebSocket.OPEN; i++) {
      ws.send(new Uint8Array(MIB));
      for (let polls = 0; ws.bufferedAmount > 0 && polls < 500; polls++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
    assert.deepEqual(await clientSaw, { code: 1008, reason: "backend is not reading fast enough" });
  } finally {
    await stalled.close();
  }
});

Deno.test("a client that does not read pauses the backend, and everything arrives once it reads", async () => {
  await using echo = echoBackend();
  await using gw = startProxy({
    backends: backendAt(echo.port),
    websocket: { max_buffered_bytes: MIB, ping_interval_ms: 0 },
  });
  // A raw client: it can stop reading, which the WebSocket API cannot.
  const port = Number(new URL(gw.url).port);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const key = "dGhlIHNhbXBsZSBub25jZQ==";
    await conn.write(new TextEncoder().encode(
      `GET /ws/slow HTTP/1.1\r\nhost: 127.0.0.1\r\nupgrade: websocket\r\nconnection: Upgrade\r\n` +
        `sec-websocket-key: ${key}\r\nsec-websocket-version: 13\r\n\r\n`,
    ));
    const buffer = new Uint8Array(256 * 1024);
    const head = new TextDecoder().decode(buffer.subarray(0, (await conn.read(buffer)) ?? 0));
    assert.match(head, /^HTTP\/1.1 101 /);
    assert.ok(head.includes(`sec-websocket-accept: ${await acceptFor(key)}`), head);
    // "flood:32" as a masked text frame (an all-zero mask leaves the payload as is).
    const command = new TextEncoder().encode("flood:32");
    await conn.write(new Uint8Array([0x81, 0x80 | command.length, 0, 0, 0, 0, ...command]));
    const messages = 32;
    await eventually(() => echo.sockets.length === 1, "the backend connection");
    // Not reading: the gateway stops reading the backend, so the backend's own buffer holds the rest.
    await eventually(() => echo.sockets[0].bufferedAmount > 8 * MIB, "backpressure on the backend");
    assert.equal(gw.proxy.openCount, 1);
    let received = 0;
    const expected = messages * (MIB + 10); // each frame: 10-byte header (64-bit length) + 1 MiB
    for (let reads = 0; received < expected && reads < 100_000; reads++) {
      received += (await conn.read(buffer)) ?? Infinity;
    }
    assert.equal(received, expected);
  } finally {
    conn.close();
  }
});

Deno.test("an access_token query parameter becomes the upstream Authorization header", async () => {
  await using echo = echoBackend();
  await using gw = startProxy({ backends: backendAt(echo.port), websocket: { access_token_query: true } });
  const ws = await connect(`${gw.url}/ws/t?a=1&access_token=abc.DEF-123&b=2`);
  assert.equal(new URL(echo.last!.url).search, "?a=1&b=2");
  assert.equal(echo.last!.headers.get("authorization"), "Bearer abc.DEF-123");
  await (ws.close(), closed(ws));
});

Deno.test("an Origin the route's CORS policy does not allow is refused before dialling", async (t) => {
  await using echo = echoBackend();
  await using gw = startProxy({
    backends: backendAt(echo.port),
    cors: { allowed_origins: ["https://app.example.com"] },
  });
  await t.step("a foreign origin gets 403", async () => {
    await assert.rejects(connect(`${gw.url}/ws/o`, { headers: { origin: "https://evil.example" } }), /403/);
  });
  for (const headers of [{ origin: "https://app.example.com" }, {}] as Record<string, string>[]) {
    await t.step(`origin ${JSON.stringify(headers)} connects`, async () => {
      const ws = await connect(`${gw.url}/ws/o`, { headers });
      await (ws.close(), closed(ws));
    });
  }
});
