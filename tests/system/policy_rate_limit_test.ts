/**
 * Whole-process rate limiting: 429 with Retry-After and quota headers, per-user limits that work
 * because they run after authentication, a route limit on top of the global one, and built-in
 * endpoints that no user limit touches.
 */
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { fetchText, startBackend, startGateway } from "./harness.ts";

const SECRET = "rate-limit-system-test-secret-0123";
const bearer = async (sub: string) =>
  `Bearer ${await new SignJWT({ sub, exp: Math.floor(Date.now() / 1000) + 300 }).setProtectedHeader({
    alg: "HS256",
  })
    .sign(new TextEncoder().encode(SECRET))}`;

Deno.test("gateway enforces global, per-route and per-user rate limits", async (t) => {
  await using backend = startBackend(() => new Response("ok"));
  const b = [{ host: backend.host, port: backend.port }];
  await using gw = await startGateway({
    version: 1,
    jwt: { secret: SECRET },
    rate_limit: { algorithm: "fixed_window", requests_per_window: 6, window_ms: 600_000, key: "ip" },
    routers: [
      {
        external_path: "/strict/{id}",
        internal_path: "/s/{id}",
        methods: ["GET"],
        backends: b,
        rate_limit: { algorithm: "fixed_window", requests_per_window: 2, window_ms: 600_000, key: "route" },
      },
      {
        external_path: "/user",
        internal_path: "/u",
        methods: ["GET"],
        auth_required: true,
        backends: b,
        rate_limit: { algorithm: "token_bucket", requests_per_window: 1, window_ms: 600_000, key: "user" },
      },
    ],
  });

  await t.step(
    "a route limit counts the route pattern, not each concrete path, and answers 429",
    async () => {
      const first = await fetchText(`${gw.url}/strict/1`);
      assert.equal(first.status, 200);
      assert.equal(first.headers.get("ratelimit-limit"), "2");
      assert.equal(first.headers.get("ratelimit-remaining"), "1");
      assert.equal(first.headers.get("x-ratelimit-remaining"), "1");
      assert.equal((await fetchText(`${gw.url}/strict/2`)).status, 200);
      const limited = await fetchText(`${gw.url}/strict/3`);
      assert.equal(limited.status, 429);
      assert.equal(limited.headers.get("content-type"), "application/json");
      assert.ok(Number(limited.headers.get("retry-after")) > 0);
      assert.equal(limited.headers.get("ratelimit-remaining"), "0");
      assert.equal(limited.headers.get("x-ratelimit-limit"), "2");
      assert.ok(limited.headers.has("ratelimit-reset"));
      assert.equal(JSON.parse(limited.body).type, "rate_limit_error");
    },
  );

  await t.step("per-user limits count the JWT subject after authentication", async () => {
    const before = backend.requests;
    assert.equal(
      (await fetchText(`${gw.url}/user`, { headers: { authorization: await bearer("alice") } })).status,
      200,
    );
    assert.equal(
      (await fetchText(`${gw.url}/user`, { headers: { authorization: await bearer("alice") } })).status,
      429,
    );
    assert.equal(
      (await fetchText(`${gw.url}/user`, { headers: { authorization: await bearer("bob") } })).status,
      200,
    );
    assert.equal(backend.requests, before + 2);
  });

  await t.step("the global limit covers every route from one client", async () => {
    // 3 (strict) + 3 (user) requests so far: the global quota of 6 is spent.
    const res = await fetchText(`${gw.url}/user`, { headers: { authorization: await bearer("carol") } });
    assert.equal(res.status, 429);
    assert.equal(res.headers.get("x-ratelimit-limit"), "6");
  });

  await t.step("health endpoints are not limited by user routes' limits", async () => {
    for (let i = 0; i < 3; i++) assert.equal((await fetchText(`${gw.url}/health`)).status, 200);
  });
});

Deno.test("gateway survives a client that opens thousands of distinct rate-limit keys", async () => {
  await using backend = startBackend(() => new Response("ok"));
  await using gw = await startGateway({
    version: 1,
    routers: [{
      external_path: "/t",
      internal_path: "/t",
      methods: ["GET"],
      backends: [{ host: backend.host, port: backend.port }],
      rate_limit: {
        algorithm: "sliding_window",
        requests_per_window: 1,
        window_ms: 600_000,
        key: { header: "X-Tenant" },
      },
    }],
  });
  const statuses = new Map<number, number>();
  for (let batch = 0; batch < 20; batch++) {
    const results = await Promise.all(
      Array.from(
        { length: 100 },
        (_, i) => fetchText(`${gw.url}/t`, { headers: { "x-tenant": `tenant-${batch}-${i}` } }),
      ),
    );
    for (const res of results) statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
  }
  assert.deepEqual([...statuses], [[200, 2000]]);
  // Each key still has its own quota.
  assert.equal((await fetchText(`${gw.url}/t`, { headers: { "x-tenant": "tenant-0-0" } })).status, 429);
});
