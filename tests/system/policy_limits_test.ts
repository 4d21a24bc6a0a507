/**
 * Whole-process limits: IP allow/deny lists (403), request body limits (413, also for chunked
 * bodies checked while they stream), and request head limits (431).
 */
import assert from "node:assert/strict";
import { fetchText, startBackend, startGateway } from "./harness.ts";

/** Sends a raw HTTP/1.1 request with a chunked body; returns the response status line and what the backend saw. */
async function sendChunked(port: number, path: string, chunks: number, chunkSize: number): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const encoder = new TextEncoder();
  let response = "";
  try {
    const reading = (async () => {
      const buffer = new Uint8Array(4096);
      for (let i = 0; i < 1000; i++) {
        const n = await conn.read(buffer).catch(() => null);
        if (n === null) break;
        response += new TextDecoder().decode(buffer.subarray(0, n));
        if (response.includes("\r\n\r\n")) break;
      }
    })();
    await conn.write(
      encoder.encode(
        `POST ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`,
      ),
    );
    const chunk = new Uint8Array(chunkSize).fill(97);
    for (let i = 0; i < chunks; i++) {
      try {
        await conn.write(encoder.encode(`${chunkSize.toString(16)}\r\n`));
        await conn.write(chunk);
        await conn.write(encoder.encode("\r\n"));
      } catch {
        break; // the gateway may close the connection once it has answered
      }
    }
    await conn.write(encoder.encode("0\r\n\r\n")).catch(() => {});
    await reading;
  } finally {
    conn.close();
  }
  return response.split("\r\n")[0];
}

Deno.test("gateway enforces IP filters, body limits and header limits", async (t) => {
  let received = 0;
  await using backend = startBackend(async (req) => {
    const body = req.body ? new Uint8Array(await req.arrayBuffer()) : new Uint8Array();
    received = body.byteLength;
    return Response.json({ bytes: body.byteLength });
  });
  const b = [{ host: backend.host, port: backend.port }];
  await using gw = await startGateway({
    version: 1,
    server: { max_body_bytes: 1_000_000, max_header_count: 30, max_header_bytes: 4096 },
    ip_filter: { deny: ["192.0.2.0/24"] },
    routers: [
      {
        external_path: "/upload",
        internal_path: "/u",
        methods: ["POST"],
        backends: b,
        max_body_bytes: 10_000,
      },
      { external_path: "/big", internal_path: "/b", methods: ["POST"], backends: b },
      {
        external_path: "/denied",
        internal_path: "/d",
        methods: ["GET"],
        backends: b,
        ip_filter: { deny: ["127.0.0.0/8"] },
      },
      {
        external_path: "/v6-only",
        internal_path: "/v",
        methods: ["GET"],
        backends: b,
        ip_filter: { allow: ["::1/128", "2001:db8::/32"] },
      },
      {
        external_path: "/local",
        internal_path: "/l",
        methods: ["GET"],
        backends: b,
        ip_filter: { allow: ["127.0.0.0/8"] },
      },
      { external_path: "/global", internal_path: "/g", methods: ["GET"], backends: b },
    ],
  });

  await t.step(
    "IP filters: deny lists, default-deny allow lists, route lists replacing the global one",
    async () => {
      const denied = await fetchText(`${gw.url}/denied`);
      assert.equal(denied.status, 403);
      assert.equal(JSON.parse(denied.body).type, "forbidden");
      assert.equal((await fetchText(`${gw.url}/v6-only`)).status, 403);
      assert.equal((await fetchText(`${gw.url}/local`)).status, 200);
      assert.equal((await fetchText(`${gw.url}/global`)).status, 200);
    },
  );

  await t.step("a declared Content-Length over the route limit is refused before the backend", async () => {
    const before = backend.requests;
    const res = await fetchText(`${gw.url}/upload`, { method: "POST", body: "x".repeat(10_001) });
    assert.equal(res.status, 413);
    assert.equal(JSON.parse(res.body).type, "payload_too_large");
    assert.equal(backend.requests, before);
  });

  await t.step("a body at the limit passes whole", async () => {
    const res = await fetchText(`${gw.url}/upload`, { method: "POST", body: "x".repeat(10_000) });
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).bytes, 10_000);
  });

  await t.step("a chunked body is cut off with 413 once it crosses the limit", async () => {
    const status = await sendChunked(gw.port, "/upload", 40, 1000);
    assert.match(status, /^HTTP\/1\.1 413/);
    assert.ok(received <= 10_000);
  });

  await t.step("a chunked body under the server-wide limit streams through", async () => {
    const status = await sendChunked(gw.port, "/big", 40, 1000);
    assert.match(status, /^HTTP\/1\.1 200/);
    assert.equal(received, 40_000);
  });

  await t.step("too many request headers are refused with 431", async () => {
    const headers = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`x-h-${i}`, "1"]));
    const res = await fetchText(`${gw.url}/global`, { headers });
    assert.equal(res.status, 431);
    assert.equal(JSON.parse(res.body).type, "headers_too_large");
  });

  await t.step("an oversized request head is refused with 431", async () => {
    const res = await fetchText(`${gw.url}/global`, { headers: { "x-big": "y".repeat(5000) } });
    assert.equal(res.status, 431);
  });
});
