/**
 * Routes with `hosts`: one gateway port serves several sites by Host, with host-less routes as the fallback
 * for every name, over HTTP/1.1 (Host) and, through the same code, HTTP/2 (`:authority`).
 */
import assert from "node:assert/strict";
import { rawRequest, startBackend, startGateway } from "./harness.ts";

Deno.test("hosts pick the route by the request's Host; routes without hosts answer the rest", async (t) => {
  await using siteA = startBackend(() => new Response("site a"));
  await using siteB = startBackend(() => new Response("site b"));
  await using fallback = startBackend(() => new Response("fallback"));
  const route = (port: number, hosts?: string[]) => ({
    external_path: "/api/{*rest}",
    internal_path: "/{rest}",
    methods: ["GET"],
    ...(hosts ? { hosts } : {}),
    backends: [{ host: "http://127.0.0.1", port }],
  });
  await using gw = await startGateway({
    version: 1,
    routers: [
      route(fallback.port),
      route(siteA.port, ["a.example.com"]),
      route(siteB.port, ["*.b.example.com"]),
      {
        ...route(siteA.port, ["a.example.com"]),
        external_path: "/only-a",
        internal_path: "/",
        methods: ["POST"],
      },
    ],
  });
  const get = (host: string, path = "/api/x") =>
    rawRequest(gw.port, `GET ${path} HTTP/1.1`, `Host: ${host}\r\n`);

  await t.step("an exact name, in any case and with a port", async () => {
    assert.equal((await get("a.example.com")).body, "site a");
    assert.equal((await get("A.Example.COM:5900")).body, "site a");
  });
  await t.step("a wildcard covers subdomains, not the apex", async () => {
    assert.equal((await get("shop.b.example.com")).body, "site b");
    assert.equal((await get("b.example.com")).body, "fallback");
  });
  await t.step("any other host gets the host-less route", async () => {
    assert.equal((await get("unknown.test")).body, "fallback");
    assert.equal((await get("127.0.0.1")).body, "fallback");
  });
  await t.step("a host's path is not reachable from another host", async () => {
    assert.equal(
      (await rawRequest(gw.port, "POST /only-a HTTP/1.1", "Host: a.example.com\r\nContent-Length: 0\r\n"))
        .status,
      200,
    );
    assert.equal(
      (await rawRequest(gw.port, "POST /only-a HTTP/1.1", "Host: other.test\r\nContent-Length: 0\r\n"))
        .status,
      404,
    );
    const wrongMethod = await get("a.example.com", "/only-a");
    assert.equal(wrongMethod.status, 405);
    assert.match(wrongMethod.head, /^allow: POST\r?$/im);
  });
});

Deno.test("an HTTP/1.0 request without Host matches no named host and sends no made-up X-Forwarded-Host", async () => {
  let forwardedHost: string | null = "unset";
  await using backend = startBackend((request) => {
    forwardedHost = request.headers.get("x-forwarded-host");
    return new Response("any host");
  });
  await using named = startBackend(() => new Response("localhost route"));
  await using gw = await startGateway({
    version: 1,
    routers: [
      {
        external_path: "/api/{*rest}",
        internal_path: "/{rest}",
        methods: ["GET"],
        backends: [{ host: "http://127.0.0.1", port: backend.port }],
      },
      {
        external_path: "/api/{*rest}",
        internal_path: "/{rest}",
        methods: ["GET"],
        hosts: ["localhost"],
        backends: [{ host: "http://127.0.0.1", port: named.port }],
      },
    ],
  });
  // Deno gives such a request the URL http://localhost:<port>/…; that is not the client's Host.
  const res = await rawRequest(gw.port, "GET /api/x HTTP/1.0", "");
  assert.equal(res.body, "any host");
  assert.equal(forwardedHost, null);
});
