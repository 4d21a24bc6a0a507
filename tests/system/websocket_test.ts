/**
 * Whole-process WebSocket proxying: the real gateway in front of real WebSocket backends (Deno servers
 * and a hand-written raw one) on 127.0.0.1. Frames, subprotocols, close codes, limits, failover,
 * balancing, auth, errors before the upgrade, metrics, reload and shutdown.
 */
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { type Backend, fetchText, freePort, type Gateway, startBackend, startGateway } from "./harness.ts";

const SECRET = "websocket-test-secret-websocket-test";
const MIB = 1024 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Closed {
  readonly code: number;
  readonly reason: string;
}

interface WsBackend extends Backend {
  /** Headers of the last upgrade request. */
  readonly lastHeaders: Headers | undefined;
  /** Resolves with the close the backend sees next. */
  nextClose(): Promise<Closed>;
}

/**
 * An echo backend. Text `close:CODE:REASON` makes it close with that code; a path ending in /refuse
 * answers 403. It picks the last subprotocol offered, so the choice is visibly the backend's.
 */
function wsBackend(): WsBackend {
  let lastHeaders: Headers | undefined;
  let waiting: ((closed: Closed) => void) | undefined;
  const backend = startBackend((req) => {
    if (new URL(req.url).pathname.endsWith("/refuse")) return new Response("no", { status: 403 });
    lastHeaders = new Headers(req.headers);
    const offered = req.headers.get("sec-websocket-protocol");
    const { socket, response } = Deno.upgradeWebSocket(req, {
      protocol: offered ? offered.split(",").at(-1)!.trim() : undefined,
    });
    socket.binaryType = "arraybuffer";
    socket.onmessage = (e) => {
      if (typeof e.data === "string" && e.data.startsWith("close:")) {
        const [, code, reason] = e.data.split(":");
        return socket.close(Number(code), reason);
      }
      socket.send(e.data);
    };
    socket.onclose = (e) => waiting?.({ code: e.code, reason: e.reason });
    return response;
  });
  return {
    url: backend.url,
    host: backend.host,
    port: backend.port,
    get requests() {
      return backend.requests;
    },
    get lastHeaders() {
      return lastHeaders;
    },
    nextClose: () => new Promise<Closed>((resolve) => waiting = resolve),
    close: backend.close,
    [Symbol.asyncDispose]: backend.close,
  };
}

/** A TCP listener that accepts connections and never answers: a backend hung in its handshake. */
function silentBackend(): { port: number; close(): Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) conns.push(conn);
    } catch { /* listener closed */ }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      listener.close();
      await accepting;
      for (const conn of conns) conn.close();
    },
  };
}

/** A raw backend that completes the handshake, waits for one frame, then drops TCP without a close frame. */
function droppingBackend(): { port: number; close(): Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    const conn = await listener.accept();
    const buffer = new Uint8Array(4096);
    const n = (await conn.read(buffer)) ?? 0;
    const key = /sec-websocket-key: *(\S+)/i.exec(decoder.decode(buffer.subarray(0, n)))![1];
    const digest = await crypto.subtle.digest(
      "SHA-1",
      encoder.encode(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"),
    );
    const accept = btoa(String.fromCharCode(...new Uint8Array(digest)));
    await conn.write(encoder.encode(
      `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`,
    ));
    await conn.read(buffer);
    conn.close();
  })();
  let closed: Promise<void> | undefined;
  return {
    port: (listener.addr as Deno.NetAddr).port,
    close: () => closed ??= serving.then(() => listener.close()),
  };
}

function connect(url: string, options?: WebSocketOptions): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => resolve(ws);
    ws.onerror = (e) => reject(new Error((e as ErrorEvent).message));
  });
}

function nextMessage(ws: WebSocket): Promise<string | ArrayBuffer> {
  return new Promise((resolve) => ws.onmessage = (e) => resolve(e.data));
}

function closed(ws: WebSocket): Promise<Closed> {
  return new Promise((resolve) =>
    ws.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason }))
  );
}

async function closeNormally(ws: WebSocket): Promise<void> {
  const done = closed(ws);
  ws.close(1000);
  await done;
}

/** Sends a raw upgrade request and reads the whole (non-101) response. */
async function rawUpgrade(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; head: string; body: string }> {
  const all: Record<string, string> = {
    host: `127.0.0.1:${port}`,
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    "sec-websocket-version": "13",
    ...headers,
  };
  const lines = Object.entries(all).filter(([, v]) => v !== "").map(([k, v]) => `${k}: ${v}\r\n`);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(encoder.encode(`GET ${path} HTTP/1.1\r\n${lines.join("")}\r\n`));
    let text = "";
    const buffer = new Uint8Array(8192);
    for (let i = 0; i < 100; i++) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n));
      const end = text.indexOf("\r\n\r\n");
      const length = /content-length: *(\d+)/i.exec(text);
      if (end >= 0 && length && text.length >= end + 4 + Number(length[1])) break;
    }
    const end = text.indexOf("\r\n\r\n");
    return { status: Number(text.slice(9, 12)), head: text.slice(0, end), body: text.slice(end + 4) };
  } finally {
    conn.close();
  }
}

function route(path: string, ports: number[], extra: Record<string, unknown> = {}) {
  return {
    external_path: `${path}/{*rest}`,
    internal_path: "/{rest}",
    methods: ["GET"],
    protocol: "websocket",
    backends: ports.map((port) => ({ host: "ws://127.0.0.1", port })),
    ...extra,
  };
}

const wsUrl = (gw: Gateway, path: string) => `ws://127.0.0.1:${gw.port}${path}`;
const fastRetry = { max_retries: 2, initial_backoff_ms: 10, jitter: 0 };

Deno.test("websocket routes proxy frames, close codes and errors through the real gateway", async (t) => {
  await using echo = wsBackend();
  await using second = wsBackend();
  const silent = silentBackend();
  const dropping = droppingBackend();
  const dead = freePort();
  const gw = await startGateway({
    version: 1,
    jwt: { secret: SECRET },
    routers: [
      route("/echo", [echo.port]),
      route("/small", [echo.port], { websocket: { max_message_bytes: 1024 } }),
      route("/failover", [dead, echo.port], { retry: fastRetry }),
      route("/spread", [echo.port, second.port]),
      route("/dead", [dead]),
      route("/silent", [silent.port], { connect_timeout_ms: 300 }),
      route("/drop", [dropping.port]),
      route("/secure", [echo.port], { auth_required: true }),
    ],
  });
  try {
    await t.step(
      "text and binary messages are echoed in order, with the client's headers forwarded",
      async () => {
        const ws = await connect(wsUrl(gw, "/echo/room/7?x=1"), {
          headers: { origin: "http://app.test", cookie: "session=abc", authorization: "Bearer opaque" },
        });
        const received: Array<string | number[]> = [];
        const all = new Promise<void>((resolve) =>
          ws.onmessage = (e) => {
            received.push(typeof e.data === "string" ? e.data : [...new Uint8Array(e.data)]);
            if (received.length === 40) resolve();
          }
        );
        const sent: Array<string | number[]> = [];
        for (let i = 0; i < 40; i++) {
          const message = i % 2 === 0 ? `text ${i} é` : [i, 255 - i, 0];
          sent.push(message);
          ws.send(typeof message === "string" ? message : new Uint8Array(message));
        }
        await all;
        assert.deepEqual(received, sent);
        const headers = echo.lastHeaders!;
        assert.equal(headers.get("origin"), "http://app.test");
        assert.equal(headers.get("cookie"), "session=abc");
        assert.equal(headers.get("authorization"), "Bearer opaque");
        assert.equal(headers.get("x-forwarded-for"), "127.0.0.1");
        assert.match(headers.get("x-request-id") ?? "", /.+/);
        assert.equal(headers.get("host"), `127.0.0.1:${echo.port}`);
        await closeNormally(ws);
      },
    );

    await t.step("the backend's choice among the offered subprotocols reaches the client", async () => {
      const ws = await connect(wsUrl(gw, "/echo/p"), { protocols: ["v1.kairos", "v2.kairos"] });
      assert.equal(ws.protocol, "v2.kairos");
      assert.equal(echo.lastHeaders!.get("sec-websocket-protocol"), "v1.kairos, v2.kairos");
      await closeNormally(ws);
    });

    await t.step("a 16 MiB binary message passes both ways intact", async () => {
      const ws = await connect(wsUrl(gw, "/echo/big"));
      const big = new Uint8Array(16 * MIB);
      for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 0xff;
      big[big.length - 1] = 7;
      const reply = nextMessage(ws);
      ws.send(big);
      const back = new Uint8Array((await reply) as ArrayBuffer);
      assert.equal(back.length, big.length);
      assert.ok(back.every((b, i) => b === big[i]), "payload differs");
      await closeNormally(ws);
    });

    await t.step("close codes and reasons propagate from the client to the backend and back", async () => {
      const ws = await connect(wsUrl(gw, "/echo/c"));
      const backendSaw = echo.nextClose();
      ws.close(4001, "client bye");
      assert.deepEqual(await backendSaw, { code: 4001, reason: "client bye" });

      const other = await connect(wsUrl(gw, "/echo/c"));
      const clientSaw = closed(other);
      other.send("close:4002:server bye");
      assert.deepEqual(await clientSaw, { code: 4002, reason: "server bye" });
    });

    await t.step("an abrupt backend loss closes the client with 1011", async () => {
      const ws = await connect(wsUrl(gw, "/drop/x"));
      const clientSaw = closed(ws);
      ws.send("hi");
      assert.equal((await clientSaw).code, 1011);
      await dropping.close();
    });

    await t.step(
      "a message over max_message_bytes closes the client with 1009 and the backend with 1001",
      async () => {
        const ws = await connect(wsUrl(gw, "/small/x"));
        assert.equal(await (ws.send("fits"), nextMessage(ws)), "fits");
        const clientSaw = closed(ws);
        const backendSaw = echo.nextClose();
        ws.send(new Uint8Array(2000));
        assert.equal((await clientSaw).code, 1009);
        assert.equal((await backendSaw).code, 1001);
      },
    );

    await t.step("a dead backend fails over to a live one within the retry policy", async () => {
      for (let i = 0; i < 3; i++) {
        const ws = await connect(wsUrl(gw, "/failover/x"));
        assert.equal(await (ws.send(`try ${i}`), nextMessage(ws)), `try ${i}`);
        await closeNormally(ws);
      }
      const metrics = (await fetchText(`${gw.url}/metrics`)).body;
      assert.match(
        metrics,
        new RegExp(
          `kairos_upstream_attempts_total\\{backend="http://127.0.0.1:${dead}",outcome="connect_error"\\} [1-9]`,
        ),
      );
    });

    await t.step("round robin spreads connections over both backends", async () => {
      const before = [echo.requests, second.requests];
      const sockets = [];
      for (let i = 0; i < 4; i++) sockets.push(await connect(wsUrl(gw, "/spread/x")));
      assert.deepEqual([echo.requests - before[0], second.requests - before[1]], [2, 2]);
      await Promise.all(sockets.map(closeNormally));
    });

    await t.step("before any upgrade: a plain GET gets 426, a bad key 400, both as JSON", async () => {
      const plain = await fetchText(`${gw.url}/echo/x`);
      assert.equal(plain.status, 426);
      assert.equal(JSON.parse(plain.body).type, "upgrade_required");
      assert.equal(plain.headers.get("upgrade"), "websocket");
      const badKey = await rawUpgrade(gw.port, "/echo/x", { "sec-websocket-key": "not-a-key" });
      assert.equal(badKey.status, 400);
      assert.equal(JSON.parse(badKey.body).type, "bad_request");
    });

    await t.step(
      "a dead backend gives 502, a refusing one 502 with its status, a silent one 504",
      async () => {
        const deadAnswer = await rawUpgrade(gw.port, "/dead/x");
        assert.equal(deadAnswer.status, 502);
        assert.equal(JSON.parse(deadAnswer.body).type, "upstream");
        const refused = await rawUpgrade(gw.port, "/echo/refuse");
        assert.equal(refused.status, 502);
        assert.match(JSON.parse(refused.body).error, /refused the WebSocket upgrade with status 403/);
        const hung = await rawUpgrade(gw.port, "/silent/x");
        assert.equal(hung.status, 504);
        assert.equal(JSON.parse(hung.body).type, "timeout");
      },
    );

    await t.step("a protected route refuses a missing or forged token and accepts a valid one", async () => {
      assert.equal((await rawUpgrade(gw.port, "/secure/x")).status, 401);
      const forged = await new SignJWT({ sub: "eve" }).setProtectedHeader({ alg: "HS256" })
        .sign(encoder.encode("some-other-secret-some-other-secret"));
      assert.equal(
        (await rawUpgrade(gw.port, "/secure/x", { authorization: `Bearer ${forged}` })).status,
        401,
      );
      const token = await new SignJWT({ sub: "alice", exp: Math.floor(Date.now() / 1000) + 300 })
        .setProtectedHeader({ alg: "HS256" }).sign(encoder.encode(SECRET));
      const ws = await connect(wsUrl(gw, "/secure/x"), { headers: { authorization: `Bearer ${token}` } });
      assert.equal(await (ws.send("in"), nextMessage(ws)), "in");
      await closeNormally(ws);
    });

    await t.step("each connection logs one line at close with its counts and close code", async () => {
      await gw.waitForOutput(
        /"msg":"websocket closed".*"messages_in":40,"messages_out":40,.*"close_code":1000/,
      );
      await gw.waitForOutput(/"msg":"websocket closed".*"close_code":1009,"close_reason":"message too big"/);
    });
  } finally {
    await gw.stop("SIGKILL");
    await silent.close();
    await dropping.close();
  }
});

Deno.test("open WebSockets survive a config reload and are closed with 1001 at shutdown", async () => {
  await using echo = wsBackend();
  const config = { version: 1, server: { shutdown_grace_ms: 2000 }, routers: [route("/echo", [echo.port])] };
  const gw = await startGateway(config);
  try {
    const ws = await connect(wsUrl(gw, "/echo/x"));
    assert.equal(await (ws.send("before"), nextMessage(ws)), "before");
    const changed = { ...config, routers: [route("/echo", [echo.port], { timeout_ms: 1234 })] };
    await Deno.writeTextFile(gw.configPath, JSON.stringify(changed));
    gw.process.kill("SIGHUP");
    await gw.waitForOutput('"msg":"config reloaded"');
    assert.equal(await (ws.send("after"), nextMessage(ws)), "after");

    const clientSaw = closed(ws);
    const backendSaw = echo.nextClose();
    gw.process.kill("SIGTERM");
    assert.equal((await clientSaw).code, 1001);
    // The gateway closes both legs with 1001 before Deno's server.shutdown() drops upgraded sockets.
    assert.equal((await backendSaw).code, 1001);
    assert.equal(await gw.stop(), 0);
  } finally {
    await gw.stop("SIGKILL");
  }
});

Deno.test("the access log gets one line per WebSocket connection, when it closes", async () => {
  await using echo = wsBackend();
  await using gw = await startGateway({ version: 1, routers: [route("/echo", [echo.port])] });
  const ws = await connect(wsUrl(gw, "/echo/room"));
  for (const text of ["one", "two"]) {
    ws.send(text);
    assert.equal(await nextMessage(ws), text);
  }
  assert.doesNotMatch(gw.output(), /"path":"\/echo\/room"/, "no line at the upgrade");
  await closeNormally(ws);
  await gw.waitForOutput(/"path":"\/echo\/room"/);
  const entry = JSON.parse(gw.output().split("\n").find((l) => l.includes('"path":"/echo/room"'))!);
  assert.equal(entry.status, 101);
  assert.equal(entry.backend, `http://127.0.0.1:${echo.port}`);
  assert.equal(entry.messages_in, 2);
  assert.equal(entry.messages_out, 2);
  assert.equal(entry.bytes_in, 6);
  assert.equal(entry.close_code, 1000);
  assert.equal(entry.closed_by, "client");
  assert.equal(entry.attempts, 1);
  assert.ok(entry.duration_ms > 0);
  assert.equal(gw.output().split("\n").filter((l) => l.includes('"path":"/echo/room"')).length, 1);
});
