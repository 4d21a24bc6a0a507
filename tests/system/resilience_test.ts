/**
 * Whole-process resilience: retries with backoff, circuit breakers, active health checks, timeouts,
 * dead backends — run against both upstream clients.
 */
import assert from "node:assert/strict";
import { fetchText, freePort, routeConfig, startBackend, startGateway } from "./harness.ts";

const CLIENTS = ["fetch", "http1"] as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fastRetry = { max_retries: 2, initial_backoff_ms: 10, max_backoff_ms: 50, backoff_multiplier: 2 };

for (const client of CLIENTS) {
  const server = { upstream_client: client };

  Deno.test(`a retryable status is retried on another backend (${client})`, async () => {
    await using failing = startBackend(() => new Response("down", { status: 503 }));
    await using ok = startBackend(() => new Response("ok"));
    await using gw = await startGateway(routeConfig([failing, ok], { retry: fastRetry }, { server }));
    for (let i = 0; i < 4; i++) {
      const res = await fetchText(`${gw.url}/api/x`);
      assert.equal(res.status, 200);
      assert.equal(res.body, "ok");
    }
    const metrics = await fetchText(`${gw.url}/metrics`);
    assert.match(metrics.body, /kairos_upstream_retries_total\{route="\/api\/\{\*rest\}"\} [1-9]/);
  });

  Deno.test(`a dead backend fails over to a live one; without retries it is a 502 (${client})`, async () => {
    await using ok = startBackend(() => new Response("ok"));
    const dead = { port: freePort() };
    await using gw = await startGateway({
      ...routeConfig([dead, ok], { retry: fastRetry }, { server }),
    });
    for (let i = 0; i < 4; i++) assert.equal((await fetchText(`${gw.url}/api/x`)).body, "ok");

    await using gw2 = await startGateway(routeConfig([dead], {}, { server }));
    const res = await fetchText(`${gw2.url}/api/x`);
    assert.equal(res.status, 502);
    const body = JSON.parse(res.body);
    assert.equal(body.type, "upstream");
    assert.match(body.error, new RegExp(`127\\.0\\.0\\.1:${dead.port}`));
  });

  Deno.test(`POST is not retried after the backend received it (${client})`, async () => {
    let posts = 0;
    await using flaky = startBackend(async (req) => {
      await req.arrayBuffer();
      posts++;
      return new Response("busy", { status: 503 });
    });
    await using gw = await startGateway(
      routeConfig([flaky], { retry: { ...fastRetry, max_buffered_body_bytes: 0 } }, { server }),
    );
    // A streamed body that was sent cannot be replayed: one attempt only.
    const body = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode("payload"));
        c.close();
      },
    });
    const res = await fetchText(`${gw.url}/api/x`, { method: "POST", body });
    assert.equal(res.status, 503);
    assert.equal(posts, 1);
    // A GET is idempotent: retried max_retries times.
    posts = 0;
    assert.equal((await fetchText(`${gw.url}/api/x`)).status, 503);
    assert.equal(flaky.requests, 4);
  });

  Deno.test(`a slow backend is a 504 after timeout_ms (${client})`, async () => {
    await using slow = startBackend(async () => {
      await sleep(1500);
      return new Response("late");
    });
    await using gw = await startGateway(routeConfig([slow], { timeout_ms: 200 }, { server }));
    const started = Date.now();
    const res = await fetchText(`${gw.url}/api/x`);
    assert.equal(res.status, 504);
    assert.equal(JSON.parse(res.body).type, "timeout");
    assert.ok(Date.now() - started < 1400, "the gateway must not wait for the backend");
  });

  Deno.test(`the circuit opens after consecutive failures and closes after recovery (${client})`, async () => {
    let healthy = false;
    await using backend = startBackend(() =>
      healthy ? new Response("ok") : new Response("boom", { status: 500 })
    );
    await using gw = await startGateway(routeConfig([backend], {
      circuit_breaker: { failure_threshold: 3, success_threshold: 1, reset_timeout_ms: 400 },
    }, { server }));
    for (let i = 0; i < 3; i++) assert.equal((await fetchText(`${gw.url}/api/x`)).status, 500);
    const before = backend.requests;
    const open = await fetchText(`${gw.url}/api/x`);
    assert.equal(open.status, 503);
    assert.equal(JSON.parse(open.body).type, "circuit_open");
    assert.equal(backend.requests, before, "an open circuit must not reach the backend");
    const metrics = await fetchText(`${gw.url}/metrics`);
    assert.match(
      metrics.body,
      new RegExp(`kairos_circuit_breaker_state\\{service="http://127.0.0.1:${backend.port}"\\} 1`),
    );
    healthy = true;
    await sleep(450);
    assert.equal((await fetchText(`${gw.url}/api/x`)).status, 200, "half-open probe succeeds");
    assert.equal((await fetchText(`${gw.url}/api/x`)).status, 200, "closed again");
  });
}

Deno.test("health checks remove a failing backend and bring it back", async () => {
  let bHealthy = true;
  await using a = startBackend((req) =>
    new URL(req.url).pathname === "/health" ? new Response("up") : new Response("a")
  );
  await using b = startBackend((req) =>
    new URL(req.url).pathname === "/health"
      ? new Response(bHealthy ? "up" : "down", { status: bHealthy ? 200 : 500 })
      : new Response("b")
  );
  await using gw = await startGateway(routeConfig(
    [{ port: a.port, health_check_path: "/health" }, { port: b.port, health_check_path: "/health" }],
    { health_check: { interval_ms: 100, timeout_ms: 100, unhealthy_threshold: 2, healthy_threshold: 2 } },
  ));
  const spread = async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add((await fetchText(`${gw.url}/api/x`)).body);
    return seen;
  };
  assert.deepEqual(await spread(), new Set(["a", "b"]));
  bHealthy = false;
  await sleep(500);
  assert.deepEqual(await spread(), new Set(["a"]));
  assert.match(
    (await fetchText(`${gw.url}/metrics`)).body,
    new RegExp(`kairos_backend_up\\{backend="http://127.0.0.1:${b.port}"\\} 0`),
  );
  bHealthy = true;
  await sleep(500);
  assert.deepEqual(await spread(), new Set(["a", "b"]));
});

Deno.test("a backend shared by two routes keeps the health check one of them sets, whatever their order", async () => {
  let healthy = true;
  await using b = startBackend((req) =>
    new URL(req.url).pathname === "/health"
      ? new Response(healthy ? "up" : "down", { status: healthy ? 200 : 500 })
      : new Response("b")
  );
  const checked = {
    external_path: "/checked",
    internal_path: "/c",
    methods: ["GET"],
    backends: [{ host: "http://127.0.0.1", port: b.port, health_check_path: "/health" }],
    health_check: { interval_ms: 100, timeout_ms: 100, unhealthy_threshold: 2, healthy_threshold: 2 },
  };
  const plain = {
    external_path: "/plain",
    internal_path: "/p",
    methods: ["GET"],
    backends: [{ host: "http://127.0.0.1", port: b.port }],
  };
  for (const routers of [[checked, plain], [plain, checked]]) {
    healthy = true;
    await using gw = await startGateway({ version: 1, routers });
    assert.equal((await fetchText(`${gw.url}/plain`)).status, 200);
    healthy = false;
    await sleep(600);
    const metrics = (await fetchText(`${gw.url}/metrics`)).body;
    assert.match(metrics, new RegExp(`kairos_backend_up\\{backend="http://127.0.0.1:${b.port}"\\} 0`));
    // Both routes share the one state: neither sends to the unhealthy backend.
    assert.equal((await fetchText(`${gw.url}/plain`)).status, 503);
  }
});

Deno.test("real requests that fail count toward unhealthy_threshold before any probe does (passive checks)", async () => {
  // Answers its health checks, but drops every other request without a response.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const serving = (async () => {
    for await (const conn of listener) {
      (async () => {
        const buf = new Uint8Array(4096);
        const n = await conn.read(buf).catch(() => null);
        const head = n ? new TextDecoder().decode(buf.subarray(0, n)) : "";
        if (head.startsWith("GET /health ")) {
          await conn.write(
            new TextEncoder().encode("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nup"),
          )
            .catch(() => {});
        }
        conn.close();
      })();
    }
  })().catch(() => {});
  try {
    await using gw = await startGateway(routeConfig([{ port, health_check_path: "/health" }], {
      health_check: { interval_ms: 60_000, timeout_ms: 1000, unhealthy_threshold: 2, healthy_threshold: 1 },
      circuit_breaker: { failure_threshold: 100 },
    }));
    await sleep(200); // the first probe succeeds
    for (let i = 0; i < 2; i++) assert.equal((await fetchText(`${gw.url}/api/x`)).status, 502);
    const metrics = (await fetchText(`${gw.url}/metrics`)).body;
    assert.match(metrics, new RegExp(`kairos_backend_up\\{backend="http://127.0.0.1:${port}"\\} 0`));
    assert.equal((await fetchText(`${gw.url}/api/x`)).status, 503);
  } finally {
    listener.close();
    await serving;
  }
});
