import assert from "node:assert/strict";
import { createMemoryRateLimitStore, type RateLimitRule } from "../../src/policy/rate_limit_store.ts";

const rule = (
  algorithm: RateLimitRule["algorithm"],
  rate: number,
  burst = 0,
  windowMs = 1000,
): RateLimitRule => ({
  algorithm,
  limit: rate + burst,
  rate,
  windowMs,
});

function allowedCount(
  store: ReturnType<typeof createMemoryRateLimitStore>,
  r: RateLimitRule,
  at: number,
  n: number,
) {
  let allowed = 0;
  for (let i = 0; i < n; i++) if (store.hit("k", r, at).allowed) allowed++;
  return allowed;
}

Deno.test("token bucket allows a burst of limit, then refills at rate per window", () => {
  const store = createMemoryRateLimitStore();
  const r = rule("token_bucket", 10, 5, 1000);
  assert.equal(allowedCount(store, r, 0, 20), 15);
  const denied = store.hit("k", r, 0);
  assert.equal(denied.allowed, false);
  assert.equal(denied.retryAfterMs, 100);
  assert.equal(denied.limit, 15);
  // 300 ms later three tokens have flowed back.
  assert.equal(allowedCount(store, r, 300, 5), 3);
  const after = store.hit("k", r, 10_000);
  assert.equal(after.allowed, true);
  assert.equal(after.remaining, 14);
  assert.equal(after.resetMs, 100);
});

Deno.test("fixed window allows limit per window starting at the first request", () => {
  const store = createMemoryRateLimitStore();
  const r = rule("fixed_window", 3, 1, 1000);
  assert.equal(allowedCount(store, r, 500, 6), 4);
  const denied = store.hit("k", r, 1200);
  assert.equal(denied.allowed, false);
  assert.equal(denied.retryAfterMs, 300);
  assert.equal(store.hit("k", r, 1500).allowed, true);
  assert.equal(store.hit("k", r, 1500).remaining, 2);
});

Deno.test("sliding window weighs the previous window by the time left of it", () => {
  const store = createMemoryRateLimitStore();
  const r = rule("sliding_window", 10, 0, 1000);
  assert.equal(allowedCount(store, r, 100, 12), 10);
  // At 1500 the previous window (10) weighs 0.5: 5 more fit.
  assert.equal(allowedCount(store, r, 1500, 8), 5);
  const denied = store.hit("k", r, 1500);
  assert.equal(denied.allowed, false);
  assert.ok(denied.retryAfterMs > 0 && denied.retryAfterMs <= 1500);
  // Two windows later everything is forgotten.
  assert.equal(allowedCount(store, r, 3100, 12), 10);
});

Deno.test("the memory store keys are independent and an algorithm change starts afresh", () => {
  const store = createMemoryRateLimitStore();
  const fixed = rule("fixed_window", 1);
  assert.equal(store.hit("a", fixed, 0).allowed, true);
  assert.equal(store.hit("a", fixed, 0).allowed, false);
  assert.equal(store.hit("b", fixed, 0).allowed, true);
  assert.equal(store.hit("a", rule("token_bucket", 1), 0).allowed, true);
});

Deno.test("the memory store holds at most maxKeys keys, evicting the least recently used", () => {
  const store = createMemoryRateLimitStore({ maxKeys: 100 });
  const r = rule("fixed_window", 1, 0, 60_000);
  assert.equal(store.hit("victim", r, 0).allowed, true);
  for (let i = 0; i < 50; i++) store.hit(`flood-${i}`, r, 0);
  // Recently used: survives the flood below.
  assert.equal(store.hit("victim", r, 0).allowed, false);
  for (let i = 50; i < 5000; i++) store.hit(`flood-${i}`, r, 0);
  assert.equal(store.size, 100);
  // Evicted: it starts again with a full quota (lenient, never stricter).
  assert.equal(store.hit("victim", r, 0).allowed, true);
  store.dispose();
  assert.equal(store.size, 0);
});

Deno.test("the memory store drops idle keys as new ones arrive", () => {
  const store = createMemoryRateLimitStore();
  const r = rule("fixed_window", 5, 0, 1000);
  for (let i = 0; i < 50; i++) store.hit(`old-${i}`, r, 0);
  assert.equal(store.size, 50);
  for (let i = 0; i < 50; i++) store.hit(`new-${i}`, r, 5000);
  assert.equal(store.size, 50);
});

Deno.test("createMemoryRateLimitStore() rejects a non-positive maxKeys", () => {
  assert.throws(() => createMemoryRateLimitStore({ maxKeys: 0 }), RangeError);
});
