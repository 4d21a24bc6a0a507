/**
 * Whole-process follow-ups to the policy audits: 414 for an over-long URL, `deny ::/0` leaving IPv4
 * clients alone, X-Forwarded-For hops with ports, a path rewrite that writes a query, and an admin origin
 * with a trailing slash.
 */
import assert from "node:assert/strict";
import { fetchText, startBackend, startGateway } from "./harness.ts";

Deno.test("gateway: 414 for long URLs, IPv6 blocks, ported forwarded hops, rewritten queries, admin origins", async (t) => {
  await using backend = startBackend((req) => {
    const url = new URL(req.url);
    return Response.json({ target: url.pathname + url.search });
  });
  const route = (external: string, extra: Record<string, unknown> = {}) => ({
    external_path: `${external}/{*rest}`,
    internal_path: "/{rest}",
    methods: ["GET"],
    backends: [{ host: backend.host, port: backend.port }],
    ...extra,
  });
  await using gw = await startGateway({
    version: 1,
    server: { max_header_bytes: 4096 },
    trusted_proxies: ["127.0.0.1"],
    admin: { enabled: true, allowed_origins: ["http://ops.example/"] },
    routers: [
      route("/rewrite", {
        request_transformation: { path: { pattern: "^/old/(.*)$", replacement: "/new?x=$1" } },
      }),
      route("/v6deny", { ip_filter: { deny: ["::/0"] } }),
      route("/v4mapped", { ip_filter: { deny: ["::ffff:127.0.0.0/104"] } }),
      route("/xff", { ip_filter: { deny: ["198.51.100.0/24"] } }),
    ],
  }, { admin: true });

  await t.step("a URL over max_header_bytes gets a 414 JSON error naming the limit", async () => {
    const before = backend.requests;
    const res = await fetchText(`${gw.url}/rewrite/a?q=${"a".repeat(5000)}`);
    assert.equal(res.status, 414);
    const body = JSON.parse(res.body);
    assert.equal(body.type, "uri_too_long");
    assert.match(body.error, /more than the limit of 4096 \(server\.max_header_bytes\)/);
    assert.ok(res.headers.get("x-request-id"));
    assert.equal(backend.requests, before);
  });

  await t.step("oversized header fields with a short URL are still 431", async () => {
    const res = await fetchText(`${gw.url}/rewrite/a`, { headers: { "x-big": "y".repeat(5000) } });
    assert.equal(res.status, 431);
    assert.equal(JSON.parse(res.body).type, "headers_too_large");
  });

  await t.step("deny ::/0 lets an IPv4 client through; a mapped IPv4 block denies it", async () => {
    assert.equal((await fetchText(`${gw.url}/v6deny/a`)).status, 200);
    assert.equal((await fetchText(`${gw.url}/v4mapped/a`)).status, 403);
  });

  await t.step("X-Forwarded-For hops with ports reach the IP filter as bare addresses", async () => {
    const denied = await fetchText(`${gw.url}/xff/a`, {
      headers: { "x-forwarded-for": "198.51.100.7:5678" },
    });
    assert.equal(denied.status, 403);
    assert.match(JSON.parse(denied.body).error, /client address 198\.51\.100\.7$/);
    const allowed = await fetchText(`${gw.url}/xff/a`, {
      headers: { "x-forwarded-for": "203.0.113.5:1234, 127.0.0.1:80" },
    });
    assert.equal(allowed.status, 200);
    // A garbage hop stops the walk at the trusted peer, which the filter lets through.
    const garbage = await fetchText(`${gw.url}/xff/a`, {
      headers: { "x-forwarded-for": "198.51.100.7, junk" },
    });
    assert.equal(garbage.status, 200);
  });

  await t.step("a rewrite to /new?x=$1 sends one ? with the request's query after it", async () => {
    const res = await fetchText(`${gw.url}/rewrite/old/abc?a=1&b=2`);
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).target, "/new?x=abc&a=1&b=2");
  });

  await t.step("an admin origin with a trailing slash warns at load and then matches", async () => {
    await gw.waitForOutput("admin.allowed_origins[0]");
    const res = await fetchText(`${gw.adminUrl}/api/routes`, {
      method: "OPTIONS",
      headers: { origin: "http://ops.example", "access-control-request-method": "GET" },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), "http://ops.example");
  });
});
