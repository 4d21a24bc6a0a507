// Micro benchmark, not part of the test suite:
//   deno bench --allow-net tests/upstream/http1/client_bench.ts
// Both clients fetch a 1 KiB body from a local Deno.serve, 32 requests in flight, 256 per iteration;
// req/s = 256 / (time per iteration).
import type { UpstreamRequest, UpstreamTarget } from "../../../src/upstream/client.ts";
import { createHttp1Client } from "../../../src/upstream/http1/http1_client.ts";

const CONCURRENCY = 32;
const PER_WORKER = 8;
const body = new Uint8Array(1024).fill(120);
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response(body));
server.unref();
const port = server.addr.port;
const target: UpstreamTarget = {
  protocol: "http:",
  hostname: "127.0.0.1",
  port,
  authority: `127.0.0.1:${port}`,
  key: `http://127.0.0.1:${port}`,
};
const url = `${target.key}/bench`;
const client = createHttp1Client();

async function fetchOne(): Promise<void> {
  const response = await fetch(url);
  await response.arrayBuffer();
}

async function http1One(): Promise<void> {
  const request: UpstreamRequest = {
    method: "GET",
    path: "/bench",
    headers: new Headers({ host: target.authority }),
    body: null,
    connectTimeoutMs: 2000,
    firstByteTimeoutMs: 5000,
    idleTimeoutMs: 5000,
  };
  const response = await client.send(target, request);
  await response.arrayBuffer();
}

async function inParallel(one: () => Promise<void>): Promise<void> {
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    for (let i = 0; i < PER_WORKER; i++) await one();
  }));
}

Deno.bench({
  name: "fetch: 256 GETs, 32 in flight",
  group: "1 KiB GET",
  baseline: true,
  fn: async () => await inParallel(fetchOne),
});

Deno.bench({
  name: "http1: 256 GETs, 32 in flight",
  group: "1 KiB GET",
  fn: async () => await inParallel(http1One),
});

// Bench functions must be async functions: Deno.bench awaits only those.
globalThis.addEventListener("unload", () => client.close());
