import assert from "node:assert/strict";
import { circuitBreakerSchema } from "../../src/config/schema.ts";
import { CircuitBreaker } from "../../src/upstream/circuit_breaker.ts";

function fakeClock(start = 1_000_000) {
  const clock = { t: start, now: () => clock.t };
  return clock;
}

function breaker(overrides: Record<string, unknown> = {}, clock = fakeClock()) {
  const config = circuitBreakerSchema.parse({
    failure_threshold: 3,
    success_threshold: 2,
    reset_timeout_ms: 1000,
    ...overrides,
  });
  return { cb: new CircuitBreaker(config, clock.now), clock };
}

function fail(cb: CircuitBreaker, times: number) {
  for (let i = 0; i < times; i++) {
    assert.ok(cb.tryAcquire());
    cb.onFailure();
  }
}

Deno.test("CircuitBreaker opens after failure_threshold consecutive failures", () => {
  const { cb } = breaker();
  fail(cb, 2);
  assert.equal(cb.state, "closed");
  fail(cb, 1);
  assert.equal(cb.state, "open");
  assert.equal(cb.stateCode, 1);
  assert.equal(cb.tryAcquire(), false);
  assert.equal(cb.peekAvailable(), false);
  assert.equal(cb.failures, 3);
});

Deno.test("CircuitBreaker resets the failure count on a success while closed", () => {
  const { cb } = breaker();
  fail(cb, 2);
  cb.onSuccess();
  fail(cb, 2);
  assert.equal(cb.state, "closed");
  assert.equal(cb.stateCode, 0);
  fail(cb, 1);
  assert.equal(cb.state, "open");
});

Deno.test("CircuitBreaker fails fast until reset_timeout_ms has passed since opening", () => {
  const { cb, clock } = breaker();
  fail(cb, 3);
  clock.t += 999;
  assert.equal(cb.tryAcquire(), false);
  // A late failure of a call made before opening does not extend the cool-down.
  cb.onFailure();
  clock.t += 1;
  assert.equal(cb.peekAvailable(), true);
  assert.equal(cb.state, "half_open");
  assert.equal(cb.stateCode, 2);
});

Deno.test("CircuitBreaker lets at most half_open_max_requests probes through at once", async (t) => {
  for (const max of [1, 3]) {
    await t.step(`half_open_max_requests = ${max}`, () => {
      const { cb, clock } = breaker({ half_open_max_requests: max, success_threshold: 5 });
      fail(cb, 3);
      clock.t += 1000;
      for (let i = 0; i < max; i++) assert.equal(cb.tryAcquire(), true, `probe ${i + 1}`);
      assert.equal(cb.tryAcquire(), false);
      assert.equal(cb.peekAvailable(), false);
      assert.equal(cb.probesInFlight, max);
      cb.onSuccess();
      assert.equal(cb.peekAvailable(), true);
      assert.equal(cb.tryAcquire(), true);
      assert.equal(cb.tryAcquire(), false);
    });
  }
});

Deno.test("CircuitBreaker peekAvailable() never takes a probe slot", () => {
  const { cb, clock } = breaker();
  fail(cb, 3);
  clock.t += 1000;
  for (let i = 0; i < 5; i++) assert.equal(cb.peekAvailable(), true);
  assert.equal(cb.probesInFlight, 0);
  assert.equal(cb.tryAcquire(), true);
});

Deno.test("CircuitBreaker closes after success_threshold successful probes", () => {
  const { cb, clock } = breaker();
  fail(cb, 3);
  clock.t += 1000;
  assert.ok(cb.tryAcquire());
  cb.onSuccess();
  assert.equal(cb.state, "half_open");
  assert.ok(cb.tryAcquire());
  cb.onSuccess();
  assert.equal(cb.state, "closed");
  // Closed again with a fresh failure count.
  fail(cb, 2);
  assert.equal(cb.state, "closed");
});

Deno.test("CircuitBreaker reopens on a probe failure and restarts the cool-down", () => {
  const { cb, clock } = breaker();
  fail(cb, 3);
  clock.t += 1000;
  assert.ok(cb.tryAcquire());
  cb.onSuccess();
  assert.ok(cb.tryAcquire());
  clock.t += 500;
  cb.onFailure();
  assert.equal(cb.state, "open");
  clock.t += 999;
  assert.equal(cb.tryAcquire(), false);
  clock.t += 1;
  assert.equal(cb.tryAcquire(), true);
  // The earlier probe success does not count towards closing after reopening.
  cb.onSuccess();
  assert.equal(cb.state, "half_open");
});

Deno.test("CircuitBreaker release() returns a probe slot without a verdict", () => {
  const { cb, clock } = breaker();
  fail(cb, 3);
  clock.t += 1000;
  assert.ok(cb.tryAcquire());
  assert.equal(cb.tryAcquire(), false);
  cb.release();
  assert.equal(cb.state, "half_open");
  assert.equal(cb.probesInFlight, 0);
  assert.ok(cb.tryAcquire());
});

Deno.test("CircuitBreaker release() and verdicts never push the slot count below zero", () => {
  const { cb, clock } = breaker({ half_open_max_requests: 1 });
  fail(cb, 3);
  clock.t += 1000;
  cb.release();
  cb.release();
  assert.equal(cb.probesInFlight, 0);
  assert.ok(cb.tryAcquire());
  assert.equal(cb.tryAcquire(), false);
});

Deno.test("CircuitBreaker reclaims a probe slot held without a verdict for reset_timeout_ms", () => {
  const { cb, clock } = breaker();
  fail(cb, 3);
  clock.t += 1000;
  assert.ok(cb.tryAcquire()); // this call never reports back
  clock.t += 999;
  assert.equal(cb.tryAcquire(), false);
  clock.t += 1;
  assert.equal(cb.peekAvailable(), true);
  assert.equal(cb.tryAcquire(), true);
});

Deno.test("CircuitBreaker ignores a late success while open", () => {
  const { cb, clock } = breaker();
  fail(cb, 3);
  cb.onSuccess();
  assert.equal(cb.state, "open");
  assert.equal(cb.successes, 1);
  clock.t += 1000;
  assert.equal(cb.state, "half_open");
});

Deno.test("CircuitBreaker counts total failures and successes", () => {
  const { cb } = breaker({ failure_threshold: 10 });
  fail(cb, 4);
  cb.onSuccess();
  cb.onSuccess();
  assert.equal(cb.failures, 4);
  assert.equal(cb.successes, 2);
});

Deno.test("CircuitBreaker isFailureStatus() follows failure_status_codes", async (t) => {
  const { cb } = breaker();
  const cases: [number, boolean][] = [[500, true], [502, true], [503, true], [504, true], [501, false], [
    404,
    false,
  ], [200, false]];
  for (const [status, expected] of cases) {
    await t.step(`${status} → ${expected}`, () => assert.equal(cb.isFailureStatus(status), expected));
  }
  cb.updateConfig(circuitBreakerSchema.parse({ failure_status_codes: [429] }));
  assert.equal(cb.isFailureStatus(429), true);
  assert.equal(cb.isFailureStatus(500), false);
});

Deno.test("CircuitBreaker updateConfig() keeps state and applies new thresholds", () => {
  const { cb } = breaker();
  fail(cb, 2);
  cb.updateConfig(circuitBreakerSchema.parse({ failure_threshold: 10 }));
  assert.equal(cb.state, "closed");
  fail(cb, 7);
  assert.equal(cb.state, "closed");
  fail(cb, 1);
  assert.equal(cb.state, "open");
});
