import assert from "node:assert/strict";
import { UpstreamError } from "../../../src/upstream/client.ts";
import { ProtocolViolation } from "../../../src/upstream/http1/protocol_violation.ts";
import { parseResponseHead, scanHeadEnd } from "../../../src/upstream/http1/response_head.ts";
import { makeRequest, withBackend } from "./scripted_server.ts";

const OK = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
const bytes = (text: string) => Uint8Array.from(text, (ch) => ch.charCodeAt(0));

function parse(text: string, method = "GET") {
  const buf = bytes(text);
  const end = scanHeadEnd(buf, 0, 0, buf.length);
  assert.notEqual(end, -1, "head end not found");
  return parseResponseHead(buf, 0, end, method);
}

Deno.test("parseResponseHead() decides framing and keep-alive from the head", async (t) => {
  const table: [string, string, string, string, number, boolean][] = [
    ["content-length", "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", "GET", "length", 12, true],
    ["chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "GET", "chunked", -1, true],
    ["close-delimited", "HTTP/1.1 200 OK\r\n\r\n", "GET", "close", -1, false],
    ["HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", "HEAD", "none", -1, true],
    ["204", "HTTP/1.1 204 No Content\r\n\r\n", "GET", "none", -1, true],
    ["304", "HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\n\r\n", "GET", "none", -1, true],
    [
      "connection close",
      "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n",
      "GET",
      "length",
      0,
      false,
    ],
    ["HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", "GET", "length", 0, false],
    [
      "HTTP/1.0 keep-alive",
      "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n",
      "GET",
      "length",
      0,
      true,
    ],
    ["no reason phrase", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", "GET", "length", 0, true],
    ["list of equal lengths", "HTTP/1.1 200 OK\r\nContent-Length: 4, 4\r\n\r\n", "GET", "length", 4, true],
  ];
  for (const [name, text, method, framing, length, keepAlive] of table) {
    await t.step(name, () => {
      const head = parse(text, method);
      assert.equal(head.framing, framing);
      assert.equal(head.contentLength, length);
      assert.equal(head.keepAlive, keepAlive);
    });
  }
});

Deno.test("scanHeadEnd() asks for more bytes until the empty line has arrived", () => {
  const buf = bytes("HTTP/1.1 200 OK\r\nA: b\r\n\r\n");
  for (let cut = 0; cut < buf.length; cut++) assert.equal(scanHeadEnd(buf, 0, 0, cut), -1);
  assert.equal(scanHeadEnd(buf, 0, 0, buf.length), buf.length);
});

// Each head is rejected, and the connection it came on is never used again.
const rejected: [string, string][] = [
  [
    "Content-Length with Transfer-Encoding",
    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
  ],
  [
    "Transfer-Encoding with Content-Length",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
  ],
  ["differing Content-Length values", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok"],
  ["a differing Content-Length list", "HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok"],
  ["a non-numeric Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n"],
  ["a signed Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok"],
  ["a negative Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"],
  ["a Content-Length in exponent form", "HTTP/1.1 200 OK\r\nContent-Length: 1e1\r\n\r\n"],
  ["an oversized Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n"],
  ["an unsupported transfer coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"],
  [
    "chunked applied twice",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
  ],
  ["a non-hex chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"],
  ["an empty chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n"],
  [
    "a chunk size over 2^53",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\nhello\r\n",
  ],
  ["chunk data without its CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX0\r\n\r\n"],
  [
    "a chunk size line ended by a bare LF",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nok\r\n0\r\n\r\n",
  ],
  ["a bare LF in the head", "HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 2\r\n\r\nok"],
  ["a bare CR in the head", "HTTP/1.1 200 OK\r\nX-A: 1\rContent-Length: 2\r\n\r\nok"],
  ["a NUL in a field value", "HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 2\r\n\r\nok"],
  ["obs-fold", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok"],
  ["whitespace before the colon", "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok"],
  ["a field line without a colon", "HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 2\r\n\r\nok"],
  ["an HTTP/2 status line", "HTTP/2 200 OK\r\nContent-Length: 2\r\n\r\nok"],
  ["a non-HTTP status line", "ICY 200 OK\r\nContent-Length: 2\r\n\r\nok"],
  ["a status code over 599", "HTTP/1.1 999 Whatever\r\nContent-Length: 2\r\n\r\nok"],
  ["a two-digit status code", "HTTP/1.1 20 OK\r\nContent-Length: 2\r\n\r\nok"],
  ["an unsolicited 101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"],
  [
    "a head over maxResponseHeadBytes",
    `HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(3000)}\r\nContent-Length: 2\r\n\r\nok`,
  ],
];

Deno.test("send() rejects heads and chunked bodies that could smuggle and never reuses their connection", async (t) => {
  for (const [name, response] of rejected) {
    await t.step(name, async () => {
      await withBackend(async (conn, index) => {
        let first = index === 0;
        while (await conn.readRequest() !== null) {
          await conn.write(first ? bytes(response) : OK);
          first = false;
        }
      }, async (server, client) => {
        const error = await client.send(server.target, makeRequest(server.target)).then(
          () => assert.fail("the response was accepted"),
          (err) => err,
        );
        assert.ok(error instanceof UpstreamError, String(error));
        assert.equal(error.kind, "protocol", error.message);
        assert.equal(error.requestSent, true);
        assert.match(error.message, new RegExp(`backend "${server.target.key}"`));
        const next = await client.send(server.target, makeRequest(server.target));
        assert.equal(await next.text(), "ok");
        assert.equal(server.accepted, 2);
      }, { maxResponseHeadBytes: 2048 });
    });
  }
});

Deno.test("scanHeadEnd() names the violation", () => {
  assert.throws(() => scanHeadEnd(bytes("HTTP/1.1 200 OK\nA: b\r\n\r\n"), 0, 0, 25), ProtocolViolation);
  assert.throws(
    () => scanHeadEnd(bytes("HTTP/1.1 200 OK\r\nA: \x01\r\n\r\n"), 0, 0, 24),
    /control byte 0x01/,
  );
});

Deno.test("parseResponseHead() reads the Keep-Alive timeout hint", async (t) => {
  const table: [string, string, number][] = [
    ["none", "", -1],
    ["timeout and max", "Keep-Alive: timeout=5, max=1000\r\n", 5000],
    ["max first, spaces, case", "keep-alive: max=10 ,  Timeout = 15\r\n", 15000],
    ["quoted", 'Keep-Alive: timeout="3"\r\n', 3000],
    ["zero", "Keep-Alive: timeout=0\r\n", 0],
    ["not a number", "Keep-Alive: timeout=soon\r\n", -1],
    ["another parameter's suffix", "Keep-Alive: xtimeout=5\r\n", -1],
  ];
  for (const [name, field, ms] of table) {
    await t.step(name, () => {
      assert.equal(parse(`HTTP/1.1 200 OK\r\n${field}Content-Length: 0\r\n\r\n`).keepAliveTimeoutMs, ms);
    });
  }
});
