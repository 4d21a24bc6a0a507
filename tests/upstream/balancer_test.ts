import assert from "node:assert/strict";
import { circuitBreakerSchema, LB_STRATEGIES } from "../../src/config/schema.ts";
import { BackendState } from "../../src/upstream/backend_state.ts";
import { createBalancer } from "../../src/upstream/balancer.ts";

const breakerConfig = circuitBreakerSchema.parse({ failure_threshold: 1 });

function backend(name: string, weight = 1): BackendState {
  const key = `http://${name}:80`;
  const target = { protocol: "http:", hostname: name, port: 80, authority: name, key } as const;
  return new BackendState(key, { target, weight, healthCheckPath: null, breakerConfig });
}

function pool(...names: string[]): BackendState[] {
  return names.map((n) => backend(n));
}

function names(picks: (BackendState | undefined)[]): string[] {
  return picks.map((b) => b?.target.hostname ?? "-");
}

function pickMany(balancer: ReturnType<typeof createBalancer>, n: number, ip = "10.0.0.1"): string[] {
  return names(Array.from({ length: n }, () => balancer.pick(ip)));
}

function count(seq: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of seq) out[s] = (out[s] ?? 0) + 1;
  return out;
}

/** mulberry32: a small seeded PRNG, so "random" tests are reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function ip(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

Deno.test("round_robin cycles through backends in order, starting at backend 0", () => {
  const balancer = createBalancer("round_robin", pool("a", "b", "c"));
  assert.deepEqual(pickMany(balancer, 7), ["a", "b", "c", "a", "b", "c", "a"]);
});

Deno.test("round_robin skips an unavailable backend", () => {
  const backends = pool("a", "b", "c");
  backends[1].healthy = false;
  const balancer = createBalancer("round_robin", backends);
  assert.deepEqual(pickMany(balancer, 4), ["a", "c", "a", "c"]);
  backends[1].healthy = true;
  assert.deepEqual(pickMany(balancer, 3), ["a", "b", "c"]);
});

Deno.test("weighted interleaves picks smoothly like nginx (5:1:1 → a,a,b,a,c,a,a)", () => {
  const balancer = createBalancer("weighted", [backend("a", 5), backend("b", 1), backend("c", 1)]);
  const seq = pickMany(balancer, 70);
  const cycle = ["a", "a", "b", "a", "c", "a", "a"];
  assert.deepEqual(seq, Array.from({ length: 10 }, () => cycle).flat());
  assert.deepEqual(count(seq), { a: 50, b: 10, c: 10 });
});

Deno.test("weighted keeps the others' proportions while a backend is unavailable", () => {
  const backends = [backend("a", 5), backend("b", 1), backend("c", 1)];
  backends[2].breaker.onFailure(); // circuit opens (threshold 1)
  const balancer = createBalancer("weighted", backends);
  const seq = pickMany(balancer, 60);
  assert.deepEqual(count(seq), { a: 50, b: 10 });
  assert.ok(!seq.join("").includes("bb"));
});

Deno.test("weighted uses the weights passed in options over the states' weights", () => {
  const balancer = createBalancer("weighted", pool("a", "b"), { weights: [2, 1] });
  assert.deepEqual(pickMany(balancer, 6), ["a", "b", "a", "a", "b", "a"]);
});

Deno.test("least_connections picks the backend with the fewest in-flight requests", () => {
  const backends = pool("a", "b", "c");
  backends[0].inFlight = 3;
  backends[1].inFlight = 1;
  backends[2].inFlight = 2;
  const balancer = createBalancer("least_connections", backends);
  assert.deepEqual(pickMany(balancer, 3), ["b", "b", "b"]);
  backends[1].inFlight = 5;
  assert.equal(balancer.pick("x")?.target.hostname, "c");
});

Deno.test("least_connections follows in-flight counts as requests start and end", () => {
  const backends = pool("a", "b", "c");
  const balancer = createBalancer("least_connections", backends);
  for (let i = 0; i < 9; i++) balancer.pick("x")!.acquire();
  assert.deepEqual(backends.map((b) => b.inFlight), [3, 3, 3]);
  backends[1].release();
  backends[1].release();
  assert.deepEqual(pickMany(balancer, 2), ["b", "b"]);
});

Deno.test("least_connections spreads ties instead of always taking backend 0", () => {
  const balancer = createBalancer("least_connections", pool("a", "b", "c"));
  // Nothing is ever acquired, so every pick is a three-way tie.
  assert.deepEqual(count(pickMany(balancer, 30)), { a: 10, b: 10, c: 10 });
});

Deno.test("least_connections divides in-flight counts by weight", () => {
  const backends = [backend("a", 2), backend("b", 1)];
  const balancer = createBalancer("least_connections", backends);
  for (let i = 0; i < 9; i++) balancer.pick("x")!.acquire();
  assert.deepEqual(backends.map((b) => b.inFlight), [6, 3]);
});

Deno.test("random picks uniformly among available backends", () => {
  const balancer = createBalancer("random", pool("a", "b", "c", "d"), { random: seeded(42) });
  const counts = count(pickMany(balancer, 4000));
  for (const name of ["a", "b", "c", "d"]) {
    assert.ok(counts[name] > 900 && counts[name] < 1100, `${name}: ${counts[name]}`);
  }
});

Deno.test("random maps the random draw onto the available backends only", () => {
  const backends = pool("a", "b", "c");
  backends[1].healthy = false;
  const draws = [0, 0.49, 0.5, 0.999];
  let i = 0;
  const balancer = createBalancer("random", backends, { random: () => draws[i++] });
  assert.deepEqual(pickMany(balancer, 4), ["a", "a", "c", "c"]);
});

Deno.test("ip_hash sends the same client to the same backend", () => {
  const balancer = createBalancer("ip_hash", pool("a", "b", "c"));
  for (let i = 0; i < 200; i++) {
    const first = balancer.pick(ip(i));
    for (let k = 0; k < 3; k++) assert.equal(balancer.pick(ip(i)), first);
  }
});

Deno.test("ip_hash spreads clients evenly, and by weight", () => {
  const even = createBalancer("ip_hash", pool("a", "b", "c", "d", "e"));
  const counts = count(names(Array.from({ length: 10_000 }, (_, i) => even.pick(ip(i)))));
  for (const name of ["a", "b", "c", "d", "e"]) {
    assert.ok(counts[name] > 1500 && counts[name] < 2500, `${name}: ${counts[name]}`);
  }
  const weighted = createBalancer("ip_hash", [backend("a", 3), backend("b", 1)]);
  const share = count(names(Array.from({ length: 10_000 }, (_, i) => weighted.pick(ip(i))))).a / 10_000;
  assert.ok(share > 0.68 && share < 0.82, `a's share: ${share}`);
});

Deno.test("ip_hash remaps only the removed backend's clients (about 1/N)", () => {
  const all = ["a", "b", "c", "d", "e"];
  const before = createBalancer("ip_hash", pool(...all));
  const after = createBalancer("ip_hash", pool("a", "b", "d", "e"));
  let moved = 0;
  for (let i = 0; i < 10_000; i++) {
    const was = before.pick(ip(i))!.target.hostname;
    const now = after.pick(ip(i))!.target.hostname;
    if (was === "c") moved++;
    else assert.equal(now, was, `client ${ip(i)} moved from ${was} to ${now}`);
  }
  assert.ok(moved > 1500 && moved < 2500, `moved: ${moved}`);
});

Deno.test("ip_hash sends an unavailable owner's clients where removing it would", () => {
  const backends = pool("a", "b", "c", "d");
  const down = createBalancer("ip_hash", backends);
  const removed = createBalancer("ip_hash", pool("a", "b", "d"));
  backends[2].healthy = false;
  for (let i = 0; i < 2000; i++) {
    assert.equal(down.pick(ip(i))!.target.hostname, removed.pick(ip(i))!.target.hostname);
  }
});

Deno.test("every strategy returns undefined when no backend is available", async (t) => {
  for (const strategy of LB_STRATEGIES) {
    await t.step(strategy, () => {
      const backends = pool("a", "b", "c");
      backends[0].healthy = false;
      backends[1].breaker.onFailure();
      backends[2].healthy = false;
      const balancer = createBalancer(strategy, backends, { random: seeded(1) });
      assert.equal(balancer.pick("10.0.0.1"), undefined);
      assert.equal(balancer.pick("10.0.0.1", backends[0]), undefined);
      assert.equal(createBalancer(strategy, []).pick("10.0.0.1"), undefined);
    });
  }
});

Deno.test("every strategy avoids the excluded backend unless it is the only one available", async (t) => {
  for (const strategy of LB_STRATEGIES) {
    await t.step(strategy, () => {
      const backends = pool("a", "b", "c");
      const balancer = createBalancer(strategy, backends, { random: seeded(7) });
      for (let i = 0; i < 30; i++) {
        const first = balancer.pick(ip(i))!;
        const retry = balancer.pick(ip(i), first);
        assert.ok(retry !== undefined && retry !== first, `${ip(i)}: retried on ${first.key}`);
      }
      backends[1].healthy = false;
      backends[2].healthy = false;
      assert.equal(balancer.pick("10.0.0.1", backends[0]), backends[0]);
      backends[0].healthy = false;
      backends[2].healthy = true;
      assert.equal(balancer.pick("10.0.0.1", backends[2]), backends[2]);
    });
  }
});

Deno.test("every strategy lets a half-open backend be picked without taking its probe slot", async (t) => {
  for (const strategy of LB_STRATEGIES) {
    await t.step(strategy, () => {
      let now = 0;
      const b = new BackendState("http://a:80", {
        target: { protocol: "http:", hostname: "a", port: 80, authority: "a", key: "http://a:80" },
        weight: 1,
        healthCheckPath: null,
        breakerConfig: circuitBreakerSchema.parse({ failure_threshold: 1, reset_timeout_ms: 10 }),
      }, () => now);
      b.breaker.onFailure();
      const balancer = createBalancer(strategy, [b]);
      assert.equal(balancer.pick("10.0.0.1"), undefined);
      now = 10;
      assert.equal(balancer.pick("10.0.0.1"), b);
      assert.equal(b.breaker.probesInFlight, 0);
      assert.ok(b.breaker.tryAcquire());
      assert.equal(balancer.pick("10.0.0.1"), undefined);
    });
  }
});

Deno.test("createBalancer() rejects weights that do not match the backends", () => {
  assert.throws(() => createBalancer("weighted", pool("a", "b"), { weights: [1] }), RangeError);
  assert.throws(() => createBalancer("weighted", pool("a"), { weights: [0] }), RangeError);
});
