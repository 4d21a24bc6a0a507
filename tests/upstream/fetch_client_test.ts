import assert from "node:assert/strict";
import { UpstreamError } from "../../src/upstream/client.ts";
import { createFetchClient } from "../../src/upstream/fetch_client.ts";
import {
  delay,
  keepAnswering,
  makeRequest,
  type ScriptedConnection,
  startScriptedServer,
} from "./http1/scripted_server.ts";

/** A backend that reads the request, never answers, and records when the client closed the connection. */
function silentBackend() {
  let closedAfter = -1;
  let readHead = () => {};
  const headRead = new Promise<void>((resolve) => readHead = resolve);
  const server = startScriptedServer(async (conn: ScriptedConnection) => {
    await conn.readRequest();
    readHead();
    const started = Date.now();
    await conn.waitClosed();
    closedAfter = Date.now() - started;
  });
  return {
    server,
    headRead,
    get closedAfter() {
      return closedAfter;
    },
  };
}

/** `promise`'s outcome, which must come within 3 s: a broken deadline would otherwise hang the test. */
async function within<T>(promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("no outcome within 3 s")), 3000);
  });
  try {
    return await Promise.race([promise, bound]);
  } finally {
    clearTimeout(timer);
  }
}

async function rejection(promise: Promise<unknown>): Promise<UpstreamError> {
  const err = await within(promise.then(() => undefined, (e) => e));
  assert.ok(err instanceof UpstreamError, `expected an UpstreamError, got ${err}`);
  return err;
}

Deno.test("fetch client: no head within firstByteTimeoutMs is a timeout, and the connection is dropped", async () => {
  const backend = silentBackend();
  const client = createFetchClient();
  try {
    const started = Date.now();
    const err = await rejection(client.send(
      backend.server.target,
      makeRequest(backend.server.target, {
        firstByteTimeoutMs: 150,
      }),
    ));
    const took = Date.now() - started;
    assert.equal(err.kind, "timeout");
    assert.match(err.message, /did not answer within 150 ms/);
    assert.ok(took >= 145 && took < 1500, `timed out after ${took} ms`);
    for (let i = 0; i < 50 && backend.closedAfter < 0; i++) await delay(20);
    assert.ok(backend.closedAfter >= 0, "the backend saw the connection closed");
  } finally {
    client.close();
    await backend.server.close();
  }
});

Deno.test("fetch client: the client going away cancels the exchange at once", async () => {
  const backend = silentBackend();
  const client = createFetchClient();
  try {
    const clientGone = new AbortController();
    const sending = client.send(
      backend.server.target,
      makeRequest(backend.server.target, { firstByteTimeoutMs: 5000, signal: clientGone.signal }),
    );
    await backend.headRead;
    const abortedAt = Date.now();
    clientGone.abort();
    const err = await rejection(sending);
    assert.equal(err.kind, "aborted");
    assert.ok(Date.now() - abortedAt < 1000);
    for (let i = 0; i < 50 && backend.closedAfter < 0; i++) await delay(20);
    assert.ok(
      backend.closedAfter >= 0 && backend.closedAfter < 1000,
      "the backend saw the connection closed",
    );
  } finally {
    client.close();
    await backend.server.close();
  }
});

Deno.test("fetch client: an already-aborted client is refused before anything is sent", async () => {
  const server = startScriptedServer(keepAnswering("HTTP/1.1 204 No Content\r\n\r\n"));
  const client = createFetchClient();
  try {
    const err = await rejection(
      client.send(server.target, makeRequest(server.target, { signal: AbortSignal.abort() })),
    );
    assert.equal(err.kind, "aborted");
    assert.equal(err.requestSent, false);
    assert.equal(server.accepted, 0);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("fetch client: many exchanges with mixed timeouts each end on their own deadline or answer", async () => {
  const answering = startScriptedServer(keepAnswering("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"));
  const silent = silentBackend();
  const client = createFetchClient();
  try {
    const sends: Promise<string>[] = [];
    for (let i = 0; i < 20; i++) {
      const quiet = i % 2 === 0;
      const target = quiet ? silent.server.target : answering.target;
      const ms = quiet ? 100 + (i % 3) * 50 : 2000;
      sends.push(
        within(
          client.send(target, makeRequest(target, { firstByteTimeoutMs: ms })).then(
            async (res) => `ok:${await res.text()}`,
            (err) => `${err.kind}`,
          ),
        ),
      );
    }
    const outcomes = await Promise.all(sends);
    assert.deepEqual(outcomes.filter((o) => o === "ok:ok").length, 10);
    assert.deepEqual(outcomes.filter((o) => o === "timeout").length, 10);
  } finally {
    client.close();
    await answering.close();
    await silent.server.close();
  }
});

Deno.test("fetch client: a refused connection is a connect error", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const target = {
    protocol: "http:" as const,
    hostname: "127.0.0.1",
    port,
    authority: `127.0.0.1:${port}`,
    key: `http://127.0.0.1:${port}`,
  };
  const client = createFetchClient();
  try {
    const err = await rejection(client.send(target, makeRequest(target)));
    assert.equal(err.kind, "connect");
    assert.match(err.message, /connection refused/);
  } finally {
    client.close();
  }
});

Deno.test("fetch client: a streamed body's bytes are added to bodyCounter as fetch reads them", async (t) => {
  const encoder = new TextEncoder();
  // Answers each request with the size of the body it received.
  const server = startScriptedServer(async (conn) => {
    for (let request; (request = await conn.readRequest()) !== null;) {
      const size = String(request.body.length);
      await conn.write(`HTTP/1.1 200 OK\r\ncontent-length: ${size.length}\r\n\r\n${size}`);
    }
  });
  const client = createFetchClient();
  const send = async (body: Uint8Array | ReadableStream<Uint8Array>) => {
    const bodyCounter = { requestBodyBytes: 0 };
    const request = makeRequest(server.target, { method: "POST", body, bodyCounter });
    const received = await (await within(client.send(server.target, request))).text();
    return { received: Number(received), counted: bodyCounter.requestBodyBytes };
  };
  try {
    await t.step("a stream is counted chunk by chunk", async () => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new Uint8Array(1000));
          controller.enqueue(new Uint8Array(24));
          controller.close();
        },
      });
      assert.deepEqual(await send(body), { received: 1024, counted: 1024 });
    });
    await t.step("a Uint8Array body is not counted: whoever buffered it counted it", async () => {
      assert.deepEqual(await send(encoder.encode("hello")), { received: 5, counted: 0 });
    });
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("fetch client: caCerts and setCaCerts() decide which https backends it trusts", async () => {
  const cert = await Deno.readTextFile(new URL("./http1/fixtures/tls_cert.pem", import.meta.url));
  const key = await Deno.readTextFile(new URL("./http1/fixtures/tls_key.pem", import.meta.url));
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert, key, onListen() {} },
    () => new Response("secure"),
  );
  const port = server.addr.port;
  const target = {
    protocol: "https:" as const,
    hostname: "127.0.0.1",
    port,
    authority: `127.0.0.1:${port}`,
    key: `https://127.0.0.1:${port}`,
  };
  const trusting = createFetchClient({ caCerts: [cert] });
  const client = createFetchClient();
  try {
    assert.equal(await (await trusting.send(target, makeRequest(target))).text(), "secure");
    assert.equal((await rejection(client.send(target, makeRequest(target)))).kind, "connect");
    client.setCaCerts!([cert]);
    assert.equal(await (await client.send(target, makeRequest(target))).text(), "secure");
    // A new pool: the keep-alive connection verified against the old roots is not reused.
    client.setCaCerts!(undefined);
    assert.equal((await rejection(client.send(target, makeRequest(target)))).kind, "connect");
  } finally {
    trusting.close();
    client.close();
    await server.shutdown();
  }
});
