import assert from "node:assert/strict";
import { adminFixture, API_KEY_HASH, JWT_SECRET } from "./admin_harness.ts";

Deno.test("GET /api/status shows uptime, versions and each route's and backend's state", async () => {
  await using f = await adminFixture();
  const res = await f.call("GET", "/api/status");
  assert.equal(res.status, 200);
  assert.equal(res.json.status, "running");
  assert.equal(res.json.snapshot_version, 1);
  assert.equal(typeof res.json.uptime_seconds, "number");
  assert.equal(res.json.config.persisted, true);
  assert.deepEqual(res.json.routes[0], {
    path: "/users/{id}",
    protocol: "http",
    methods: ["GET", "PUT"],
    strategy: "round_robin",
    backends: ["http://127.0.0.1:9001"],
    available_backends: 1,
  });
  assert.deepEqual(res.json.backends[0], {
    key: "http://127.0.0.1:9001",
    healthy: true,
    circuit: "closed",
    available: true,
    in_flight: 0,
    health_check_path: null,
    routes: ["/users/{id}"],
  });
  const backend = f.gateway.snapshot.backends[0];
  backend.acquire();
  for (let i = 0; i < 5; i++) backend.breaker.onFailure();
  const after = (await f.call("GET", "/api/status")).json.backends[0];
  backend.release();
  assert.equal(after.in_flight, 1);
  assert.equal(after.circuit, "open");
  assert.equal(after.available, false);
});

Deno.test("no GET on the admin API returns a secret", async (t) => {
  await using f = await adminFixture();
  for (
    const url of [
      "/api/routes",
      "/api/routes/users/{id}",
      "/api/config",
      "/api/config?view=file",
      "/api/config/status",
      "/api/status",
      "/api/metrics/list",
      "/metrics",
      "/health",
    ]
  ) {
    await t.step(url, async () => {
      const res = await f.raw(new Request(`http://127.0.0.1:5901${url}`, { headers: { host: "127.0.0.1" } }));
      const text = await res.text();
      assert.equal(res.status, 200);
      assert.ok(!text.includes(JWT_SECRET) && !text.includes(API_KEY_HASH), `${url} leaks a secret`);
    });
  }
});

Deno.test("GET /api/metrics/history answers kairos-rs's shapes and refuses bad parameters", async (t) => {
  await using f = await adminFixture();
  f.gateway.metrics.requests.inc(3);
  f.history.sample();
  const list = await f.call("GET", "/api/metrics/list");
  assert.ok(list.json.includes("requests_total"));
  await t.step("raw points", async () => {
    const res = await f.call("GET", "/api/metrics/history?name=requests_total");
    assert.equal(res.status, 200);
    assert.deepEqual(res.json.at(-1).value, { type: "Counter", value: 3 });
    assert.match(res.json.at(-1).timestamp, /^\d{4}-\d{2}-\d{2}T.*Z$/);
  });
  await t.step("aggregated over whole minutes", async () => {
    const start = new Date(Date.now() - 120_000).toISOString();
    const end = new Date(Date.now() + 120_000).toISOString();
    const res = await f.call(
      "GET",
      `/api/metrics/history?name=requests_total&start=${start}&end=${end}&interval=one_minute`,
    );
    assert.equal(res.status, 200);
    const bucket = res.json[0];
    assert.deepEqual(Object.keys(bucket), ["start_time", "end_time", "count", "sum", "min", "max", "avg"]);
    assert.equal(bucket.count, 2);
    assert.equal(bucket.max, 3);
  });
  await t.step("an unknown name gives []", async () => {
    assert.deepEqual((await f.call("GET", "/api/metrics/history?name=nope")).json, []);
  });
  for (
    const query of [
      "",
      "?name=requests_total&start=yesterday",
      "?name=requests_total&interval=one_week",
      "?name=requests_total&start=2030-01-01T00:00:00Z&end=2020-01-01T00:00:00Z",
      // No offset: Date.parse would read local time; kairos-rs refuses it.
      "?name=requests_total&start=2026-01-01T00:00:00",
    ]
  ) {
    await t.step(`400 for "${query}"`, async () => {
      const res = await f.call("GET", `/api/metrics/history${query}`);
      assert.equal(res.status, 400);
      assert.equal(res.json.success, false);
    });
  }
});

Deno.test("the admin API answers an unknown path with a JSON 404", async () => {
  await using f = await adminFixture();
  const res = await f.call("GET", "/api/nothing");
  assert.equal(res.status, 404);
  assert.deepEqual(res.json, { success: false, message: "No admin endpoint for GET /api/nothing" });
});

Deno.test("a change through the API keeps a kept backend's state: breaker, health and in-flight count", async () => {
  await using f = await adminFixture();
  const backend = f.gateway.snapshot.backends.find((b) => b.key === "http://127.0.0.1:9002")!;
  for (let i = 0; i < 5; i++) backend.breaker.onFailure();
  backend.acquire();
  const res = await f.call("DELETE", "/api/routes/users/{id}");
  assert.equal(res.status, 200);
  const status = (await f.call("GET", "/api/status")).json;
  backend.release();
  assert.deepEqual(status.backends.map((b: { key: string }) => b.key), ["http://127.0.0.1:9002"]);
  assert.equal(status.backends[0].circuit, "open");
  assert.equal(status.backends[0].in_flight, 1);
  assert.equal(status.snapshot_version, 2);
});
