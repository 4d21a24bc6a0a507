import assert from "node:assert/strict";
import { REDACTED } from "../../src/admin_api/redact_secrets.ts";
import { adminFixture, API_KEY_HASH, baseConfig, JWT_SECRET } from "./admin_harness.ts";

Deno.test("GET /api/config returns the effective config with every secret redacted", async (t) => {
  await using f = await adminFixture(baseConfig(), { token: "admin-token-0123456789" });
  const auth = { authorization: "Bearer admin-token-0123456789" };
  for (const url of ["/api/config", "/api/config?view=file"]) {
    await t.step(url, async () => {
      const res = await f.call("GET", url, undefined, auth);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("etag"), '"1"');
      const text = JSON.stringify(res.json);
      assert.ok(!text.includes(JWT_SECRET) && !text.includes(API_KEY_HASH));
      assert.equal(res.json.jwt.secret, REDACTED);
    });
  }
  const file = await f.call("GET", "/api/config?view=file", undefined, auth);
  assert.equal(file.json._comment, "top comment");
  const effective = await f.call("GET", "/api/config", undefined, auth);
  assert.equal(effective.json.routers[0].timeout_ms, 30000, "defaults filled in");
  assert.equal((await f.call("GET", "/api/config?view=x", undefined, auth)).status, 400);
});

Deno.test("PUT /api/config takes back a GET's output: secrets restored, comments kept, applied at once", async () => {
  await using f = await adminFixture();
  const current = (await f.call("GET", "/api/config")).json;
  current.routers[1].methods = ["GET", "HEAD"];
  const res = await f.call("PUT", "/api/config", current, { "if-match": '"1"' });
  assert.equal(res.status, 200, JSON.stringify(res.json));
  assert.match(res.json.message, /^Configuration replaced: applied at once \(config version 2\)/);
  assert.equal(f.gateway.snapshot.table.match(null, "HEAD", "/static/x").kind, "found");
  assert.equal(f.gateway.snapshot.config.jwt?.secret, JWT_SECRET);
  const file = JSON.parse(await Deno.readTextFile(f.path));
  assert.equal(file.jwt.secret, JWT_SECRET);
  assert.equal(file.routers[0].auth.api_keys.keys[0].sha256, API_KEY_HASH);
  assert.equal(file._comment, "top comment");
  assert.equal(file.routers[0]._comment, "users");
});

Deno.test("PUT /api/config accepts YAML and refuses an invalid config with every path", async () => {
  await using f = await adminFixture();
  const yaml = "version: 1\nrouters:\n  - external_path: /a\n    internal_path: /a\n    methods: [GET]\n" +
    "    backends: [{ host: 'http://127.0.0.1', port: 9009 }]\n";
  const ok = await f.call("PUT", "/api/config", yaml, { "content-type": "application/yaml" });
  assert.equal(ok.status, 200, JSON.stringify(ok.json));
  assert.deepEqual(f.store.config.routers.map((r) => r.external_path), ["/a"]);
  const bad = await f.call("PUT", "/api/config", { version: 1, routers: [{ external_path: "a" }] });
  assert.equal(bad.status, 400);
  assert.ok(bad.json.errors.some((e: { path: string }) => e.path === "routers[0].external_path"));
  assert.equal(f.store.version, 2);
});

Deno.test("POST /api/config/validate reports errors with paths and positions as `kairos validate` does", async () => {
  await using f = await adminFixture();
  const text = '{\n  "version": 1,\n  "routers": [\n    { "external_path": "/a", "internal_path": "/a",\n' +
    '      "methods": ["FETCH"], "backends": [{ "host": "http://x", "port": 0 }] }\n  ]\n}';
  const res = await f.call("POST", "/api/config/validate", text);
  assert.equal(res.status, 200);
  assert.equal(res.json.valid, false);
  const paths = res.json.errors.map((e: { path: string }) => e.path).sort();
  assert.deepEqual(paths, ["routers[0].backends[0].port", "routers[0].methods[0]"]);
  assert.ok(res.json.errors.every((e: { line?: number }) => e.line === 5));
  assert.match(res.json.message, /line 5, column \d+: routers\[0\]\.backends\[0\]\.port: /);
  const good = await f.call("POST", "/api/config/validate", (await f.call("GET", "/api/config")).json);
  assert.equal(good.json.valid, true, JSON.stringify(good.json));
  assert.equal(f.store.version, 1);
});

Deno.test("section endpoints apply kairos-rs bodies at once", async (t) => {
  await using f = await adminFixture();
  await t.step("jwt keeps a redacted secret and applies the rest", async () => {
    const res = await f.call("POST", "/api/config/jwt", {
      secret: REDACTED,
      issuer: "kairos",
      required_claims: ["sub"],
    });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.equal(f.store.config.jwt?.secret, JWT_SECRET);
    assert.equal(f.store.config.jwt?.issuer, "kairos");
  });
  await t.step("jwt refuses an empty secret like kairos-rs", async () => {
    const res = await f.call("POST", "/api/config/jwt", { secret: "" });
    assert.deepEqual([res.status, res.json.message], [400, "JWT secret cannot be empty"]);
  });
  await t.step("rate-limit in kairos-rs's code dialect", async () => {
    const res = await f.call("POST", "/api/config/rate-limit", {
      strategy: "PerIP",
      requests_per_window: 100,
      window_duration: 60,
      burst_allowance: 10,
      window_type: "SlidingWindow",
      enable_redis: false,
      redis_key_prefix: "kairos_rl",
    });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.equal(f.store.config.rate_limit?.requests_per_window, 100);
    assert.equal(f.store.config.rate_limit?.algorithm, "sliding_window");
  });
  await t.step("cors", async () => {
    const res = await f.call("POST", "/api/config/cors", {
      allowed_origins: ["https://app.example"],
      allowed_methods: ["GET"],
      allowed_headers: ["Content-Type"],
      allow_credentials: true,
    });
    assert.equal(res.status, 200);
    assert.deepEqual(f.store.config.cors?.allowed_origins, ["https://app.example"]);
  });
  await t.step("server merges, says what waits for a restart, ignores keep_alive", async () => {
    const res = await f.call("POST", "/api/config/server", {
      host: "127.0.0.1",
      port: 8080,
      workers: 4,
      keep_alive: 75,
    });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.match(res.json.message, /next restart/);
    assert.match(res.json.message, /keep_alive is ignored/);
    assert.equal(f.store.config.server.port, 8080);
    assert.equal(f.store.config.server.workers, 4);
    const warning = f.logs.map((l) => JSON.parse(l)).find((l) =>
      l.msg === "these settings take effect at the next restart"
    );
    assert.deepEqual(warning?.fields, ["server.host", "server.port", "server.workers"]);
    assert.equal(f.store.config.server.shutdown_grace_ms, 10000);
    assert.equal(
      (await f.call("POST", "/api/config/server", { port: 0 })).json.message,
      "Port must be greater than 0",
    );
  });
  await t.step("metrics accepts only what is always true", async () => {
    const same = await f.call("POST", "/api/config/metrics", {
      endpoint: "/metrics",
      enable_per_route_metrics: true,
    });
    assert.equal(same.status, 200);
    const moved = await f.call("POST", "/api/config/metrics", { endpoint: "/stats" });
    assert.equal(moved.status, 400);
  });
  await t.step("ai", async () => {
    const res = await f.call("POST", "/api/config/ai", { provider: "openai", model: "gpt-4o" });
    assert.equal(res.status, 200);
    assert.equal(f.store.config.ai?.provider, "openai");
  });
  const file = JSON.parse(await Deno.readTextFile(f.path));
  assert.equal(file.jwt.secret, JWT_SECRET);
  assert.equal(file.rate_limit.strategy, "PerIP", "the file keeps the dialect the client sent");
});

Deno.test("POST /api/config/reload rereads the file; a bad file answers 422 and keeps the running config", async () => {
  await using f = await adminFixture();
  const next = baseConfig();
  (next.routers as Record<string, unknown>[])[1].methods = ["GET", "HEAD"];
  await Deno.writeTextFile(f.path, JSON.stringify(next));
  const ok = await f.call("POST", "/api/config/reload");
  assert.equal(ok.status, 200);
  assert.deepEqual([ok.json.success, ok.json.version, ok.json.result], [true, 2, "success"]);
  assert.equal(typeof ok.json.timestamp, "string");

  await Deno.writeTextFile(f.path, "{ garbage");
  const bad = await f.call("POST", "/api/config/reload");
  assert.equal(bad.status, 422);
  assert.equal(bad.json.success, false);
  assert.match(bad.json.message, /^Failed to reload configuration: line 1, column 3: Cannot parse JSON/);
  assert.deepEqual([bad.json.version, bad.json.timestamp], [null, null]);
  assert.equal(f.gateway.snapshot.version, 2);

  const status = await f.call("GET", "/api/config/status");
  assert.equal(status.json.version, 2);
  assert.match(status.json.hash, /^[0-9a-f]{64}$/);
  assert.equal(status.json.persisted, false);
  assert.equal(status.json.last_reload.result, "failure");
  assert.equal(status.json.last_reload.trigger, "api");
  assert.match(status.json.last_reload.errors[0].message, /Cannot parse JSON/);
  assert.match(f.gateway.renderMetrics(), /^kairos_config_reloads_total\{result="failure"\} 1$/m);
});
