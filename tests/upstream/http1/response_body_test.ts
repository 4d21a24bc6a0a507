import assert from "node:assert/strict";
import { UpstreamError } from "../../../src/upstream/client.ts";
import { delay, makeRequest, readError, rejection, withBackend } from "./scripted_server.ts";

const OK = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

Deno.test("a body stream errors when the backend closes in the middle of a chunked body", async () => {
  await withBackend(async (conn) => {
    await conn.readRequest();
    await conn.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    await delay(20);
    await conn.write("10\r\nonly part");
  }, async (server, client) => {
    const response = await client.send(server.target, makeRequest(server.target));
    const err = await readError(response.body);
    assert.equal(err.kind, "reset");
    assert.match(err.message, /before the last chunk/);
  });
});

Deno.test("extra bytes after a Content-Length body never reach the next exchange", async (t) => {
  await t.step("when they arrive with the body", async () => {
    await withBackend(async (conn, index) => {
      await conn.readRequest();
      await conn.write(
        index === 0 ? "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 200 OK\r\n\r\nEVIL" : OK,
      );
      await conn.waitClosed();
    }, async (server, client) => {
      assert.equal(await (await client.send(server.target, makeRequest(server.target))).text(), "hi");
      assert.equal(await (await client.send(server.target, makeRequest(server.target))).text(), "ok");
      assert.equal(server.accepted, 2);
    });
  });
  await t.step("when they arrive while the connection is idle", async () => {
    let smuggled!: () => void;
    const written = new Promise<void>((resolve) => smuggled = resolve);
    await withBackend(async (conn, index) => {
      await conn.readRequest();
      if (index > 0) return await conn.write(OK);
      await conn.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
      await delay(20);
      await conn.write("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL");
      smuggled();
      await conn.waitClosed();
    }, async (server, client) => {
      assert.equal(await (await client.send(server.target, makeRequest(server.target))).text(), "hi");
      await written;
      for (let i = 0; i < 200 && client.stats(server.target.key).idle > 0; i++) await delay(5);
      assert.equal(client.stats(server.target.key).idle, 0);
      assert.equal(await (await client.send(server.target, makeRequest(server.target))).text(), "ok");
      assert.equal(server.accepted, 2);
    });
  });
});

Deno.test("a body shorter than its Content-Length is an error", async (t) => {
  const script = async (conn: Parameters<Parameters<typeof withBackend>[0]>[0]) => {
    await conn.readRequest();
    await conn.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b");
  };
  await t.step("as a stream error when the body streams", async () => {
    await withBackend(script, async (server, client) => {
      const response = await client.send(server.target, makeRequest(server.target));
      const err = await readError(response.body);
      assert.equal(err.kind, "reset");
      assert.match(err.message, /90 body bytes missing/);
    }, { smallBodyThreshold: 0 });
  });
  await t.step("as a rejection when the small body is read whole", async () => {
    await withBackend(script, async (server, client) => {
      const err = await rejection(client.send(server.target, makeRequest(server.target)));
      assert.equal(err.kind, "reset");
      assert.match(err.message, /after 10 of 100 body bytes/);
    });
  });
});

Deno.test("a stalled body fails after idleTimeoutMs and its socket is closed", async (t) => {
  const stall = (head: string) => async (conn: Parameters<Parameters<typeof withBackend>[0]>[0]) => {
    await conn.readRequest();
    await conn.write(head);
    await conn.waitClosed();
  };
  const request = (target: Parameters<typeof makeRequest>[0]) => makeRequest(target, { idleTimeoutMs: 100 });
  await t.step("streamed Content-Length body", async () => {
    await withBackend(
      stall("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nstart"),
      async (server, client) => {
        const response = await client.send(server.target, request(server.target));
        const err = await readError(response.body);
        assert.equal(err.kind, "timeout");
        assert.match(err.message, /no data for 100 ms/);
        assert.equal(client.stats().active + client.stats().idle, 0);
      },
    );
  });
  await t.step("streamed chunked body", async () => {
    await withBackend(
      stall("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"),
      async (server, client) => {
        const response = await client.send(server.target, request(server.target));
        assert.equal((await readError(response.body)).kind, "timeout");
      },
    );
  });
  await t.step("small body read whole", async () => {
    await withBackend(
      stall("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nstart"),
      async (server, client) => {
        const err = await rejection(client.send(server.target, request(server.target)));
        assert.equal(err.kind, "timeout");
        assert.equal(err.requestSent, true);
      },
    );
  });
});

Deno.test("cancelling a response body closes the socket instead of pooling it", async () => {
  let closedByClient = false;
  await withBackend(async (conn, index) => {
    await conn.readRequest();
    if (index > 0) return await conn.write(OK);
    await conn.write("HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n");
    await conn.write(new Uint8Array(100_000));
    await conn.waitClosed();
    closedByClient = true;
  }, async (server, client) => {
    const response = await client.send(server.target, makeRequest(server.target));
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel();
    assert.equal(await (await client.send(server.target, makeRequest(server.target))).text(), "ok");
    assert.equal(server.accepted, 2);
  });
  assert.equal(closedByClient, true);
});

Deno.test("an abort while the body streams errors the stream and closes the socket", async () => {
  const controller = new AbortController();
  await withBackend(async (conn) => {
    await conn.readRequest();
    await conn.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    await conn.waitClosed();
  }, async (server, client) => {
    const response = await client.send(
      server.target,
      makeRequest(server.target, { signal: controller.signal }),
    );
    const reader = response.body!.getReader();
    assert.equal(new TextDecoder().decode((await reader.read()).value), "hello");
    const next = reader.read();
    controller.abort();
    const err = await next.then(() => assert.fail("read succeeded"), (e) => e);
    assert.ok(err instanceof UpstreamError);
    assert.equal(err.kind, "aborted");
    assert.equal(client.stats().active, 0);
  });
});
