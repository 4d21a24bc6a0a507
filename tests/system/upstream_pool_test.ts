/**
 * server.upstream_pool: the http1 client opens at most max_connections_per_backend connections to a backend
 * and queues the rest; max_idle_per_backend 0 turns keep-alive to backends off.
 */
import assert from "node:assert/strict";
import { fetchText, routeConfig, sample, startGateway } from "./harness.ts";

/** A backend that counts TCP connections and concurrent requests; each request takes `delayMs`. */
function countingBackend(delayMs: number) {
  let connections = 0;
  let active = 0;
  let peak = 0;
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async () => {
    active++;
    peak = Math.max(peak, active);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    active--;
    return new Response("ok");
  });
  // A TCP relay in front of the server, so that every connection the gateway opens is seen.
  const relaying = (async () => {
    for await (const conn of listener) {
      connections++;
      (async () => {
        const upstream = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
        await Promise.allSettled([
          conn.readable.pipeTo(upstream.writable),
          upstream.readable.pipeTo(conn.writable),
        ]);
      })();
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get connections() {
      return connections;
    },
    get peak() {
      return peak;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      await relaying.catch(() => {});
      await server.shutdown();
    },
  };
}

Deno.test("max_connections_per_backend caps the connections to a backend and queues the other requests", async () => {
  await using backend = countingBackend(150);
  await using gw = await startGateway(
    routeConfig([backend], { connect_timeout_ms: 5000 }, {
      server: { upstream_pool: { max_connections_per_backend: 2 } },
    }),
  );
  const started = performance.now();
  const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => fetchText(`${gw.url}/api/${i}`)));
  const elapsed = performance.now() - started;
  assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200, 200, 200]);
  assert.equal(backend.peak, 2, "at most 2 requests at the backend at once");
  assert.ok(backend.connections <= 2, `${backend.connections} connections opened`);
  assert.ok(elapsed >= 3 * 150 - 20, `three waves of two: ${elapsed.toFixed(0)} ms`);
  const metrics = (await fetchText(`${gw.url}/metrics`)).body;
  const waits = sample(
    metrics,
    `kairos_upstream_pool_waits_total{backend="http://127.0.0.1:${backend.port}"}`,
  );
  assert.ok((waits ?? 0) >= 4, `pool waits: ${waits}`);
});

for (const client of ["http1", "fetch"]) {
  Deno.test(`max_idle_per_backend 0 opens a new backend connection per request (${client})`, async () => {
    await using backend = countingBackend(0);
    await using gw = await startGateway(
      routeConfig([backend], {}, {
        server: { upstream_client: client, upstream_pool: { max_idle_per_backend: 0 } },
      }),
    );
    for (let i = 0; i < 4; i++) assert.equal((await fetchText(`${gw.url}/api/${i}`)).status, 200);
    assert.equal(backend.connections, 4);
  });
}

Deno.test("by default the pool reuses one backend connection for sequential requests", async () => {
  await using backend = countingBackend(0);
  await using gw = await startGateway(routeConfig([backend]));
  for (let i = 0; i < 4; i++) assert.equal((await fetchText(`${gw.url}/api/${i}`)).status, 200);
  assert.equal(backend.connections, 1);
});
