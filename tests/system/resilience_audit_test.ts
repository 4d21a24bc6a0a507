/**
 * Whole-process audit probes of upstream resilience: failing fast with every backend dead, client
 * aborts that must not trip breakers, a hanging health endpoint, and backend state over a reload.
 */
import assert from "node:assert/strict";
import { fetchText, freePort, routeConfig, sample, startBackend, startGateway } from "./harness.ts";

const CLIENTS = ["fetch", "http1"] as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The value of one metric line, e.g. `kairos_backend_up{backend="…"}`; undefined when absent. */

for (const client of CLIENTS) {
  const server = { upstream_client: client };

  Deno.test(`audit: with every backend dead, requests fail fast once the breakers open (${client})`, async () => {
    const dead = [{ port: freePort() }, { port: freePort() }];
    await using gw = await startGateway(routeConfig(dead, {
      retry: { max_retries: 2, initial_backoff_ms: 5, max_backoff_ms: 10 },
      circuit_breaker: { failure_threshold: 2, reset_timeout_ms: 60_000 },
    }, { server }));
    const first = await fetchText(`${gw.url}/api/x`);
    assert.equal(first.status, 502);
    const second = await fetchText(`${gw.url}/api/x`);
    assert.ok(second.status === 502 || second.status === 503, `${second.status}`);
    for (let i = 0; i < 10; i++) {
      const started = performance.now();
      const res = await fetchText(`${gw.url}/api/x`);
      assert.equal(res.status, 503);
      assert.equal(JSON.parse(res.body).type, "circuit_open");
      assert.equal(res.headers.get("retry-after"), "60");
      assert.ok(performance.now() - started < 200, "an open circuit answers at once");
    }
    const metrics = (await fetchText(`${gw.url}/metrics`)).body;
    let attempts = 0;
    for (const d of dead) {
      const key = `http://127.0.0.1:${d.port}`;
      attempts +=
        sample(metrics, `kairos_upstream_attempts_total{backend="${key}",outcome="connect_error"}`) ?? 0;
      assert.equal(sample(metrics, `kairos_circuit_breaker_state{service="${key}"}`), 1);
    }
    // Two failures open each breaker; nothing reached a backend after that.
    assert.equal(attempts, 4);
  });

  for (const buffered of [false, true]) {
    const how = buffered ? "uploads buffered for retries" : "streamed uploads";
    Deno.test({
      name: `audit: clients aborting ${how} do not open the backend's circuit (${client})`,
      async fn() {
        await using backend = startBackend(async (req) => {
          await req.arrayBuffer().catch(() => {});
          return new Response("ok");
        });
        await using gw = await startGateway(routeConfig([{ port: backend.port }], {
          circuit_breaker: { failure_threshold: 1, reset_timeout_ms: 60_000 },
          ...(buffered ? { retry: { max_retries: 2, initial_backoff_ms: 5 } } : {}),
        }, { server }));
        for (let i = 0; i < 3; i++) {
          const abort = new AbortController();
          const body = new ReadableStream<Uint8Array>({
            async pull(c) {
              c.enqueue(new TextEncoder().encode("part of a body "));
              await sleep(20);
            },
          });
          setTimeout(() => abort.abort(), 100);
          await fetch(`${gw.url}/api/upload`, {
            method: "POST",
            body,
            // A declared length over max_buffered_body_bytes streams; chunked (no length) is buffered.
            headers: buffered ? {} : { "content-length": "100000" },
            signal: abort.signal,
          }).then((r) => r.body?.cancel(), () => {});
        }
        await sleep(100);
        const res = await fetchText(`${gw.url}/api/x`);
        assert.equal(res.status, 200, res.body);
        const metrics = (await fetchText(`${gw.url}/metrics`)).body;
        assert.equal(sample(metrics, `kairos_circuit_breaker_state{service="${backend.url}"}`), 0);
        assert.doesNotMatch(gw.output(), /internal error/, "a client abort is not an internal error");
      },
    });
  }
}

Deno.test("audit: a hanging health endpoint takes its backend out and lets it back when it answers", async () => {
  let hang = true;
  const hung: Array<() => void> = [];
  await using a = startBackend((req) =>
    new URL(req.url).pathname === "/health" ? new Response("up") : new Response("a")
  );
  await using b = startBackend((req) => {
    if (new URL(req.url).pathname !== "/health") return new Response("b");
    if (!hang) return new Response("up");
    // Never answers on its own; released at the end so the backend can shut down.
    return new Promise<Response>((resolve) => hung.push(() => resolve(new Response("late"))));
  });
  try {
    await using gw = await startGateway(routeConfig(
      [{ port: a.port, health_check_path: "/health" }, { port: b.port, health_check_path: "/health" }],
      { health_check: { interval_ms: 100, timeout_ms: 80, unhealthy_threshold: 2, healthy_threshold: 2 } },
    ));
    const spread = async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 6; i++) seen.add((await fetchText(`${gw.url}/api/x`)).body);
      return seen;
    };
    await sleep(500);
    assert.deepEqual(await spread(), new Set(["a"]));
    const metrics = (await fetchText(`${gw.url}/metrics`)).body;
    assert.equal(sample(metrics, `kairos_backend_up{backend="${b.url}"}`), 0);
    // Probes kept coming (one per interval, never piling up), so recovery is seen.
    assert.ok(hung.length >= 3 && hung.length <= 7, `health probes sent: ${hung.length}`);
    hang = false;
    await sleep(500);
    assert.deepEqual(await spread(), new Set(["a", "b"]));
    assert.equal(await gw.stop(), 0);
  } finally {
    for (const release of hung) release();
  }
});

Deno.test("audit: a reload keeps an open circuit and the health-check rhythm, and drops removed backends", async () => {
  let healthChecks = 0;
  await using bad = startBackend(() => new Response("boom", { status: 500 }));
  await using good = startBackend((req) => {
    if (new URL(req.url).pathname === "/health") healthChecks++;
    return new Response("good");
  });
  await using extra = startBackend(() => new Response("extra"));
  const admin = { enabled: true };
  const config = (timeout: number, withExtra: boolean) =>
    routeConfig(
      [
        { port: bad.port },
        { port: good.port, health_check_path: "/health" },
        ...(withExtra ? [{ port: extra.port }] : []),
      ],
      {
        timeout_ms: timeout,
        circuit_breaker: { failure_threshold: 1, reset_timeout_ms: 60_000 },
        health_check: { interval_ms: 1000, timeout_ms: 500 },
      },
      { admin },
    );
  await using gw = await startGateway(config(5000, true), { admin: true });
  await sleep(100);
  for (let i = 0; i < 3; i++) await fetchText(`${gw.url}/api/x`);
  const badSeen = bad.requests;
  assert.equal(badSeen, 1, "the breaker opened on the first 500");
  const checksBefore = healthChecks;
  for (const [timeout, withExtra] of [[5001, true], [5002, false], [5003, false]] as const) {
    const put = await fetchText(`${gw.adminUrl}/api/config`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(config(timeout, withExtra)),
    });
    assert.equal(put.status, 200, put.body);
  }
  for (let i = 0; i < 6; i++) assert.equal((await fetchText(`${gw.url}/api/x`)).body, "good");
  assert.equal(bad.requests, badSeen, "the open circuit survived the reloads");
  assert.ok(healthChecks - checksBefore <= 1, `health checks during reloads: ${healthChecks - checksBefore}`);
  const metrics = (await fetchText(`${gw.url}/metrics`)).body;
  assert.equal(sample(metrics, `kairos_circuit_breaker_state{service="${bad.url}"}`), 1);
  const status = await (await fetch(`${gw.adminUrl}/api/status`)).json() as {
    backends: Array<{ key: string }>;
  };
  assert.deepEqual(
    status.backends.map((b) => b.key).sort(),
    [bad.url, good.url].sort(),
    "the removed backend's state is gone",
  );
});
