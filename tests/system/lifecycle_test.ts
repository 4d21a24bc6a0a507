/** Whole-process lifecycle: built-in endpoints, graceful shutdown, CLI commands, bad configs. */
import assert from "node:assert/strict";
import { fetchText, routeConfig, runKairos, startBackend, startGateway } from "./harness.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;

Deno.test("health, ready, live and metrics answer with kairos-rs shapes", async () => {
  await using backend = startBackend(() => new Response("ok"));
  await using gw = await startGateway(routeConfig([backend]));
  const health = JSON.parse((await fetchText(`${gw.url}/health`)).body);
  assert.equal(health.status, "healthy");
  assert.equal(typeof health.version, "string");
  // Real process uptime, not seconds since the epoch (kairos-rs's bug).
  assert.ok(health.uptime >= 0 && health.uptime < 120, `uptime ${health.uptime}`);
  assert.equal(JSON.parse((await fetchText(`${gw.url}/ready`)).body).status, "ready");
  assert.equal(JSON.parse((await fetchText(`${gw.url}/live`)).body).status, "alive");

  await fetchText(`${gw.url}/api/a`);
  await fetchText(`${gw.url}/nowhere`);
  const metrics = await fetchText(`${gw.url}/metrics`);
  assert.equal(metrics.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  assert.match(metrics.body, /^kairos_requests_total 2$/m);
  assert.match(metrics.body, /^kairos_http_4xx_errors_total 1$/m);
  assert.match(metrics.body, /^kairos_http_5xx_errors_total 0$/m);
  assert.match(
    metrics.body,
    /^kairos_http_requests_total\{route="\/api\/\{\*rest\}",method="GET",status_class="2xx"\} 1$/m,
  );
  assert.match(metrics.body, /^kairos_http_request_duration_seconds_count\{route="\/api\/\{\*rest\}"\} 1$/m);
  assert.match(metrics.body, /^kairos_response_time_bucket\{le="\+Inf"\} 2$/m);
  // One access-log line per request, as JSON.
  await gw.waitForOutput(/"method":"GET","path":"\/api\/a".*"status":200/);
});

Deno.test("SIGTERM drains: the in-flight request finishes, /ready turns 503, exit code 0", async () => {
  await using slow = startBackend(async () => {
    await new Promise((r) => setTimeout(r, 800));
    return new Response("finished");
  });
  const gw = await startGateway(routeConfig([slow]), { admin: true });
  assert.equal((await fetchText(`${gw.adminUrl}/ready`)).status, 200);
  const inFlight = fetchText(`${gw.url}/api/slow`);
  await new Promise((r) => setTimeout(r, 200));
  gw.process.kill("SIGTERM");
  await gw.waitForOutput('"msg":"shutting down"');
  // The main listener stops accepting at once; the admin listener tells load balancers why.
  const ready = await fetchText(`${gw.adminUrl}/ready`);
  assert.equal(ready.status, 503);
  assert.equal(JSON.parse(ready.body).status, "draining");
  const res = await inFlight;
  assert.equal(res.status, 200);
  assert.equal(res.body, "finished");
  assert.equal(await gw.stop(), 0);
  await assert.rejects(fetch(`${gw.url}/health`), "the listener is closed");
});

Deno.test("with drain_delay_ms the gateway port keeps serving after SIGTERM while its /ready answers 503", async () => {
  await using backend = startBackend(() => new Response("served"));
  const gw = await startGateway(routeConfig([backend], {}, { server: { drain_delay_ms: 1500 } }));
  assert.equal((await fetchText(`${gw.url}/ready`)).status, 200);
  const started = performance.now();
  gw.process.kill("SIGTERM");
  await gw.waitForOutput('"msg":"shutting down"');
  // During the delay: load balancers polling /ready on this very port see 503, traffic still flows.
  const ready = await fetchText(`${gw.url}/ready`);
  assert.deepEqual([ready.status, JSON.parse(ready.body).status], [503, "draining"]);
  assert.deepEqual(await fetchText(`${gw.url}/api/x`).then((r) => [r.status, r.body]), [200, "served"]);
  assert.equal(await gw.stop(), 0);
  assert.ok(performance.now() - started >= 1400, "the listener stayed open for the delay");
  await assert.rejects(fetch(`${gw.url}/health`), "the listener is closed");
});

Deno.test("validate accepts every kairos-rs config and prints a summary", async (t) => {
  for (const entry of Deno.readDirSync(`${FIXTURES}kairos-rs`)) {
    if (!entry.name.endsWith(".json")) continue;
    await t.step(entry.name, async () => {
      const out = await runKairos(["validate", "-c", `${FIXTURES}kairos-rs/${entry.name}`]);
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, /is valid/);
    });
  }
});

Deno.test("validate rejects a bad config with every problem and its path, without binding a port", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/bad.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        version: 1,
        routers: [
          {
            external_path: "/a",
            internal_path: "/a",
            methods: ["GET"],
            backends: [{ host: "http://x", port: 0 }],
          },
          {
            external_path: "b",
            internal_path: "/b",
            methods: ["FETCH"],
            backends: [{ host: "http://x", port: 1 }],
          },
        ],
      }),
    );
    const out = await runKairos(["validate", "-c", path]);
    assert.equal(out.code, 1);
    assert.match(out.stderr, /routers\[0\]\.backends\[0\]\.port/);
    assert.match(out.stderr, /routers\[1\]\.external_path/);
    assert.match(out.stderr, /routers\[1\]\.methods\[0\]/);
    // serve refuses to start on the same file: exit 1, nothing half-configured.
    const serve = await runKairos(["serve", "-c", path, "--port", "0"]);
    assert.equal(serve.code, 1);
    assert.match(serve.stderr, /routers\[0\]\.backends\[0\]\.port/);
    const missing = await runKairos(["serve", "-c", `${dir}/missing.json`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /missing\.json/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("schema, version and --help print and exit 0", async () => {
  const schema = await runKairos(["schema"]);
  assert.equal(schema.code, 0);
  assert.ok(JSON.parse(schema.stdout).properties.routers);
  const version = await runKairos(["version"]);
  assert.match(version.stdout, /^kairos \d+\.\d+\.\d+/);
  const help = await runKairos(["--help"]);
  assert.match(help.stdout, /validate/);
  const bad = await runKairos(["frobnicate"]);
  assert.equal(bad.code, 2);
});

Deno.test("flags beat environment variables for host and port", async () => {
  await using backend = startBackend(() => new Response("ok"));
  await using gw = await startGateway(routeConfig([backend]), { env: { KAIROS_PORT: "1" } });
  // The harness passes --port, which must win over KAIROS_PORT=1.
  assert.equal((await fetchText(`${gw.url}/health`)).status, 200);
});
