import assert from "node:assert/strict";
import { retrySchema } from "../../src/config/schema.ts";
import {
  computeBackoff,
  isIdempotentMethod,
  isRetryableStatus,
  maxAttempts,
} from "../../src/proxy/retry_policy.ts";

Deno.test("computeBackoff() doubles from 100 ms and caps at 5000 ms without jitter (kairos-rs sequence)", () => {
  const retry = retrySchema.parse({ jitter: 0 });
  const delays = Array.from({ length: 9 }, (_, attempt) => computeBackoff(retry, attempt));
  assert.deepEqual(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
});

Deno.test("computeBackoff() follows initial, multiplier and max and truncates to whole ms", async (t) => {
  const cases: [Record<string, number>, number, number][] = [
    [{ initial_backoff_ms: 50, backoff_multiplier: 3, max_backoff_ms: 1000 }, 2, 450],
    [{ initial_backoff_ms: 50, backoff_multiplier: 3, max_backoff_ms: 1000 }, 3, 1000],
    [{ initial_backoff_ms: 100, backoff_multiplier: 1.5, max_backoff_ms: 5000 }, 1, 150],
    [{ initial_backoff_ms: 100, backoff_multiplier: 1.5, max_backoff_ms: 5000 }, 3, 337],
    [{ initial_backoff_ms: 100, backoff_multiplier: 1, max_backoff_ms: 5000 }, 9, 100],
    [{ initial_backoff_ms: 0, backoff_multiplier: 2, max_backoff_ms: 5000 }, 4, 0],
    [{ initial_backoff_ms: 100, backoff_multiplier: 2, max_backoff_ms: 5000 }, 2000, 5000],
  ];
  for (const [fields, attempt, expected] of cases) {
    await t.step(`${JSON.stringify(fields)} attempt ${attempt} → ${expected}`, () => {
      assert.equal(computeBackoff(retrySchema.parse({ ...fields, jitter: 0 }), attempt), expected);
    });
  }
});

Deno.test("computeBackoff() removes up to the jitter fraction of the delay", async (t) => {
  const retry = retrySchema.parse({ jitter: 0.2 });
  const cases: [number, number, number][] = [[0, 0, 100], [0, 0.5, 90], [0, 0.999, 80], [3, 0.5, 720], [
    10,
    0.25,
    4750,
  ]];
  for (const [attempt, draw, expected] of cases) {
    await t.step(`attempt ${attempt}, draw ${draw} → ${expected}`, () => {
      assert.equal(computeBackoff(retry, attempt, () => draw), expected);
    });
  }
});

Deno.test("computeBackoff() rejects a negative or fractional attempt", () => {
  const retry = retrySchema.parse({});
  assert.throws(() => computeBackoff(retry, -1), RangeError);
  assert.throws(() => computeBackoff(retry, 1.5), RangeError);
});

Deno.test("isIdempotentMethod() follows RFC 9110 §9.2.2", async (t) => {
  const cases: [string, boolean][] = [
    ["GET", true],
    ["HEAD", true],
    ["OPTIONS", true],
    ["TRACE", true],
    ["PUT", true],
    ["DELETE", true],
    ["POST", false],
    ["PATCH", false],
    ["CONNECT", false],
    ["get", false],
  ];
  for (const [method, expected] of cases) {
    await t.step(`${method} → ${expected}`, () => assert.equal(isIdempotentMethod(method), expected));
  }
});

Deno.test("maxAttempts() is max_retries + 1, or 1 without retry", () => {
  assert.equal(maxAttempts(undefined), 1);
  assert.equal(maxAttempts(retrySchema.parse({})), 4);
  assert.equal(maxAttempts(retrySchema.parse({ max_retries: 0 })), 1);
  assert.equal(maxAttempts(retrySchema.parse({ max_retries: 10 })), 11);
});

Deno.test("isRetryableStatus() follows retry_on_status_codes", () => {
  const retry = retrySchema.parse({});
  assert.deepEqual([500, 502, 503, 504, 429].map((s) => isRetryableStatus(retry, s)), [
    false,
    true,
    true,
    true,
    false,
  ]);
  const custom = retrySchema.parse({ retry_on_status_codes: [429] });
  assert.equal(isRetryableStatus(custom, 429), true);
  assert.equal(isRetryableStatus(custom, 503), false);
  assert.equal(isRetryableStatus(undefined, 503), false);
});
