import assert from "node:assert/strict";
import type { UpstreamTarget } from "../../../src/upstream/client.ts";
import { createHttp1Client } from "../../../src/upstream/http1/http1_client.ts";
import { makeRequest, rejection, withBackend } from "./scripted_server.ts";

const OK = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

function localTarget(port: number, protocol: "http:" | "https:" = "http:"): UpstreamTarget {
  return {
    protocol,
    hostname: "127.0.0.1",
    port,
    authority: `127.0.0.1:${port}`,
    key: `${protocol}//127.0.0.1:${port}`,
  };
}

Deno.test("send() reports a refused connection as not sent, naming the backend", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const target = localTarget(listener.addr.port);
  listener.close();
  const client = createHttp1Client();
  try {
    const err = await rejection(client.send(target, makeRequest(target)));
    assert.equal(err.kind, "connect");
    assert.equal(err.requestSent, false);
    assert.equal(err.message, `Cannot reach backend "${target.key}": connection refused`);
  } finally {
    client.close();
  }
});

Deno.test("send() reports a connect timeout when the backend's accept queue is full", async () => {
  // Linux drops SYNs to a listener whose accept queue is full, so a connect there hangs.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0, tcpBacklog: 1 });
  const target = localTarget(listener.addr.port);
  const fillers: Deno.Conn[] = [];
  const client = createHttp1Client();
  try {
    for (let i = 0; i < 8; i++) {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), 200);
      const conn = await Deno.connect({ port: target.port, signal: controller.signal }).catch(() => null);
      clearTimeout(timer);
      if (conn === null) break;
      fillers.push(conn);
    }
    const err = await rejection(client.send(target, makeRequest(target, { connectTimeoutMs: 100 })));
    assert.equal(err.kind, "connect_timeout");
    assert.equal(err.requestSent, false);
    assert.equal(err.message, `Cannot reach backend "${target.key}": connect timed out after 100 ms`);
  } finally {
    client.close();
    for (const conn of fillers) conn.close();
    listener.close();
  }
});

Deno.test("send() times out on a backend that dribbles its head (slow loris)", async () => {
  await withBackend(async (conn) => {
    await conn.readRequest();
    await conn.dribble(`HTTP/1.1 200 OK\r\nX-Slow: ${"z".repeat(100)}\r\n\r\n`, 1, 20);
  }, async (server, client) => {
    const err = await rejection(
      client.send(server.target, makeRequest(server.target, { firstByteTimeoutMs: 150 })),
    );
    assert.equal(err.kind, "timeout");
    assert.equal(err.requestSent, true);
    assert.match(err.message, /no response head within 150 ms/);
    assert.equal(client.stats().active, 0);
  });
});

Deno.test("send() rejects with aborted when the client goes away before the head", async (t) => {
  await t.step("while waiting for the response head", async () => {
    const controller = new AbortController();
    let backendSawClose = false;
    await withBackend(async (conn) => {
      await conn.readRequest();
      controller.abort();
      await conn.waitClosed();
      backendSawClose = true;
    }, async (server, client) => {
      const err = await rejection(
        client.send(server.target, makeRequest(server.target, { signal: controller.signal })),
      );
      assert.equal(err.kind, "aborted");
      assert.equal(err.requestSent, true);
    });
    assert.equal(backendSawClose, true);
  });
  await t.step("already aborted: nothing is sent", async () => {
    await withBackend(async () => {}, async (server, client) => {
      const err = await rejection(
        client.send(server.target, makeRequest(server.target, { signal: AbortSignal.abort() })),
      );
      assert.equal(err.kind, "aborted");
      assert.equal(err.requestSent, false);
      assert.equal(server.accepted, 0);
    });
  });
});

Deno.test("send() retries once on a fresh connection when a pooled one turns out stale", async (t) => {
  // Connection 0 answers one request, then takes the next one and closes without a byte: a stale socket.
  const staleAfterOne = async (conn: Parameters<Parameters<typeof withBackend>[0]>[0], index: number) => {
    while (await conn.readRequest() !== null) {
      await conn.write(OK);
      if (index === 0) {
        await conn.readHead();
        return;
      }
    }
  };
  await t.step("a bodiless request is replayed", async () => {
    await withBackend(staleAfterOne, async (server, client) => {
      assert.equal(await (await client.send(server.target, makeRequest(server.target))).text(), "ok");
      assert.equal(await (await client.send(server.target, makeRequest(server.target))).text(), "ok");
      assert.equal(server.accepted, 2);
    });
  });
  await t.step("a Uint8Array body is replayed", async () => {
    await withBackend(staleAfterOne, async (server, client) => {
      await (await client.send(server.target, makeRequest(server.target))).text();
      const request = makeRequest(server.target, { method: "POST", body: new TextEncoder().encode("again") });
      assert.equal(await (await client.send(server.target, request)).text(), "ok");
      assert.equal(server.accepted, 2);
    });
  });
  await t.step("a consumed stream body is not replayed", async () => {
    await withBackend(staleAfterOne, async (server, client) => {
      await (await client.send(server.target, makeRequest(server.target))).text();
      const body = new Blob(["streamed"]).stream();
      const err = await rejection(
        client.send(server.target, makeRequest(server.target, { method: "POST", body })),
      );
      assert.equal(err.kind, "reset");
      assert.equal(err.requestSent, true);
      assert.equal(server.accepted, 1);
    });
  });
  await t.step("a fresh connection is not retried", async () => {
    await withBackend(async (conn) => void await conn.readHead(), async (server, client) => {
      const err = await rejection(client.send(server.target, makeRequest(server.target)));
      assert.equal(err.kind, "reset");
      assert.match(err.message, /connection closed before a complete response head/);
      assert.equal(server.accepted, 1);
    });
  });
});

Deno.test("send() speaks HTTP/1.1 over TLS with SNI and the given CA", async () => {
  const cert = await Deno.readTextFile(new URL("./fixtures/tls_cert.pem", import.meta.url));
  const key = await Deno.readTextFile(new URL("./fixtures/tls_key.pem", import.meta.url));
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert, key, onListen() {} },
    (request) => new Response(`secure ${new URL(request.url).pathname}`),
  );
  const target = localTarget(server.addr.port, "https:");
  const client = createHttp1Client({ caCerts: [cert] });
  const untrusting = createHttp1Client();
  try {
    for (let i = 0; i < 3; i++) {
      const response = await client.send(target, makeRequest(target, { path: `/p${i}` }));
      assert.equal(await response.text(), `secure /p${i}`);
    }
    assert.equal(client.stats(target.key).connects, 1);
    const err = await rejection(untrusting.send(target, makeRequest(target)));
    assert.equal(err.kind, "connect");
    assert.match(err.message, /TLS handshake failed/);
  } finally {
    client.close();
    untrusting.close();
    await server.shutdown();
  }
});

Deno.test("setCaCerts() makes later connections trust the new roots and stops reusing pooled ones", async () => {
  const cert = await Deno.readTextFile(new URL("./fixtures/tls_cert.pem", import.meta.url));
  const key = await Deno.readTextFile(new URL("./fixtures/tls_key.pem", import.meta.url));
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert, key, onListen() {} },
    () => new Response("secure"),
  );
  const target = localTarget(server.addr.port, "https:");
  const client = createHttp1Client();
  try {
    assert.match((await rejection(client.send(target, makeRequest(target)))).message, /TLS handshake failed/);
    client.setCaCerts([cert]);
    assert.equal(await (await client.send(target, makeRequest(target))).text(), "secure");
    // The connection goes back to the pool once the exchange has wound down.
    for (let i = 0; i < 100 && client.stats(target.key).idle === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(client.stats(target.key).idle, 1);
    // The pooled connection was verified against roots no longer trusted: closed, not reused.
    client.setCaCerts(undefined);
    assert.equal(client.stats(target.key).idle, 0);
    assert.match((await rejection(client.send(target, makeRequest(target)))).message, /TLS handshake failed/);
    assert.equal(client.stats(target.key).reuses, 0);
  } finally {
    client.close();
    await server.shutdown();
  }
});

Deno.test("createHttp1Client() rejects invalid options", () => {
  assert.throws(() => createHttp1Client({ maxConnectionsPerBackend: 0 }), RangeError);
  assert.throws(
    () => createHttp1Client({ idleTimeoutMs: 1.5 }),
    /'idleTimeoutMs' must be a positive integer/,
  );
  assert.equal(createHttp1Client({ maxIdlePerBackend: 0 }).name, "http1");
});
