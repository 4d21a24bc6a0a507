import assert from "node:assert/strict";
import { UpstreamError } from "../../../src/upstream/client.ts";
import {
  type ConnectionScript,
  delay,
  makeRequest,
  type ReceivedRequest,
  withBackend,
} from "./scripted_server.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// Answers each request with the size of the body it received, after recording the request.
function recordingBackend(seen: ReceivedRequest[]): ConnectionScript {
  return async (conn) => {
    for (let request; (request = await conn.readRequest()) !== null;) {
      seen.push(request);
      const answer = String(request.body.length);
      await conn.write(`HTTP/1.1 200 OK\r\ncontent-length: ${answer.length}\r\n\r\n${answer}`);
    }
  };
}

function field(request: ReceivedRequest, name: string): string[] {
  return request.headers.filter(([n]) => n === name).map(([, value]) => value);
}

function streamOf(...parts: string[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const part of parts) controller.enqueue(encoder.encode(part));
      controller.close();
    },
  });
}

Deno.test("send() frames request bodies and never duplicates host or framing fields", async (t) => {
  const seen: ReceivedRequest[] = [];
  await withBackend(recordingBackend(seen), async (server, client) => {
    const target = server.target;
    const send = async (method: string, body: Uint8Array | ReadableStream<Uint8Array> | null, extra = {}) => {
      const headers = new Headers({ host: target.authority, ...extra });
      await (await client.send(target, makeRequest(target, { method, body, headers }))).text();
      return seen.at(-1)!;
    };
    await t.step("a Uint8Array body gets its own content-length", async () => {
      const request = await send("POST", encoder.encode("hello"), { "content-length": "99" });
      assert.deepEqual(field(request, "content-length"), ["5"]);
      assert.deepEqual(field(request, "transfer-encoding"), []);
      assert.equal(decoder.decode(request.body), "hello");
      assert.deepEqual(field(request, "host"), [target.authority]);
    });
    await t.step("a stream with a valid content-length is sent with that length", async () => {
      const request = await send("PUT", streamOf("abc", "defg"), { "content-length": "7" });
      assert.deepEqual(field(request, "content-length"), ["7"]);
      assert.deepEqual(field(request, "transfer-encoding"), []);
      assert.equal(decoder.decode(request.body), "abcdefg");
    });
    await t.step("a stream without content-length is sent chunked", async () => {
      const request = await send("POST", streamOf("abc", "", "defg"), { "transfer-encoding": "gzip" });
      assert.deepEqual(field(request, "transfer-encoding"), ["chunked"]);
      assert.deepEqual(field(request, "content-length"), []);
      assert.equal(decoder.decode(request.body), "abcdefg");
    });
    await t.step("a bodiless POST says content-length: 0", async () => {
      assert.deepEqual(field(await send("POST", null), "content-length"), ["0"]);
    });
    await t.step("a bodiless GET has no framing fields", async () => {
      const request = await send("GET", null, { "content-length": "0" });
      assert.deepEqual(field(request, "content-length"), []);
      assert.deepEqual(field(request, "transfer-encoding"), []);
    });
    await t.step("a Latin-1 field value goes out as single bytes", async () => {
      const request = await send("GET", null, { "x-name": "caf\xe9" });
      // The backend decodes UTF-8: a lone 0xE9 byte reads as U+FFFD, the UTF-8 form C3 A9 would read as é.
      assert.match(request.head, /\r\nx-name: caf\ufffd\r\n/);
    });
    await t.step("a missing host is filled from the target", async () => {
      await (await client.send(target, makeRequest(target, { headers: new Headers({ "x-a": "1" }) }))).text();
      assert.deepEqual(field(seen.at(-1)!, "host"), [target.authority]);
    });
    assert.equal(server.accepted, 1);
  });
});

Deno.test("send() streams an 8 MiB body chunk by chunk without buffering it", async () => {
  const total = 8 * 1024 * 1024;
  const chunk = new Uint8Array(64 * 1024).fill(42);
  let produced = 0;
  let producedBeforeRead = -1;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (produced === total) return controller.close();
      produced += chunk.length;
      controller.enqueue(chunk.slice());
    },
  }, { highWaterMark: 0 });
  const seen: ReceivedRequest[] = [];
  await withBackend(async (conn) => {
    const request = (await conn.readHead())!;
    // Hold the body back: a client that buffered it would run the producer to the end meanwhile.
    await delay(200);
    producedBeforeRead = produced;
    await conn.readBody(request);
    seen.push(request);
    await conn.write("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
  }, async (server, client) => {
    const response = await client.send(server.target, makeRequest(server.target, { method: "POST", body }));
    assert.equal(response.status, 200);
    await response.body?.cancel();
  });
  assert.equal(seen[0].body.length, total);
  assert.ok(seen[0].body.every((b) => b === 42));
  assert.ok(producedBeforeRead < total, `the whole body was produced before the backend read it`);
});

Deno.test("send() fails when a stream disagrees with its declared content-length", async (t) => {
  for (const [name, parts] of [["longer", ["abcd", "efgh"]], ["shorter", ["ab"]]] as const) {
    await t.step(`a ${name} stream`, async () => {
      await withBackend(async (conn) => {
        await conn.readHead();
        await conn.waitClosed();
      }, async (server, client) => {
        const headers = new Headers({ host: server.target.authority, "content-length": "5" });
        const request = makeRequest(server.target, { method: "POST", headers, body: streamOf(...parts) });
        const err = await client.send(server.target, request).then(() => assert.fail("sent"), (e) => e);
        assert.ok(err instanceof UpstreamError);
        assert.equal(err.kind, "protocol");
        assert.match(err.message, new RegExp(`${name} than its content-length of 5`));
        assert.equal(client.stats().active, 0);
      });
    });
  }
});

Deno.test("send() rejects fields, methods and paths that would split the request, before connecting", async (t) => {
  class InjectingHeaders extends Headers {
    override *[Symbol.iterator](): IterableIterator<[string, string]> {
      yield ["host", "127.0.0.1"];
      yield ["x-evil", "a\r\nInjected: 1"];
    }
  }
  const cases: [string, Record<string, unknown>][] = [
    ["a CR LF in a field value", { headers: new InjectingHeaders() }],
    ["a space in the method", { method: "GET /x HTTP/1.1\r\n" }],
    ["a CR LF in the path", { path: "/a\r\nX: 1" }],
    ["a space in the path", { path: "/a b" }],
  ];
  await withBackend(async () => {}, async (server, client) => {
    for (const [name, overrides] of cases) {
      await t.step(name, async () => {
        const err = await client.send(server.target, makeRequest(server.target, overrides)).then(
          () => assert.fail("sent"),
          (e) => e,
        );
        assert.ok(err instanceof UpstreamError);
        assert.equal(err.kind, "protocol");
        assert.equal(err.requestSent, false);
      });
    }
    assert.equal(server.accepted, 0);
  });
});

Deno.test("send() honours Expect: 100-continue", async (t) => {
  const headers = (target: { authority: string }) =>
    new Headers({ host: target.authority, expect: "100-continue", "content-type": "text/plain" });
  await t.step("the body follows the backend's 100 Continue", async () => {
    await withBackend(async (conn) => {
      const request = (await conn.readHead())!;
      await conn.write("HTTP/1.1 100 Continue\r\n\r\n");
      await conn.readBody(request);
      const text = decoder.decode(request.body);
      await conn.write(`HTTP/1.1 200 OK\r\ncontent-length: ${text.length}\r\n\r\n${text}`);
    }, async (server, client) => {
      const body = encoder.encode("payload");
      const response = await client.send(
        server.target,
        makeRequest(server.target, {
          method: "POST",
          headers: headers(server.target),
          body,
        }),
      );
      assert.equal(await response.text(), "payload");
    });
  });
  await t.step("a final response instead of 100 means the body is never sent", async () => {
    let leftover = -1;
    await withBackend(async (conn) => {
      await conn.readHead();
      await conn.write("HTTP/1.1 401 Unauthorized\r\ncontent-length: 4\r\n\r\nnope");
      leftover = await conn.waitClosed();
    }, async (server, client) => {
      const response = await client.send(
        server.target,
        makeRequest(server.target, {
          method: "POST",
          headers: headers(server.target),
          body: streamOf("never ", "sent"),
        }),
      );
      assert.equal(response.status, 401);
      assert.equal(await response.text(), "nope");
    });
    assert.equal(leftover, 0);
  });
  await t.step("without an answer the body goes after a second", async () => {
    await withBackend(async (conn) => {
      const request = (await conn.readHead())!;
      await conn.readBody(request);
      await conn.write(`HTTP/1.1 200 OK\r\ncontent-length: ${request.body.length}\r\n\r\n`);
      await conn.write(request.body);
    }, async (server, client) => {
      const response = await client.send(
        server.target,
        makeRequest(server.target, {
          method: "PUT",
          headers: headers(server.target),
          body: encoder.encode("late"),
        }),
      );
      assert.equal(await response.text(), "late");
    });
  });
});

Deno.test("send() gives up on a backend that stops reading the request body", async () => {
  let release!: () => void;
  const done = new Promise<void>((resolve) => release = resolve);
  await withBackend(async (conn) => {
    await conn.readHead();
    await done;
  }, async (server, client) => {
    const body = new Uint8Array(32 * 1024 * 1024);
    const request = makeRequest(server.target, { method: "PUT", body, idleTimeoutMs: 200 });
    const err = await client.send(server.target, request).then(() => assert.fail("sent"), (e) => e);
    release();
    assert.ok(err instanceof UpstreamError);
    assert.equal(err.kind, "timeout");
    assert.match(err.message, /accepted no data for 200 ms/);
  });
});

Deno.test("send() adds the stream body bytes it reads to the request's bodyCounter", async (t) => {
  const seen: ReceivedRequest[] = [];
  await withBackend(recordingBackend(seen), async (server, client) => {
    const target = server.target;
    const send = async (body: Uint8Array | ReadableStream<Uint8Array>, extra = {}) => {
      const bodyCounter = { requestBodyBytes: 0 };
      const headers = new Headers({ host: target.authority, ...extra });
      const request = makeRequest(target, { method: "POST", body, headers, bodyCounter });
      await (await client.send(target, request)).text();
      return bodyCounter.requestBodyBytes;
    };
    await t.step("a chunked stream counts its bytes", async () => {
      assert.equal(await send(streamOf("abc", "", "defg")), 7);
    });
    await t.step("a stream with a content-length counts its bytes", async () => {
      assert.equal(await send(streamOf("abc", "defg"), { "content-length": "7" }), 7);
    });
    await t.step("a Uint8Array body is not counted: whoever buffered it counted it", async () => {
      assert.equal(await send(encoder.encode("hello")), 0);
    });
  });
  await t.step("a stream that fails midway counts what was read", async () => {
    await withBackend(async (conn) => {
      await conn.readHead();
      await conn.waitClosed();
    }, async (server, client) => {
      let pulls = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (pulls++ === 0) controller.enqueue(encoder.encode("abcde"));
          else controller.error(new Error("client went away"));
        },
      });
      const bodyCounter = { requestBodyBytes: 0 };
      const request = makeRequest(server.target, { method: "POST", body, bodyCounter });
      const err = await client.send(server.target, request).then(() => assert.fail("sent"), (e) => e);
      assert.ok(err instanceof UpstreamError);
      assert.equal(err.kind, "aborted");
      assert.equal(bodyCounter.requestBodyBytes, 5);
    });
  });
});
