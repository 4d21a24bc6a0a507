/** Whole-process load balancing: each strategy's distribution seen by real backends. */
import assert from "node:assert/strict";
import { type Backend, fetchText, routeConfig, startBackend, startGateway } from "./harness.ts";

function named(name: string, delayMs = 0): Backend {
  return startBackend(async () => {
    if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
    return new Response(name);
  });
}

async function sequence(url: string, n: number, init?: RequestInit): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await fetchText(url, init)).body);
  return out;
}

Deno.test("round_robin cycles through backends in order", async () => {
  await using a = named("a");
  await using b = named("b");
  await using c = named("c");
  await using gw = await startGateway(routeConfig([a, b, c], { load_balancing_strategy: "round_robin" }));
  assert.deepEqual(await sequence(`${gw.url}/api/x`, 6), ["a", "b", "c", "a", "b", "c"]);
});

Deno.test("weighted interleaves 5:1:1 smoothly instead of bursting", async () => {
  await using a = named("a");
  await using b = named("b");
  await using c = named("c");
  await using gw = await startGateway(
    routeConfig([{ port: a.port, weight: 5 }, { port: b.port, weight: 1 }, { port: c.port, weight: 1 }], {
      load_balancing_strategy: "weighted",
    }),
  );
  const seq = await sequence(`${gw.url}/api/x`, 14);
  assert.deepEqual(seq.filter((s) => s === "a").length, 10);
  assert.deepEqual(seq.filter((s) => s === "b").length, 2);
  // nginx's smooth WRR for 5:1:1 repeats a a b a c a a: at most 4 a's in a row (across periods).
  assert.doesNotMatch(seq.join(""), /aaaaa/);
  assert.deepEqual(seq.slice(0, 7), ["a", "a", "b", "a", "c", "a", "a"]);
});

Deno.test("least_connections sends new requests away from a busy backend", async () => {
  await using slow = named("slow", 400);
  await using fast = named("fast");
  await using gw = await startGateway(
    routeConfig([{ port: slow.port }, { port: fast.port }], { load_balancing_strategy: "least_connections" }),
  );
  // Two at once: one lands on each backend; the slow one stays busy for 400 ms.
  const firstTwo = Promise.all([fetchText(`${gw.url}/api/x`), fetchText(`${gw.url}/api/x`)]);
  await new Promise((r) => setTimeout(r, 100));
  // Sent one after another while the slow backend still holds its request: all go to the idle one.
  const rest = await sequence(`${gw.url}/api/x`, 6);
  const counts = [...(await firstTwo).map((r) => r.body), ...rest];
  // kairos-rs always picks backend 0; here only one request may wait on the slow backend.
  assert.equal(counts.filter((s) => s === "slow").length, 1, counts.join());
});

Deno.test("random spreads requests over every backend", async () => {
  await using a = named("a");
  await using b = named("b");
  await using gw = await startGateway(routeConfig([a, b], { load_balancing_strategy: "random" }));
  const seq = await sequence(`${gw.url}/api/x`, 60);
  const as = seq.filter((s) => s === "a").length;
  // Binomial(60, 0.5): P(as < 12 or as > 48) is about 1e-6.
  assert.ok(as >= 12 && as <= 48, `a got ${as} of 60`);
});

Deno.test("ip_hash keeps a client on one backend and spreads clients", async () => {
  await using a = named("a");
  await using b = named("b");
  await using c = named("c");
  await using gw = await startGateway(
    routeConfig([a, b, c], { load_balancing_strategy: "ip_hash" }, { trusted_proxies: ["127.0.0.1/32"] }),
  );
  const backendFor = async (ip: string) => {
    const seq = await sequence(`${gw.url}/api/x`, 3, { headers: { "x-forwarded-for": ip } });
    assert.equal(new Set(seq).size, 1, `client ${ip} moved between backends: ${seq}`);
    return seq[0];
  };
  const seen = new Set<string>();
  for (let i = 1; i <= 24; i++) seen.add(await backendFor(`203.0.113.${i}`));
  assert.equal(seen.size, 3, "24 clients should reach all three backends");
});
