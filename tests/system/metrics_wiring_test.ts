/**
 * Whole-process checks that the per-route policy counters, the breaker counters and the http1 client's
 * pool series move with real traffic (each was once declared and never updated).
 */
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { fetchText, routeConfig, sample, startBackend, startGateway } from "./harness.ts";

const SECRET = "metrics-wiring-test-secret-0123456789";

Deno.test("429s, 401s, 403s, breaker verdicts and pooled connections show in /metrics", async () => {
  let fail = false;
  await using backend = startBackend(() => new Response(fail ? "down" : "ok", { status: fail ? 503 : 200 }));
  const b = [{ host: backend.host, port: backend.port }];
  const key = `http://127.0.0.1:${backend.port}`;
  await using gw = await startGateway({
    version: 1,
    jwt: { secret: SECRET },
    routers: [
      {
        external_path: "/limited",
        internal_path: "/l",
        methods: ["GET"],
        backends: b,
        rate_limit: { algorithm: "fixed_window", requests_per_window: 1, window_ms: 600_000, key: "route" },
      },
      {
        external_path: "/private",
        internal_path: "/p",
        methods: ["GET"],
        backends: b,
        auth_required: true,
        auth: { claims: { role: { equals: "admin" } } },
      },
      {
        external_path: "/open",
        internal_path: "/o",
        methods: ["GET"],
        backends: b,
        circuit_breaker: { failure_threshold: 100, failure_status_codes: [503] },
      },
    ],
  });
  const token = async (role: string) =>
    await new SignJWT({ sub: "u", role, exp: Math.floor(Date.now() / 1000) + 300 })
      .setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode(SECRET));

  assert.equal((await fetchText(`${gw.url}/limited`)).status, 200);
  assert.equal((await fetchText(`${gw.url}/limited`)).status, 429);
  assert.equal((await fetchText(`${gw.url}/private`)).status, 401);
  assert.equal(
    (await fetchText(`${gw.url}/private`, { headers: { authorization: "Bearer not.a.token" } })).status,
    401,
  );
  assert.equal(
    (await fetchText(`${gw.url}/private`, { headers: { authorization: `Bearer ${await token("user")}` } }))
      .status,
    403,
  );
  for (let i = 0; i < 5; i++) assert.equal((await fetchText(`${gw.url}/open`)).status, 200);
  fail = true;
  for (let i = 0; i < 2; i++) assert.equal((await fetchText(`${gw.url}/open`)).status, 503);

  const text = (await fetchText(`${gw.url}/metrics`)).body;
  assert.equal(sample(text, 'kairos_rate_limited_total{route="/limited"}'), 1);
  assert.equal(sample(text, 'kairos_auth_failures_total{route="/private",reason="missing_credentials"}'), 1);
  assert.equal(sample(text, 'kairos_auth_failures_total{route="/private",reason="invalid_token"}'), 1);
  assert.equal(sample(text, 'kairos_auth_failures_total{route="/private",reason="claims"}'), 1);
  assert.equal(sample(text, `kairos_circuit_breaker_failures{service="${key}"}`), 2);
  // /limited's first request and /open's five.
  assert.equal(sample(text, `kairos_circuit_breaker_successes{service="${key}"}`), 6);
  // Sequential requests share one pooled connection.
  assert.equal(sample(text, `kairos_upstream_connects_total{backend="${key}"}`), 1);
  assert.equal(sample(text, `kairos_upstream_reuses_total{backend="${key}"}`), 7);
  assert.equal(sample(text, `kairos_upstream_connections{backend="${key}",state="idle"}`), 1);
  assert.equal(sample(text, `kairos_upstream_connections{backend="${key}",state="active"}`), 0);
  assert.equal(sample(text, `kairos_upstream_pool_waits_total{backend="${key}"}`), 0);
  // A second scrape adds nothing: the counters follow the totals, they do not add them again.
  const again = (await fetchText(`${gw.url}/metrics`)).body;
  assert.equal(sample(again, `kairos_upstream_connects_total{backend="${key}"}`), 1);
  assert.equal(sample(again, `kairos_circuit_breaker_failures{service="${key}"}`), 2);
});

Deno.test("a gateway error's body is counted in the access log and the response-bytes series", async () => {
  await using gw = await startGateway({
    version: 1,
    routers: [{
      external_path: "/x",
      internal_path: "/x",
      methods: ["GET"],
      backends: [{ host: "http://127.0.0.1", port: 9 }],
    }],
  });
  const res = await fetchText(`${gw.url}/nowhere`);
  assert.equal(res.status, 404);
  const size = new TextEncoder().encode(res.body).length;
  assert.equal(res.headers.get("content-length"), String(size));
  let line: { bytes_out?: number } | undefined;
  for (let i = 0; i < 50 && line === undefined; i++) {
    line = gw.output().split("\n").filter((l) =>
      l.includes('"path":"/nowhere"')
    ).map((l) => JSON.parse(l))[0];
    if (line === undefined) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.equal(line?.bytes_out, size);
  const metrics = (await fetchText(`${gw.url}/metrics`)).body;
  assert.equal(sample(metrics, 'kairos_http_response_bytes_total{route="(none)"}'), size);
  // A request that failed upstream names the backend it tried.
  assert.equal((await fetchText(`${gw.url}/x`)).status, 502);
  let failed: { backend?: string | null } | undefined;
  for (let i = 0; i < 50 && failed === undefined; i++) {
    failed = gw.output().split("\n").filter((l) => l.includes('"path":"/x"')).map((l) => JSON.parse(l))[0];
    if (failed === undefined) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.equal(failed?.backend, "http://127.0.0.1:9");
});

Deno.test("public_metrics false keeps /metrics off the gateway port; the admin listener still serves it", async () => {
  await using backend = startBackend(() => new Response("ok"));
  const config = routeConfig([backend], {}, { server: { public_metrics: false } });
  await using gw = await startGateway(config, { admin: true });
  const main = await fetchText(`${gw.url}/metrics`);
  assert.equal(main.status, 404);
  assert.equal(JSON.parse(main.body).type, "route_not_found");
  assert.equal((await fetchText(`${gw.url}/health`)).status, 200, "the other built-ins stay");
  const admin = await fetchText(`${gw.adminUrl}/metrics`);
  assert.equal(admin.status, 200);
  assert.match(admin.body, /kairos_requests_total/);
});
