/**
 * Hostile-backend audit of the pooled HTTP/1.1 client: framing corner cases (RFC 9112), smuggling defences,
 * pool limits, timeouts and cancellation, each against a raw TCP backend scripted byte by byte.
 */
import assert from "node:assert/strict";
import { UpstreamError, type UpstreamTarget } from "../../../src/upstream/client.ts";
import { createHttp1Client } from "../../../src/upstream/http1/http1_client.ts";
import {
  type ConnectionScript,
  delay,
  keepAnswering,
  makeRequest,
  readError,
  rejection,
  until,
  withBackend,
} from "./scripted_server.ts";

const OK = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
const encoder = new TextEncoder();
const bytes = (text: string) => Uint8Array.from(text, (ch) => ch.charCodeAt(0));

// Resolves with the promise's outcome, or "pending" if it has not settled within `ms`.
async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<"pending" | "settled"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"pending">((resolve) => timer = setTimeout(resolve, ms, "pending"));
  try {
    return await Promise.race([promise.then(() => "settled" as const, () => "settled" as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// Connection 0 answers its first request with `pieces` (a pause between them), then `OK` to every other one.
function firstThenOk(pieces: string[], closes = false): ConnectionScript {
  return async (conn, index) => {
    let first = index === 0;
    while (await conn.readRequest() !== null) {
      if (!first) {
        await conn.write(OK);
        continue;
      }
      first = false;
      for (const [i, piece] of pieces.entries()) {
        if (i > 0) await delay(10);
        await conn.write(bytes(piece));
      }
      if (closes) return;
    }
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Framing

Deno.test("send() skips any number of interim responses, split anywhere, and reuses the connection", async () => {
  const interim = "HTTP/1.1 100 Continue\r\n\r\n" +
    "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n".repeat(3) +
    "HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 100 Continue\r\nX-Odd: 1\r\n\r\n";
  const final = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n";
  const wire = interim + final;
  await withBackend(async (conn) => {
    await conn.readRequest();
    await conn.dribble(wire, 7, 1);
    while (await conn.readRequest() !== null) await conn.write(OK);
  }, async (server, client) => {
    const response = await client.send(server.target, makeRequest(server.target));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("link"), null, "interim fields never leak into the final response");
    assert.equal(await response.text(), "hi");
    assert.equal(await (await client.send(server.target, makeRequest(server.target))).text(), "ok");
    assert.equal(server.accepted, 1);
  });
});

Deno.test("send() does not let a stream of interim responses extend the first-byte deadline", async () => {
  await withBackend(async (conn) => {
    await conn.readRequest();
    for (let i = 0; i < 100; i++) {
      await conn.write("HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n");
      await delay(20);
    }
  }, async (server, client) => {
    const started = Date.now();
    const err = await rejection(
      client.send(server.target, makeRequest(server.target, { firstByteTimeoutMs: 150 })),
    );
    assert.equal(err.kind, "timeout");
    assert.ok(Date.now() - started < 1000);
    assert.equal(client.stats().active + client.stats().idle, 0);
  });
});

Deno.test("send() never reuses a connection whose bodiless response came with body bytes", async (t) => {
  const cases: [string, string, string[]][] = [
    ["a 204 followed by a body", "GET", ["HTTP/1.1 204 No Content\r\n\r\njunk"]],
    ["a 304 followed by its Content-Length worth of bytes", "GET", [
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\nhello",
    ]],
    ["a HEAD response followed by its body", "HEAD", ["HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"]],
    ["a chunked HEAD response followed by a last chunk", "HEAD", [
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ]],
    ["a 204 whose body arrives after the head", "GET", ["HTTP/1.1 204 No Content\r\n\r\n", "late junk"]],
  ];
  for (const [name, method, pieces] of cases) {
    await t.step(name, async () => {
      let firstDone!: () => void;
      const written = new Promise<void>((resolve) => firstDone = resolve);
      await withBackend(async (conn, index) => {
        if (index > 0) return await keepAnswering(OK)(conn, index);
        await conn.readRequest();
        for (const [i, piece] of pieces.entries()) {
          if (i > 0) await delay(10);
          await conn.write(piece);
        }
        firstDone();
        await conn.waitClosed();
      }, async (server, client) => {
        const response = await client.send(server.target, makeRequest(server.target, { method }));
        assert.equal(await response.text(), "");
        await written;
        assert.ok(await until(() => client.stats().idle === 0));
        assert.equal(await (await client.send(server.target, makeRequest(server.target))).text(), "ok");
        assert.equal(server.accepted, 2);
      });
    });
  }
});

Deno.test("send() reuses the connection after every kind of complete body", async (t) => {
  const big = "x".repeat(10_000);
  const cases: [string, string[], string, Record<string, number>?][] = [
    ["Content-Length 0", ["HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"], ""],
    ["a small body after the head", ["HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "hello"], "hello"],
    [
      "a streamed Content-Length body",
      [`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n${big.slice(0, 100)}`, big.slice(100)],
      big,
      { smallBodyThreshold: 0 },
    ],
    [
      "a chunked body with large chunks read past the buffer",
      [
        `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${big.length.toString(16)}\r\n`,
        `${big}\r\n`,
        `${big.length.toString(16)}\r\n${big}\r\n0\r\n\r\n`,
      ],
      big + big,
    ],
    [
      "a chunked body with extensions, BWS, leading zeros and a last-chunk extension",
      [
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0003;a="b;c=d";e \t\r\nabc\r\nA \t;x=y\r\n0123456789\r\n',
        "0;end=1\r\nX-Checksum: 1\r\nX-Other: 2\r\n\r\n",
      ],
      "abc0123456789",
    ],
    ["a 205 with Content-Length 0", ["HTTP/1.1 205 Reset Content\r\nContent-Length: 0\r\n\r\n"], ""],
    [
      "a 1xx then a 304",
      ["HTTP/1.1 100 Continue\r\n\r\n", 'HTTP/1.1 304 Not Modified\r\nETag: "a"\r\n\r\n'],
      "",
    ],
  ];
  for (const [name, pieces, body, options] of cases) {
    await t.step(name, async () => {
      await withBackend(async (conn) => {
        await conn.readRequest();
        for (const [i, piece] of pieces.entries()) {
          if (i > 0) await delay(10);
          await conn.write(piece);
        }
        while (await conn.readRequest() !== null) await conn.write(OK);
      }, async (server, client) => {
        const response = await client.send(server.target, makeRequest(server.target));
        assert.equal(await response.text(), body);
        for (let i = 0; i < 3; i++) {
          assert.equal(await (await client.send(server.target, makeRequest(server.target))).text(), "ok");
        }
        assert.equal(server.accepted, 1);
      }, options);
    });
  }
});

Deno.test("send() does not reuse a connection after a 205 that carried a body", async () => {
  await withBackend(
    firstThenOk(["HTTP/1.1 205 Reset Content\r\nContent-Length: 4\r\n\r\nbody"]),
    async (server, client) => {
      const response = await client.send(server.target, makeRequest(server.target));
      assert.equal(response.status, 205);
      assert.equal(await response.text(), "");
      assert.equal(await (await client.send(server.target, makeRequest(server.target))).text(), "ok");
      assert.equal(server.accepted, 2);
    },
  );
});

Deno.test("send() reads a chunked HTTP/1.0 response but never reuses its connection (RFC 9112 §6.1)", async () => {
  await withBackend(
    firstThenOk([
      "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
    ]),
    async (server, client) => {
      assert.equal(await (await client.send(server.target, makeRequest(server.target))).text(), "hi");
      assert.equal(await (await client.send(server.target, makeRequest(server.target))).text(), "ok");
      assert.equal(server.accepted, 2);
    },
  );
});

Deno.test("send() reads a large close-delimited body to the end and never pools its socket", async () => {
  const size = 200_000;
  await withBackend(async (conn, index) => {
    await conn.readRequest();
    if (index > 0) return await conn.write(OK);
    await conn.write("HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n");
    for (let sent = 0; sent < size; sent += 40_000) await conn.write(new Uint8Array(40_000).fill(3));
  }, async (server, client) => {
    const response = await client.send(server.target, makeRequest(server.target));
    const body = new Uint8Array(await response.arrayBuffer());
    assert.equal(body.length, size);
    assert.ok(body.every((b) => b === 3));
    assert.equal(await (await client.send(server.target, makeRequest(server.target))).text(), "ok");
    assert.equal(server.accepted, 2);
  });
});

Deno.test("send() never pools a connection that a 2xx to CONNECT turned into a tunnel", async () => {
  await withBackend(
    firstThenOk(["HTTP/1.1 200 Connection Established\r\nContent-Length: 0\r\n\r\n"]),
    async (server, client) => {
      const request = makeRequest(server.target, { method: "CONNECT", path: "example.com:443" });
      const response = await client.send(server.target, request);
      assert.equal(response.status, 200);
      await response.body?.cancel();
      assert.equal(await (await client.send(server.target, makeRequest(server.target))).text(), "ok");
      assert.equal(server.accepted, 2);
    },
  );
});

// Each response is rejected as a protocol error and its connection is never used again.
const rejected: [string, string][] = [
  [
    "chunk data followed by a bare LF",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\n0\r\n\r\n",
  ],
  ["a trailer ended by a bare LF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\n\r\n"],
  [
    "a chunk size with a leading space",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n 2\r\nok\r\n0\r\n\r\n",
  ],
  ["a negative chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-2\r\nok\r\n0\r\n\r\n"],
  ["a 0x-prefixed chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\nok\r\n0\r\n\r\n"],
  [
    "a NUL in a chunk extension",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;a\0\r\nok\r\n0\r\n\r\n",
  ],
  [
    "a chunk longer than its size",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokay\r\n0\r\n\r\n",
  ],
  ["obs-fold with a tab", "HTTP/1.1 200 OK\r\nX-A: a\r\n\tb\r\nContent-Length: 2\r\n\r\nok"],
  [
    "obs-fold of a framing field",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 2\r\n\r\nok",
  ],
  ["a head that starts with a folded line", "HTTP/1.1 200 OK\r\n Content-Length: 2\r\n\r\nok"],
  ["a chunked, identity coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"],
  [
    "identity then chunked in two fields",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
  ],
  ["a hex Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 0x2\r\n\r\nok"],
  ["a Content-Length with inner space", "HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\nok"],
  ["an empty Content-Length", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\nok"],
  ["a Content-Length list with an empty item", "HTTP/1.1 200 OK\r\nContent-Length: 2,,2\r\n\r\nok"],
  [
    "Transfer-Encoding with Content-Length on a 304",
    "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n",
  ],
  ["a field name with a non-token byte", "HTTP/1.1 200 OK\r\nX@Y: 1\r\nContent-Length: 2\r\n\r\nok"],
  ["an empty field name", "HTTP/1.1 200 OK\r\n: 1\r\nContent-Length: 2\r\n\r\nok"],
  ["a vertical tab in a field value", "HTTP/1.1 200 OK\r\nX-A: a\vb\r\nContent-Length: 2\r\n\r\nok"],
  ["a status line with a leading space", " HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"],
  ["a lowercase protocol name", "http/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"],
  ["a status line with a tab separator", "HTTP/1.1\t200 OK\r\nContent-Length: 2\r\n\r\nok"],
  ["a response that is only an empty line", "\r\n\r\n"],
  [
    "an interim response with a bare LF",
    "HTTP/1.1 100 Continue\n\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
  ],
];

Deno.test("send() rejects more smuggling shapes and never reuses their connection", async (t) => {
  for (const [name, response] of rejected) {
    await t.step(name, async () => {
      await withBackend(firstThenOk([response]), async (server, client) => {
        const response = client.send(server.target, makeRequest(server.target));
        // A chunked body may be accepted with the head and fail while streaming.
        const err = await response.then((r) => readError(r.body), (e) => e);
        assert.ok(err instanceof UpstreamError, String(err));
        assert.equal(err.kind, "protocol", err.message);
        assert.equal(await (await client.send(server.target, makeRequest(server.target))).text(), "ok");
        assert.equal(server.accepted, 2);
      }, { maxResponseHeadBytes: 2048 });
    });
  }
});

Deno.test("send() stops reading a huge head or trailer section at the limit, without waiting for its end", async (t) => {
  const floods: [string, string][] = [
    ["a 1 MiB field value", `HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(1 << 20)}`],
    ["a million tiny fields", `HTTP/1.1 200 OK\r\n${"a: b\r\n".repeat(200_000)}`],
    ["endless interim responses in one burst", "HTTP/1.1 103 Early Hints\r\n\r\n".repeat(40_000)],
    [
      "an endless trailer section",
      `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n${"X-T: t\r\n".repeat(100_000)}`,
    ],
    [
      "an endless chunk extension",
      `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;${"e".repeat(100_000)}`,
    ],
  ];
  for (const [name, flood] of floods) {
    await t.step(name, async () => {
      await withBackend(async (conn) => {
        await conn.readRequest();
        await conn.write(flood).catch(() => {});
        await conn.waitClosed();
      }, async (server, client) => {
        const started = Date.now();
        const result = client.send(server.target, makeRequest(server.target, { firstByteTimeoutMs: 500 }));
        const err = await result.then((r) => readError(r.body), (e) => e);
        assert.ok(err instanceof UpstreamError, String(err));
        // Endless 1xx heads are each small: they end at the first-byte deadline instead.
        assert.ok(err.kind === "protocol" || err.kind === "timeout", err.message);
        assert.ok(Date.now() - started < 2500);
        assert.equal(client.stats().active + client.stats().idle, 0);
      }, { maxResponseHeadBytes: 8192 });
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Pool, cancellation and timeouts

// Answers each request once `gate` resolves.
function gated(gate: Promise<void>): ConnectionScript {
  return async (conn) => {
    while (await conn.readRequest() !== null) {
      await gate;
      await conn.write(OK);
    }
  };
}

Deno.test("a request queued behind maxConnectionsPerBackend fails after connectTimeoutMs instead of waiting forever", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  await withBackend(gated(gate), async (server, client) => {
    const first = client.send(server.target, makeRequest(server.target));
    assert.ok(await until(() => server.accepted === 1));
    const queued = client.send(server.target, makeRequest(server.target, { connectTimeoutMs: 100 }));
    const settled = await settledWithin(queued, 1000);
    release();
    assert.equal(settled, "settled", "the queued request still waits");
    const err = await rejection(queued);
    assert.equal(err.kind, "connect_timeout");
    assert.equal(err.requestSent, false);
    assert.match(err.message, /no connection .* within 100 ms/);
    assert.equal(client.stats().queued, 0);
    assert.equal(await (await first).text(), "ok");
    assert.equal(server.accepted, 1);
  }, { maxConnectionsPerBackend: 1 });
});

Deno.test("an abort after the head frees the pool slot even if the body is never read nor cancelled", async () => {
  await withBackend(async (conn, index) => {
    await conn.readRequest();
    if (index > 0) return await conn.write(OK);
    await conn.write("HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nstart");
    await conn.waitClosed();
  }, async (server, client) => {
    const controller = new AbortController();
    const response = await client.send(
      server.target,
      makeRequest(server.target, { signal: controller.signal }),
    );
    controller.abort();
    const next = client.send(server.target, makeRequest(server.target));
    const settled = await settledWithin(next, 1000);
    await response.body?.cancel();
    assert.equal(settled, "settled", "the next request still waits for the abandoned slot");
    assert.equal(await (await next).text(), "ok");
    assert.equal(client.stats().active, 0);
  }, { maxConnectionsPerBackend: 1 });
});

Deno.test("an abort in the middle of the response head closes the socket and hands its slot to the queue", async () => {
  let backendSawClose = false;
  await withBackend(async (conn, index) => {
    await conn.readRequest();
    if (index > 0) return await conn.write(OK);
    await conn.write("HTTP/1.1 200 OK\r\nContent-Le");
    await conn.waitClosed();
    backendSawClose = true;
  }, async (server, client) => {
    const controller = new AbortController();
    const first = client.send(server.target, makeRequest(server.target, { signal: controller.signal }));
    assert.ok(await until(() => server.accepted === 1));
    const queued = client.send(server.target, makeRequest(server.target));
    await delay(20);
    controller.abort();
    const err = await rejection(first);
    assert.equal(err.kind, "aborted");
    assert.equal(await (await queued).text(), "ok");
    assert.ok(await until(() => backendSawClose));
    assert.equal(client.stats().active, 0);
  }, { maxConnectionsPerBackend: 1 });
});

Deno.test("an abort while a small body is read whole rejects with aborted and closes the socket", async () => {
  await withBackend(async (conn) => {
    await conn.readRequest();
    await conn.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst");
    await conn.waitClosed();
  }, async (server, client) => {
    const controller = new AbortController();
    const pending = client.send(server.target, makeRequest(server.target, { signal: controller.signal }));
    await delay(30);
    controller.abort();
    const err = await rejection(pending);
    assert.equal(err.kind, "aborted");
    assert.equal(client.stats().active + client.stats().idle, 0);
  });
});

Deno.test("an abort while the client's request body stalls rejects promptly", async () => {
  let stalled!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      stalled = controller;
      controller.enqueue(encoder.encode("part"));
    },
  });
  await withBackend(async (conn) => {
    await conn.readHead();
    await conn.waitClosed();
  }, async (server, client) => {
    const controller = new AbortController();
    const pending = client.send(
      server.target,
      makeRequest(server.target, { method: "POST", body, signal: controller.signal }),
    );
    await delay(30);
    controller.abort();
    const settled = await settledWithin(pending, 1000);
    if (settled === "pending") stalled.error(new Error("test gave up"));
    const err = await rejection(pending);
    assert.equal(settled, "settled", "send() waits for a body the client will never send");
    assert.equal(err.kind, "aborted");
    assert.equal(client.stats().active, 0);
  });
});

Deno.test("a request body stream that errors midway closes the socket and frees its slot", async () => {
  let backendSawClose = false;
  await withBackend(async (conn, index) => {
    if (index > 0) return await keepAnswering(OK)(conn, index);
    await conn.readHead();
    await conn.waitClosed();
    backendSawClose = true;
  }, async (server, client) => {
    let n = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await delay(5);
        if (n++ < 3) controller.enqueue(encoder.encode("chunk"));
        else controller.error(new Error("client upload broke"));
      },
    });
    const err = await rejection(
      client.send(server.target, makeRequest(server.target, { method: "PUT", body })),
    );
    assert.equal(err.kind, "aborted");
    assert.ok(await until(() => backendSawClose));
    assert.equal(await (await client.send(server.target, makeRequest(server.target))).text(), "ok");
    assert.equal(server.accepted, 2);
  }, { maxConnectionsPerBackend: 1 });
});

Deno.test("an idle connection on which the backend sends 408 and closes is dropped, not read as a response", async () => {
  await withBackend(async (conn, index) => {
    await conn.readRequest();
    await conn.write(OK);
    if (index > 0) return;
    await delay(20);
    await conn.write("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  }, async (server, client) => {
    await (await client.send(server.target, makeRequest(server.target))).text();
    assert.ok(await until(() => client.stats().idle === 0));
    const response = await client.send(server.target, makeRequest(server.target));
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "ok");
    assert.equal(server.accepted, 2);
  });
});

Deno.test("a pooled socket the backend resets when it is reused is retried once on a fresh one", async () => {
  await withBackend(async (conn, index) => {
    await conn.readRequest();
    await conn.write(OK);
    if (index > 0) return await keepAnswering(OK)(conn, index);
    // Closing with the next request unread makes the kernel answer with RST rather than FIN.
    await delay(50);
  }, async (server, client) => {
    await (await client.send(server.target, makeRequest(server.target))).text();
    const response = await client.send(server.target, makeRequest(server.target));
    assert.equal(await response.text(), "ok");
    assert.equal(server.accepted, 2);
  });
});

Deno.test("with maxIdlePerBackend 0 every socket is closed after its exchange", async () => {
  await withBackend(keepAnswering(OK), async (server, client) => {
    for (let i = 0; i < 5; i++) {
      assert.equal(await (await client.send(server.target, makeRequest(server.target))).text(), "ok");
    }
    assert.equal(server.accepted, 5);
    assert.deepEqual(client.stats(), { idle: 0, active: 0, connects: 5, reuses: 0, waits: 0, queued: 0 });
  }, { maxIdlePerBackend: 0 });
});

Deno.test("a head and a small body that the backend never reads time out instead of hanging", async () => {
  let release!: () => void;
  const done = new Promise<void>((resolve) => release = resolve);
  // Gives up after a while so that a client that would hang fails the test instead of timing it out.
  const giveUp = setTimeout(release, 1500);
  await withBackend(() => done, async (server, client) => {
    const body = new Uint8Array(16 * 1024 * 1024);
    const started = Date.now();
    const err = await rejection(
      client.send(server.target, makeRequest(server.target, { method: "PUT", body, idleTimeoutMs: 200 })),
    );
    release();
    clearTimeout(giveUp);
    assert.equal(err.kind, "timeout", err.message);
    assert.match(err.message, /accepted no data for 200 ms/);
    assert.ok(Date.now() - started < 1000);
    assert.equal(client.stats().active, 0);
  }, { smallBodyThreshold: 32 * 1024 * 1024 });
});

Deno.test("a body dribbled within the idle limit is read whole; its total time is not limited", async () => {
  const body = "0123456789abcdefghij";
  await withBackend(async (conn) => {
    await conn.readRequest();
    await conn.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n`);
    for (const ch of body) {
      await conn.write(`1\r\n${ch}\r\n`);
      await delay(15);
    }
    await conn.write("0\r\n\r\n");
    await conn.readRequest();
    await conn.write(OK);
  }, async (server, client) => {
    const response = await client.send(server.target, makeRequest(server.target, { idleTimeoutMs: 150 }));
    assert.equal(await response.text(), body);
    assert.equal(await (await client.send(server.target, makeRequest(server.target))).text(), "ok");
    assert.equal(server.accepted, 1);
  });
});

Deno.test("an early 417 after 103 Early Hints means an Expect: 100-continue body is never sent", async () => {
  let leftover = -1;
  await withBackend(async (conn) => {
    await conn.readHead();
    await conn.write("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n");
    await delay(10);
    await conn.write("HTTP/1.1 417 Expectation Failed\r\nContent-Length: 2\r\n\r\nno");
    leftover = await conn.waitClosed();
  }, async (server, client) => {
    const headers = new Headers({ host: server.target.authority, expect: "100-continue" });
    const request = makeRequest(server.target, { method: "POST", headers, body: encoder.encode("secret") });
    const response = await client.send(server.target, request);
    assert.equal(response.status, 417);
    assert.equal(await response.text(), "no");
  });
  assert.equal(leftover, 0);
});

Deno.test("an abort while waiting for 100 Continue rejects promptly and sends no body", async () => {
  let leftover = -1;
  await withBackend(async (conn) => {
    await conn.readHead();
    leftover = await conn.waitClosed();
  }, async (server, client) => {
    const controller = new AbortController();
    const headers = new Headers({ host: server.target.authority, expect: "100-continue" });
    const pending = client.send(
      server.target,
      makeRequest(server.target, {
        method: "POST",
        headers,
        body: encoder.encode("secret"),
        signal: controller.signal,
      }),
    );
    await delay(30);
    controller.abort();
    const started = Date.now();
    const err = await rejection(pending);
    assert.equal(err.kind, "aborted");
    assert.ok(Date.now() - started < 500);
    assert.equal(client.stats().active, 0);
  });
  assert.equal(leftover, 0);
});

Deno.test("requests aborted at random points under a full pool leave no slot, socket or waiter behind", async () => {
  await withBackend(async (conn) => {
    for (let request; (request = await conn.readRequest()) !== null;) {
      const wait = Number(request.path.slice(1)) % 4;
      if (wait > 0) await delay(wait * 3);
      await conn.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
      await delay(wait);
      await conn.write("hello");
    }
  }, async (server, client) => {
    const runs = Array.from({ length: 80 }, async (_, i) => {
      const controller = new AbortController();
      const timer = i % 3 === 0 ? setTimeout(() => controller.abort(), i % 17) : undefined;
      try {
        const response = await client.send(
          server.target,
          makeRequest(server.target, { path: `/${i}`, signal: controller.signal }),
        );
        return await response.text();
      } catch (err) {
        return err instanceof UpstreamError ? err.kind : String(err);
      } finally {
        clearTimeout(timer);
      }
    });
    const outcomes = await Promise.all(runs);
    assert.ok(outcomes.every((o) => o === "hello" || o === "aborted"), outcomes.join());
    const stats = client.stats();
    assert.equal(stats.active, 0);
    assert.equal(stats.queued, 0);
    assert.ok(server.accepted <= 4 + outcomes.filter((o) => o === "aborted").length);
  }, { maxConnectionsPerBackend: 4 });
});

Deno.test("an abort while connecting rejects with aborted and leaves no socket", async () => {
  // Linux drops SYNs to a listener whose accept queue is full, so a connect there hangs.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0, tcpBacklog: 1 });
  const fillers: Deno.Conn[] = [];
  const client = createHttp1Client();
  const target: UpstreamTarget = {
    protocol: "http:",
    hostname: "127.0.0.1",
    port: listener.addr.port,
    authority: `127.0.0.1:${listener.addr.port}`,
    key: `http://127.0.0.1:${listener.addr.port}`,
  };
  try {
    for (let i = 0; i < 8; i++) {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), 200);
      const conn = await Deno.connect({ port: target.port, signal: controller.signal }).catch(() => null);
      clearTimeout(timer);
      if (conn === null) break;
      fillers.push(conn);
    }
    const controller = new AbortController();
    const pending = client.send(target, makeRequest(target, { signal: controller.signal }));
    await delay(50);
    controller.abort();
    const err = await rejection(pending);
    assert.equal(err.kind, "aborted");
    assert.equal(err.requestSent, false);
    assert.equal(client.stats().active, 0);
  } finally {
    client.close();
    for (const conn of fillers) conn.close();
    listener.close();
  }
});
