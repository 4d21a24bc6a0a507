import assert from "node:assert/strict";
import { circuitBreakerSchema } from "../../src/config/schema.ts";
import { type BackendInit, BackendRegistry, BackendState } from "../../src/upstream/backend_state.ts";

const KEY = "http://127.0.0.1:9101";

function init(overrides: Partial<BackendInit> = {}): BackendInit {
  return {
    target: { protocol: "http:", hostname: "127.0.0.1", port: 9101, authority: "127.0.0.1:9101", key: KEY },
    weight: 1,
    healthCheckPath: null,
    breakerConfig: circuitBreakerSchema.parse({ failure_threshold: 2, reset_timeout_ms: 1000 }),
    ...overrides,
  };
}

Deno.test("BackendState starts healthy, closed and idle", () => {
  const b = new BackendState(KEY, init());
  assert.equal(b.key, KEY);
  assert.equal(b.healthy, true);
  assert.equal(b.inFlight, 0);
  assert.equal(b.breaker.state, "closed");
  assert.equal(b.isAvailable(), true);
});

Deno.test("BackendState acquire() and release() track in-flight requests without going negative", () => {
  const b = new BackendState(KEY, init());
  b.acquire();
  b.acquire();
  b.release();
  assert.equal(b.inFlight, 1);
  b.release();
  b.release();
  assert.equal(b.inFlight, 0);
});

Deno.test("BackendState isAvailable() needs both health and a breaker that lets calls through", () => {
  let now = 0;
  const b = new BackendState(KEY, init(), () => now);
  b.healthy = false;
  assert.equal(b.isAvailable(), false);
  b.healthy = true;
  b.breaker.onFailure();
  b.breaker.onFailure();
  assert.equal(b.isAvailable(), false);
  now = 1000;
  assert.equal(b.isAvailable(), true);
  assert.equal(b.breaker.probesInFlight, 0);
  b.healthy = false;
  assert.equal(b.isAvailable(), false);
});

Deno.test("BackendRegistry.resolve() returns the same state for a key and keeps its health, breaker and in-flight count", () => {
  const registry = new BackendRegistry({ now: () => 0 });
  const first = registry.resolve(KEY, init());
  first.healthy = false;
  first.acquire();
  first.breaker.onFailure();
  first.breaker.onFailure();
  assert.equal(first.breaker.state, "open");

  const newBreaker = circuitBreakerSchema.parse({ failure_status_codes: [429] });
  const again = registry.resolve(
    KEY,
    init({ weight: 4, healthCheckPath: "/health", breakerConfig: newBreaker }),
  );
  assert.equal(again, first);
  assert.equal(again.healthy, false);
  assert.equal(again.inFlight, 1);
  assert.equal(again.breaker.state, "open");
  assert.equal(again.weight, 4);
  assert.equal(again.healthCheckPath, "/health");
  assert.equal(again.breaker.config, newBreaker);
  assert.equal(again.breaker.isFailureStatus(429), true);
  assert.equal(registry.size, 1);
});

Deno.test("BackendRegistry shares one state between routes using the same backend; the last resolve() wins", () => {
  const registry = new BackendRegistry();
  const a = registry.resolve(KEY, init({ weight: 2 }));
  const b = registry.resolve(KEY, init({ weight: 5 }));
  assert.equal(a, b);
  assert.equal(b.weight, 5);
  const other = registry.resolve("http://127.0.0.1:9102", init());
  assert.notEqual(other, a);
  assert.equal(registry.size, 2);
});

Deno.test("BackendRegistry.retain() drops states the new snapshot no longer uses", () => {
  const registry = new BackendRegistry();
  const kept = registry.resolve(KEY, init());
  kept.healthy = false;
  const dropped = registry.resolve("http://127.0.0.1:9102", init());
  registry.retain(new Set([KEY]));
  assert.equal(registry.size, 1);
  assert.equal(registry.get(KEY), kept);
  assert.equal(registry.get("http://127.0.0.1:9102"), undefined);
  assert.deepEqual([...registry.values()], [kept]);
  // A dropped backend that comes back later starts afresh.
  dropped.healthy = false;
  const back = registry.resolve("http://127.0.0.1:9102", init());
  assert.notEqual(back, dropped);
  assert.equal(back.healthy, true);
  assert.equal(registry.resolve(KEY, init()).healthy, false);
});
