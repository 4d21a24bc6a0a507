import assert from "node:assert/strict";
import { type ConnectionScript, delay, makeRequest, withBackend } from "./scripted_server.ts";

const OK = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

interface FramingCase {
  name: string;
  method?: string;
  /** The first response on the first connection, written in pieces (with a pause between them). */
  response: string[];
  /** The backend closes the connection after the first response. */
  closes?: boolean;
  status: number;
  body: string;
  reused: boolean;
  headers?: [string, string][];
}

const cases: FramingCase[] = [
  {
    name: "a Content-Length body",
    response: ["HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"],
    status: 200,
    body: "hello",
    reused: true,
    headers: [["content-type", "text/plain"]],
  },
  {
    name: "a Content-Length body that arrives after the head",
    response: ["HTTP/1.1 201 Created\r\nContent-Length: 11\r\n\r\nhello", " world"],
    status: 201,
    body: "hello world",
    reused: true,
  },
  {
    name: "a chunked body with extensions and trailers",
    response: [
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n6 ; x\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
    ],
    status: 200,
    body: "hello world",
    reused: true,
  },
  {
    name: "a chunked body split across packets",
    response: [
      "HTTP/1.1 200 OK\r\ntransfer-encoding: CHUNKED\r\n\r\n5\r",
      "\nhel",
      "lo\r\n6\r\n world\r",
      "\n0\r\n",
      "\r\n",
    ],
    status: 200,
    body: "hello world",
    reused: true,
  },
  {
    name: "a body delimited by connection close",
    response: ["HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ", "close"],
    closes: true,
    status: 200,
    body: "until close",
    reused: false,
  },
  {
    name: "a HEAD response with Content-Length and no body",
    method: "HEAD",
    response: ["HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"],
    status: 200,
    body: "",
    reused: true,
    headers: [["content-length", "5"]],
  },
  {
    name: "a 204 without body",
    response: ["HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n"],
    status: 204,
    body: "",
    reused: true,
  },
  {
    name: "a 304 with Content-Length and no body",
    response: ['HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: "x"\r\n\r\n'],
    status: 304,
    body: "",
    reused: true,
  },
  {
    name: "interim 1xx responses before the final one",
    response: [
      "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
    ],
    status: 200,
    body: "hi",
    reused: true,
  },
  {
    name: "Connection: close from the backend",
    response: ["HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi"],
    status: 200,
    body: "hi",
    reused: false,
  },
  {
    name: "an HTTP/1.0 response without keep-alive",
    response: ["HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi"],
    status: 200,
    body: "hi",
    reused: false,
  },
  {
    name: "an HTTP/1.0 response with Connection: keep-alive",
    response: ["HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi"],
    status: 200,
    body: "hi",
    reused: true,
  },
  {
    name: "repeated Set-Cookie fields",
    response: ["HTTP/1.1 200 OK\r\nSet-Cookie: a=1; Path=/\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n"],
    status: 200,
    body: "",
    reused: true,
  },
  {
    name: "identical repeated Content-Length values",
    response: ["HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi"],
    status: 200,
    body: "hi",
    reused: true,
  },
  {
    name: "an obs-text field value, read as Latin-1 like fetch does",
    response: ["HTTP/1.1 200 OK\r\nX-Name: caf\xe9\r\nContent-Length: 0\r\n\r\n"],
    status: 200,
    body: "",
    reused: true,
    headers: [["x-name", "caf\xe9"]],
  },
];

// Connection 0 answers its first request with the case's response, everything else with OK.
function scriptFor(c: FramingCase): ConnectionScript {
  return async (conn, index) => {
    let first = index === 0;
    while (await conn.readRequest() !== null) {
      if (!first) {
        await conn.write(OK);
        continue;
      }
      first = false;
      for (const [i, piece] of c.response.entries()) {
        if (i > 0) await delay(10);
        await conn.write(Uint8Array.from(piece, (ch) => ch.charCodeAt(0)));
      }
      if (c.closes) return;
    }
  };
}

Deno.test("send() reads every kind of response framing and reuses the connection only when allowed", async (t) => {
  for (const c of cases) {
    await t.step(c.name, async () => {
      await withBackend(scriptFor(c), async (server, client) => {
        const response = await client.send(
          server.target,
          makeRequest(server.target, { method: c.method ?? "GET" }),
        );
        assert.equal(response.status, c.status);
        assert.equal(await response.text(), c.body);
        for (const [name, value] of c.headers ?? []) assert.equal(response.headers.get(name), value);
        const next = await client.send(server.target, makeRequest(server.target));
        assert.equal(await next.text(), "ok");
        assert.equal(server.accepted, c.reused ? 1 : 2);
      });
    });
  }
});

Deno.test("send() keeps repeated Set-Cookie fields apart", async () => {
  const script = scriptFor(cases.find((c) => c.name === "repeated Set-Cookie fields")!);
  await withBackend(script, async (server, client) => {
    const response = await client.send(server.target, makeRequest(server.target));
    assert.deepEqual(response.headers.getSetCookie(), ["a=1; Path=/", "b=2"]);
    await response.body?.cancel();
  });
});

Deno.test("send() streams a large Content-Length body and then reuses the connection", async () => {
  const size = 300_000;
  await withBackend(async (conn) => {
    await conn.readRequest();
    await conn.write(`HTTP/1.1 200 OK\r\ncontent-length: ${size}\r\n\r\n`);
    for (let sent = 0; sent < size; sent += 50_000) await conn.write(new Uint8Array(50_000).fill(7));
    await conn.readRequest();
    await conn.write(OK);
  }, async (server, client) => {
    const response = await client.send(server.target, makeRequest(server.target));
    const body = new Uint8Array(await response.arrayBuffer());
    assert.equal(body.length, size);
    assert.ok(body.every((b) => b === 7));
    assert.equal(await (await client.send(server.target, makeRequest(server.target))).text(), "ok");
    assert.equal(server.accepted, 1);
  });
});

Deno.test("send() does not reuse the connection after a request with Connection: close", async () => {
  await withBackend(keepAnsweringOk, async (server, client) => {
    const headers = new Headers({ host: server.target.authority, connection: "close" });
    await (await client.send(server.target, makeRequest(server.target, { headers }))).text();
    await (await client.send(server.target, makeRequest(server.target))).text();
    assert.equal(server.accepted, 2);
  });
});

Deno.test("send() streams a chunked body delivered one byte at a time", async () => {
  const response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
    "3;ext\r\nabc\r\n1\r\nd\r\n0\r\nTrailer-A: 1\r\nTrailer-B: 2\r\n\r\n";
  await withBackend(async (conn) => {
    await conn.readRequest();
    await conn.dribble(response, 1, 1);
    await conn.readRequest();
    await conn.write(OK);
  }, async (server, client) => {
    const first = await client.send(server.target, makeRequest(server.target));
    assert.equal(await first.text(), "abcd");
    assert.equal(await (await client.send(server.target, makeRequest(server.target))).text(), "ok");
    assert.equal(server.accepted, 1);
  });
});

async function keepAnsweringOk(conn: Parameters<ConnectionScript>[0]): Promise<void> {
  while (await conn.readRequest() !== null) await conn.write(OK);
}
