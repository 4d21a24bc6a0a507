/**
 * Whole-process routing and forwarding: params, query, 404/405, HEAD, header rewriting — run
 * against both upstream clients.
 */
import assert from "node:assert/strict";
import { fetchText, startBackend, startGateway } from "./harness.ts";

const CLIENTS = ["fetch", "http1"] as const;

for (const client of CLIENTS) {
  Deno.test(`gateway routes and forwards requests (${client} client)`, async (t) => {
    await using backend = startBackend((req, info) => {
      const url = new URL(req.url);
      const headers = new Headers({
        "content-type": "application/json",
        "x-backend": "a",
        "x-frame-options": "SAMEORIGIN",
      });
      headers.append("set-cookie", "a=1; Path=/");
      headers.append("set-cookie", "b=2; Path=/");
      headers.set("connection", "x-hop");
      headers.set("x-hop", "must not leak");
      headers.set("keep-alive", "timeout=5");
      return new Response(
        req.method === "HEAD" ? null : JSON.stringify({
          method: req.method,
          path: url.pathname,
          query: url.search,
          headers: Object.fromEntries(req.headers),
          peer: info.remoteAddr.hostname,
        }),
        { headers },
      );
    });
    const b = { host: backend.host, port: backend.port };
    await using gw = await startGateway({
      version: 1,
      server: { upstream_client: client },
      trusted_proxies: ["10.0.0.0/8"],
      routers: [
        {
          external_path: "/users/{id}",
          internal_path: "/v1/user-{id}",
          methods: ["GET", "DELETE"],
          backends: [b],
        },
        { external_path: "/users/me", internal_path: "/v1/me", methods: ["GET"], backends: [b] },
        { external_path: "/{a}/{b}", internal_path: "/generic/{a}/{b}", methods: ["GET"], backends: [b] },
        { external_path: "/files/{*rest}", internal_path: "/store/{rest}", methods: ["GET"], backends: [b] },
        {
          external_path: "/keep-host",
          internal_path: "/",
          methods: ["GET"],
          backends: [b],
          preserve_host: true,
        },
        // kairos-rs's legacy single-backend form.
        {
          external_path: "/legacy",
          internal_path: "/old",
          methods: ["POST"],
          host: backend.host,
          port: backend.port,
        },
      ],
    });

    await t.step("params are substituted into internal_path, also inside a segment", async () => {
      const res = await fetchText(`${gw.url}/users/42?x=1&y=%20z`);
      assert.equal(res.status, 200);
      const body = JSON.parse(res.body);
      assert.equal(body.path, "/v1/user-42");
      assert.equal(body.query, "?x=1&y=%20z");
    });

    await t.step("a static route beats a parameterised one, whatever the file order", async () => {
      assert.equal(JSON.parse((await fetchText(`${gw.url}/users/me`)).body).path, "/v1/me");
      // /users/{id} (static first segment) beats /{a}/{b}.
      assert.equal(JSON.parse((await fetchText(`${gw.url}/users/7`)).body).path, "/v1/user-7");
      assert.equal(JSON.parse((await fetchText(`${gw.url}/other/7`)).body).path, "/generic/other/7");
    });

    await t.step("a catch-all captures the rest of the path", async () => {
      assert.equal(JSON.parse((await fetchText(`${gw.url}/files/a/b/c.txt`)).body).path, "/store/a/b/c.txt");
    });

    await t.step("legacy host+port routes work", async () => {
      const res = await fetchText(`${gw.url}/legacy`, { method: "POST", body: "x" });
      assert.equal(res.status, 200);
      assert.equal(JSON.parse(res.body).path, "/old");
    });

    await t.step("an unknown path is a 404 JSON error", async () => {
      const res = await fetchText(`${gw.url}/nope/a/b`);
      assert.equal(res.status, 404);
      const body = JSON.parse(res.body);
      assert.equal(body.type, "route_not_found");
      assert.equal(body.error, "No route found for path: /nope/a/b");
      assert.ok(body.request_id);
      assert.ok(!Number.isNaN(Date.parse(body.timestamp)));
      assert.equal(res.headers.get("content-type"), "application/json");
      // kairos-rs sends its security headers on every response, errors included.
      assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    });

    await t.step("a wrong method is a 405 with Allow", async () => {
      const res = await fetchText(`${gw.url}/users/me`, { method: "POST" });
      assert.equal(res.status, 405);
      assert.equal(JSON.parse(res.body).type, "method_not_allowed");
      const allow = res.headers.get("allow")!.split(", ");
      assert.ok(allow.includes("GET") && allow.includes("HEAD") && allow.includes("DELETE"), allow.join());
    });

    await t.step("HEAD works wherever GET does", async () => {
      const res = await fetch(`${gw.url}/users/1`, { method: "HEAD" });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("x-backend"), "a");
      assert.equal(await res.text(), "");
    });

    await t.step("hop-by-hop headers are removed both ways and Set-Cookie survives", async () => {
      const res = await fetchText(`${gw.url}/users/1`, {
        headers: {
          connection: "x-secret",
          "x-secret": "1",
          "keep-alive": "1",
          te: "trailers",
          "x-normal": "yes",
        },
      });
      const seen = JSON.parse(res.body).headers;
      assert.equal(seen["x-secret"], undefined);
      assert.equal(seen["keep-alive"], undefined);
      assert.equal(seen["te"], undefined);
      assert.equal(seen["x-normal"], "yes");
      assert.equal(res.headers.get("x-hop"), null);
      assert.equal(res.headers.get("keep-alive"), null);
      assert.deepEqual(res.headers.getSetCookie(), ["a=1; Path=/", "b=2; Path=/"]);
    });

    await t.step("security headers are added without overriding the backend's own", async () => {
      const res = await fetchText(`${gw.url}/users/1`);
      assert.equal(res.headers.get("x-frame-options"), "SAMEORIGIN");
      assert.equal(res.headers.get("x-content-type-options"), "nosniff");
      assert.equal(res.headers.get("content-security-policy"), "default-src 'self'");
    });

    await t.step("X-Forwarded-* and X-Request-Id are set, Host is the backend's", async () => {
      const res = await fetchText(`${gw.url}/users/1`, {
        headers: { "x-forwarded-for": "6.6.6.6", "x-request-id": "abc-123" },
      });
      const seen = JSON.parse(res.body).headers;
      // The test client is not a trusted proxy: its X-Forwarded-For claim is replaced.
      assert.equal(seen["x-forwarded-for"], "127.0.0.1");
      assert.equal(seen["x-forwarded-proto"], "http");
      assert.equal(seen["x-forwarded-host"], `127.0.0.1:${gw.port}`);
      assert.equal(seen["x-request-id"], "abc-123");
      assert.equal(res.headers.get("x-request-id"), "abc-123");
      assert.equal(seen["host"], `127.0.0.1:${backend.port}`);
      const generated = await fetchText(`${gw.url}/users/1`);
      assert.match(JSON.parse(generated.body).headers["x-request-id"], /^[A-Za-z0-9._:-]{8,}$/);
    });

    // Deno's fetch always derives Host from the URL, so only the http1 client can preserve it.
    await t.step({
      name: "preserve_host sends the client's Host",
      ignore: client === "fetch",
      fn: async () => {
        const seen = JSON.parse((await fetchText(`${gw.url}/keep-host`)).body).headers;
        assert.equal(seen["host"], `127.0.0.1:${gw.port}`);
      },
    });

    await t.step("a malformed request gets a 400, and the gateway keeps serving", async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: gw.port });
      await conn.write(new TextEncoder().encode("GET /users/1 HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"));
      const buf = new Uint8Array(1024);
      const n = await conn.read(buf);
      conn.close();
      assert.match(new TextDecoder().decode(buf.subarray(0, n ?? 0)), /^HTTP\/1\.1 400/);
      assert.equal((await fetchText(`${gw.url}/users/1`)).status, 200);
    });
  });
}
