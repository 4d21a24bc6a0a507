/**
 * Whole-process hot reload under steady load: 20 reloads through the admin API, alternating two configs
 * whose routes answer differently, while clients send well over 200 requests/s for 10 s. No request may
 * fail and every answer must come from one config or the other.
 */
import assert from "node:assert/strict";
import { routeConfig, startBackend, startGateway } from "./harness.ts";

const DURATION_MS = 10_000;
const WORKERS = 8;
const PER_WORKER_RPS = 40; // 320 requests/s in total
const RELOADS = 20;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

Deno.test("20 reloads under 300+ requests/s lose no request and every answer comes from one config or the other", async () => {
  await using a = startBackend(() => new Response("A"));
  await using b = startBackend(() => new Response("B"));
  const admin = { enabled: true };
  const configA = routeConfig([a], { methods: ["GET"] }, { admin });
  const configB = routeConfig([b], { methods: ["GET"] }, { admin });
  await using gw = await startGateway(configA, { admin: true });

  let stop = false;
  const seen = { A: 0, B: 0 };
  const failures: string[] = [];
  let requests = 0;
  const worker = async (id: number) => {
    const period = 1000 / PER_WORKER_RPS;
    let next = performance.now();
    while (!stop) {
      requests++;
      try {
        const res = await fetch(`${gw.url}/api/w${id}`);
        const body = await res.text();
        if (res.status === 200 && (body === "A" || body === "B")) seen[body]++;
        else failures.push(`${res.status} ${body.slice(0, 80)}`);
      } catch (err) {
        failures.push(String(err));
      }
      next += period;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
    }
  };

  const latencies: number[] = [];
  const serverMs: number[] = [];
  const reloader = async () => {
    const gap = DURATION_MS / (RELOADS + 1);
    for (let i = 1; i <= RELOADS; i++) {
      await sleep(gap);
      const started = performance.now();
      const res = await fetch(`${gw.adminUrl}/api/config`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(i % 2 === 1 ? configB : configA),
      });
      const body = await res.json();
      latencies.push(performance.now() - started);
      serverMs.push(body.duration_ms);
      assert.equal(res.status, 200, JSON.stringify(body));
      assert.equal(body.changed, true);
      assert.equal(body.version, i + 1);
    }
  };

  const started = performance.now();
  const load = Promise.all(Array.from({ length: WORKERS }, (_, i) => worker(i)));
  await reloader();
  const remaining = DURATION_MS - (performance.now() - started);
  if (remaining > 0) await sleep(remaining);
  stop = true;
  await load;
  const elapsedS = (performance.now() - started) / 1000;

  // The last reload (20th, even) went back to config A: new requests are answered by A only.
  const after = await fetch(`${gw.url}/api/after`);
  assert.equal(await after.text(), "A");

  latencies.sort((x, y) => x - y);
  serverMs.sort((x, y) => x - y);
  const rate = requests / elapsedS;
  console.log(
    `reload under load: ${requests} requests in ${elapsedS.toFixed(1)} s (${rate.toFixed(0)}/s), ` +
      `${failures.length} failed, A ${seen.A} / B ${seen.B}; ${latencies.length} reloads, API round trip ms ` +
      `min ${latencies[0].toFixed(1)} p50 ${percentile(latencies, 50).toFixed(1)} ` +
      `p95 ${percentile(latencies, 95).toFixed(1)} max ${latencies.at(-1)!.toFixed(1)}; in the gateway ` +
      `(validate, build, swap, persist) p50 ${percentile(serverMs, 50)} max ${serverMs.at(-1)}`,
  );
  assert.deepEqual(failures, []);
  assert.ok(requests >= 2000, `only ${requests} requests were sent`);
  assert.ok(seen.A > 0 && seen.B > 0, "both configs answered");
  const status = await (await fetch(`${gw.adminUrl}/api/config/status`)).json();
  assert.equal(status.version, RELOADS + 1);
  assert.equal(status.persisted, true);
  const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  assert.match(metrics, new RegExp(`^kairos_config_reloads_total\\{result="success"\\} ${RELOADS}$`, "m"));
});
