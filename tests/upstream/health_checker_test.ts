import assert from "node:assert/strict";
import { circuitBreakerSchema, type HealthCheckConfig, healthCheckSchema } from "../../src/config/schema.ts";
import { BackendState } from "../../src/upstream/backend_state.ts";
import { HealthChecker, type HealthProbe } from "../../src/upstream/health_checker.ts";

function backend(key = "http://127.0.0.1:9101", path: string | null = "/health"): BackendState {
  const url = new URL(key);
  const target = {
    protocol: "http:",
    hostname: url.hostname,
    port: Number(url.port),
    authority: url.host,
    key,
  } as const;
  return new BackendState(key, {
    target,
    weight: 1,
    healthCheckPath: path,
    breakerConfig: circuitBreakerSchema.parse({}),
  });
}

function config(fields: Partial<HealthCheckConfig> = {}): HealthCheckConfig {
  return healthCheckSchema.parse({
    interval_ms: 10,
    timeout_ms: 1000,
    unhealthy_threshold: 3,
    healthy_threshold: 2,
    ...fields,
  });
}

interface ProbeCall {
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
  resolve(ok: boolean): void;
  reject(err: unknown): void;
}

/** A probe whose every call the test answers by hand; calls reject when their signal aborts. */
function manualProbe() {
  const calls: ProbeCall[] = [];
  const probe: HealthProbe = (_backend, timeoutMs, signal) =>
    new Promise<boolean>((resolve, reject) => {
      signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      calls.push({ timeoutMs, signal, resolve, reject });
    });
  return { calls, probe };
}

/** Polls until `condition` holds; fails after `timeoutMs` (generous: it only bounds a broken test). */
async function waitFor(condition: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Answers probe `i` and waits for probe `i + 1`, by which time the answer has been recorded. */
async function answer(calls: ProbeCall[], i: number, ok: boolean): Promise<void> {
  await waitFor(() => calls.length > i, `probe ${i}`);
  calls[i].resolve(ok);
  await waitFor(() => calls.length > i + 1, `probe ${i + 1}`);
}

Deno.test("HealthChecker flips health after the configured runs of failures and successes", async () => {
  const { calls, probe } = manualProbe();
  const changes: [string, boolean][] = [];
  const checker = new HealthChecker({ probe, onChange: (b, healthy) => changes.push([b.key, healthy]) });
  const b = backend();
  try {
    checker.update([{ backend: b, config: config() }]);
    assert.equal(calls.length, 1, "a new backend is probed at once");
    assert.equal(calls[0].timeoutMs, 1000);
    await answer(calls, 0, false);
    await answer(calls, 1, false);
    assert.equal(b.healthy, true);
    await answer(calls, 2, false);
    assert.equal(b.healthy, false);
    await answer(calls, 3, true);
    assert.equal(b.healthy, false);
    await answer(calls, 4, true);
    assert.equal(b.healthy, true);
    assert.deepEqual(changes, [[b.key, false], [b.key, true]]);
  } finally {
    checker.stop();
  }
});

Deno.test("HealthChecker needs consecutive failures: a success resets the count", async () => {
  const { calls, probe } = manualProbe();
  const checker = new HealthChecker({ probe });
  const b = backend();
  try {
    checker.update([{ backend: b, config: config() }]);
    const answers = [false, false, true, false, false];
    for (let i = 0; i < answers.length; i++) await answer(calls, i, answers[i]);
    assert.equal(b.healthy, true);
    await answer(calls, 5, false);
    assert.equal(b.healthy, false);
  } finally {
    checker.stop();
  }
});

Deno.test("HealthChecker never runs two probes of one backend at once", async () => {
  const { calls, probe } = manualProbe();
  const checker = new HealthChecker({ probe });
  try {
    checker.update([{ backend: backend(), config: config({ interval_ms: 5 }) }]);
    await new Promise((r) => setTimeout(r, 50)); // ten intervals while the first probe hangs
    assert.equal(calls.length, 1);
    await answer(calls, 0, true);
  } finally {
    checker.stop();
  }
});

Deno.test("HealthChecker counts a probe that outlives timeout_ms as a failure and aborts it", async () => {
  const { calls, probe } = manualProbe();
  const checker = new HealthChecker({ probe });
  const b = backend();
  try {
    checker.update([{ backend: b, config: config({ timeout_ms: 20, unhealthy_threshold: 1 }) }]);
    await waitFor(() => !b.healthy, "the backend to turn unhealthy");
    assert.equal(calls[0].signal.aborted, true);
    assert.equal((calls[0].signal.reason as DOMException).name, "TimeoutError");
  } finally {
    checker.stop();
  }
});

Deno.test("HealthChecker counts a throwing or rejecting probe as a failure", async (t) => {
  const probes: [string, HealthProbe][] = [
    ["throws", () => {
      throw new Error("boom");
    }],
    ["rejects", () => Promise.reject(new Error("boom"))],
    ["resolves a non-boolean", () => Promise.resolve("yes" as unknown as boolean)],
  ];
  for (const [name, probe] of probes) {
    await t.step(name, async () => {
      const checker = new HealthChecker({ probe });
      const b = backend();
      try {
        checker.update([{ backend: b, config: config({ unhealthy_threshold: 1 }) }]);
        await waitFor(() => !b.healthy, "the backend to turn unhealthy");
      } finally {
        checker.stop();
      }
    });
  }
});

Deno.test("HealthChecker.update() keeps an unchanged check's state and timer phase", async () => {
  const { calls, probe } = manualProbe();
  const checker = new HealthChecker({ probe });
  const b = backend();
  try {
    checker.update([{ backend: b, config: config() }]);
    await answer(calls, 0, false);
    await answer(calls, 1, false);
    // Same settings in new objects, and a new threshold: no restart (a restart probes at once).
    const before = calls.length;
    checker.update([{ backend: b, config: config() }]);
    checker.update([{ backend: b, config: config({ unhealthy_threshold: 4 }) }]);
    assert.equal(calls.length, before);
    await answer(calls, 2, false);
    assert.equal(b.healthy, true, "the new threshold (4) applies to the running count");
    await answer(calls, 3, false);
    assert.equal(b.healthy, false);
    assert.equal(checker.size, 1);
  } finally {
    checker.stop();
  }
});

Deno.test("HealthChecker.update() restarts a check whose interval changed", async () => {
  const { calls, probe } = manualProbe();
  const checker = new HealthChecker({ probe });
  const b = backend();
  try {
    checker.update([{ backend: b, config: config({ interval_ms: 60_000 }) }]);
    calls[0].resolve(true);
    await new Promise((r) => setTimeout(r, 0)); // let the first probe finish
    checker.update([{ backend: b, config: config({ interval_ms: 10 }) }]);
    assert.equal(calls.length, 2, "probed at once on restart");
    await answer(calls, 1, true);
  } finally {
    checker.stop();
  }
});

Deno.test("HealthChecker.update() stops checking a removed backend and counts it healthy again", async () => {
  const { calls, probe } = manualProbe();
  const changes: boolean[] = [];
  const checker = new HealthChecker({ probe, onChange: (_b, healthy) => changes.push(healthy) });
  const removed = backend();
  const kept = backend("http://127.0.0.1:9102");
  try {
    checker.update([
      { backend: removed, config: config({ unhealthy_threshold: 1 }) },
      { backend: kept, config: config({ interval_ms: 60_000 }) },
    ]);
    assert.equal(calls.length, 2);
    calls[0].resolve(false);
    await waitFor(() => !removed.healthy, "the backend to turn unhealthy");
    checker.update([{ backend: kept, config: config({ interval_ms: 60_000 }) }]);
    assert.equal(removed.healthy, true);
    assert.deepEqual(changes, [false, true]);
    assert.equal(checker.size, 1);
    const seen = calls.length;
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(calls.length, seen, "no probes after removal");
  } finally {
    checker.stop();
  }
});

Deno.test("HealthChecker.stop() aborts in-flight probes and refuses further updates", async () => {
  const { calls, probe } = manualProbe();
  const checker = new HealthChecker({ probe });
  const b = backend();
  checker.update([{ backend: b, config: config() }]);
  checker.stop();
  assert.equal(calls[0].signal.aborted, true);
  assert.equal(checker.size, 0);
  assert.equal(b.healthy, true, "an aborted probe is not a verdict");
  assert.throws(() => checker.update([{ backend: b, config: config() }]), /stopped/);
  await new Promise((r) => setTimeout(r, 0));
});

Deno.test("HealthChecker follows a real backend going down (500) and coming back (200)", async () => {
  let status = 200;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => new Response(new URL(req.url).pathname, { status }),
  );
  const b = backend(`http://127.0.0.1:${server.addr.port}`, "/healthz");
  const paths: string[] = [];
  const probe: HealthProbe = async (backend, _timeoutMs, signal) => {
    const res = await fetch(`${backend.key}${backend.healthCheckPath}`, { signal });
    paths.push(await res.text());
    return res.status >= 200 && res.status < 400;
  };
  const checker = new HealthChecker({ probe });
  try {
    checker.update([{
      backend: b,
      config: config({ interval_ms: 10, unhealthy_threshold: 2, healthy_threshold: 2 }),
    }]);
    await waitFor(() => paths.length >= 1, "a first probe");
    assert.equal(b.healthy, true);
    status = 500;
    await waitFor(() => !b.healthy, "the backend to turn unhealthy");
    status = 200;
    await waitFor(() => b.healthy, "the backend to recover");
    assert.equal(paths[0], "/healthz");
  } finally {
    checker.stop();
    await server.shutdown();
  }
});

Deno.test("observe(): real requests' failures count like probes, only for checked backends", () => {
  const checked = backend("http://127.0.0.1:9101");
  const unchecked = backend("http://127.0.0.1:9102", null);
  // A probe that never answers within the test: only observe() moves the counters.
  const checker = new HealthChecker({ probe: () => new Promise<boolean>(() => {}) });
  checker.update([{ backend: checked, config: config({ interval_ms: 60_000, timeout_ms: 50_000 }) }]);
  try {
    checker.observe(checked, false);
    checker.observe(checked, false);
    checker.observe(checked, true); // a success in between resets the run
    checker.observe(checked, false);
    checker.observe(checked, false);
    assert.equal(checked.healthy, true, "two failures in a row are under the threshold of 3");
    checker.observe(checked, false);
    assert.equal(checked.healthy, false, "the third failure in a row takes it out");
    for (let i = 0; i < 5; i++) checker.observe(unchecked, false);
    assert.equal(unchecked.healthy, true, "nothing would bring an unchecked backend back");
  } finally {
    checker.stop();
  }
});
