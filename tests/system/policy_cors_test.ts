/**
 * Whole-process CORS: preflights answered by the gateway (even on routes that do not list OPTIONS),
 * refused origins, methods and headers, and the Access-Control-* headers on actual responses.
 */
import assert from "node:assert/strict";
import { fetchText, startBackend, startGateway } from "./harness.ts";

Deno.test("gateway answers CORS preflights and decorates cross-origin responses", async (t) => {
  await using backend = startBackend(() => new Response("ok", { headers: { vary: "Accept-Encoding" } }));
  const b = [{ host: backend.host, port: backend.port }];
  await using gw = await startGateway({
    version: 1,
    cors: {
      allowed_origins: ["https://app.example.com", "https://*.example.org"],
      allowed_methods: ["GET", "PUT"],
      allowed_headers: ["Content-Type", "Authorization"],
      exposed_headers: ["X-Total"],
      allow_credentials: true,
      max_age: 300,
    },
    jwt: { secret: "cors-system-test-secret-0123456789ab" },
    routers: [
      {
        external_path: "/items",
        internal_path: "/items",
        methods: ["GET", "PUT"],
        backends: b,
        auth_required: true,
      },
      { external_path: "/cred", internal_path: "/c", methods: ["GET"], backends: b },
      {
        external_path: "/public",
        internal_path: "/p",
        methods: ["GET"],
        backends: b,
        cors: { allowed_origins: ["*"] },
      },
    ],
  });
  const preflight = (origin: string, method: string, headers?: string) =>
    fetchText(`${gw.url}/items`, {
      method: "OPTIONS",
      headers: {
        origin,
        "access-control-request-method": method,
        ...(headers ? { "access-control-request-headers": headers } : {}),
      },
    });

  await t.step("an allowed preflight is answered 204 by the gateway, without auth or backend", async () => {
    const before = backend.requests;
    const res = await preflight("https://app.example.com", "PUT", "content-type, authorization");
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), "https://app.example.com");
    assert.equal(res.headers.get("access-control-allow-methods"), "GET, PUT");
    assert.equal(res.headers.get("access-control-allow-headers"), "Content-Type, Authorization");
    assert.equal(res.headers.get("access-control-allow-credentials"), "true");
    assert.equal(res.headers.get("access-control-max-age"), "300");
    assert.match(res.headers.get("vary") ?? "", /Origin/);
    assert.equal(backend.requests, before);
  });

  await t.step("wildcard subdomains match one or more labels, not the bare domain", async () => {
    assert.equal((await preflight("https://a.b.example.org", "GET")).status, 204);
    assert.equal((await preflight("https://example.org", "GET")).status, 403);
  });

  await t.step("a foreign origin, method or header is refused with 403", async () => {
    assert.equal((await preflight("https://evil.test", "GET")).status, 403);
    assert.equal((await preflight("https://app.example.com", "DELETE")).status, 403);
    const res = await preflight("https://app.example.com", "GET", "x-custom");
    assert.equal(res.status, 403);
    assert.equal(JSON.parse(res.body).type, "forbidden");
  });

  await t.step("an actual request gets the origin echoed (credentials: never *), Vary merged", async () => {
    const res = await fetchText(`${gw.url}/public`, { headers: { origin: "https://anywhere.test" } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
    const cred = await fetchText(`${gw.url}/cred`, { headers: { origin: "https://x.example.org" } });
    assert.equal(cred.status, 200);
    assert.equal(cred.headers.get("access-control-allow-origin"), "https://x.example.org");
    const vary = (cred.headers.get("vary") ?? "").toLowerCase();
    assert.ok(vary.includes("origin") && vary.includes("accept-encoding"), vary);
    const item = await fetchText(`${gw.url}/items`, { headers: { origin: "https://app.example.com" } });
    assert.equal(item.status, 401);
    // Even the error carries CORS headers, so the browser can read it.
    assert.equal(item.headers.get("access-control-allow-origin"), "https://app.example.com");
    assert.equal(item.headers.get("access-control-allow-credentials"), "true");
    assert.equal(item.headers.get("access-control-expose-headers"), "X-Total");
  });

  await t.step(
    "a preflight on a route that does not list OPTIONS is answered by its CORS policy",
    async () => {
      const res = await fetchText(`${gw.url}/public`, {
        method: "OPTIONS",
        headers: { origin: "https://x.test", "access-control-request-method": "GET" },
      });
      assert.equal(res.status, 204);
      assert.equal(res.headers.get("access-control-allow-origin"), "*");
    },
  );
});
