/**
 * Audit probes of upstream selection and resilience, from the point of view of an nginx / HAProxy /
 * Envoy operator: balancer sequences, breaker transitions, health checks, retries and their limits.
 * The proxy step runs against a scripted in-memory upstream client.
 */
import assert from "node:assert/strict";
import {
  circuitBreakerSchema,
  type HealthCheckConfig,
  healthCheckSchema,
  LB_STRATEGIES,
  type LbStrategy,
  routeSchema,
} from "../../src/config/schema.ts";
import { noBackendError, pickBackend } from "../../src/proxy/backend_choice.ts";
import { GatewayError } from "../../src/proxy/gateway_error.ts";
import { ProxyContext } from "../../src/proxy/proxy_context.ts";
import { type ProxyObserver, proxyRequest, type ProxyRoute } from "../../src/proxy/proxy_step.ts";
import { computeBackoff, maxAttempts } from "../../src/proxy/retry_policy.ts";
import { BackendRegistry, BackendState } from "../../src/upstream/backend_state.ts";
import { createBalancer } from "../../src/upstream/balancer.ts";
import { CircuitBreaker } from "../../src/upstream/circuit_breaker.ts";
import type { UpstreamClient, UpstreamRequest, UpstreamTarget } from "../../src/upstream/client.ts";
import { UpstreamError } from "../../src/upstream/client.ts";
import { HealthChecker, type HealthProbe } from "../../src/upstream/health_checker.ts";

// ---------------------------------------------------------------------------------------------------
// Fixtures

type Clock = { t: number; now: () => number };

function fakeClock(start = 1_000_000): Clock {
  const clock: Clock = { t: start, now: () => clock.t };
  return clock;
}

function target(name: string): UpstreamTarget {
  return { protocol: "http:", hostname: name, port: 80, authority: name, key: `http://${name}:80` };
}

function backend(
  name: string,
  options: { weight?: number; breaker?: Record<string, unknown>; clock?: Clock } = {},
): BackendState {
  const t = target(name);
  return new BackendState(t.key, {
    target: t,
    weight: options.weight ?? 1,
    healthCheckPath: null,
    breakerConfig: circuitBreakerSchema.parse(options.breaker ?? {}),
  }, options.clock?.now);
}

function pool(...names: string[]): BackendState[] {
  return names.map((n) => backend(n));
}

function hostOf(b: BackendState | undefined): string {
  return b?.target.hostname ?? "-";
}

function ipv4(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

function ipv6(i: number): string {
  return `2001:db8:${(i >> 16).toString(16)}::${(i & 0xffff).toString(16)}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `condition` holds; the deadline only bounds a broken test. */
async function waitFor(condition: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** A route over `backends` as the snapshot compiles it. */
function proxyRoute(
  backends: BackendState[],
  fields: Record<string, unknown> = {},
  strategy: LbStrategy = "round_robin",
): ProxyRoute {
  const config = routeSchema.parse({
    external_path: "/x",
    internal_path: "/x",
    methods: ["GET", "POST", "PUT"],
    backends: backends.map((b) => ({ host: `http://${b.target.hostname}`, port: 80, weight: b.weight })),
    load_balancing_strategy: strategy,
    ...fields,
  });
  return {
    config,
    balancer: createBalancer(strategy, backends),
    backends,
    retry: config.retry,
    maxAttempts: maxAttempts(config.retry),
  };
}

function context(
  route: ProxyRoute,
  init: RequestInit = {},
  clientIp = "10.0.0.1",
): ProxyContext {
  const request = new Request("http://gateway.test/x", init);
  return new ProxyContext(
    request,
    "req-1",
    clientIp,
    clientIp,
    "/x",
    "",
    route.config,
    "/x",
    {},
    performance.now(),
    "/x",
    [],
  );
}

interface Call {
  readonly backend: string;
  readonly method: string;
  readonly body: string | null;
  readonly signal: AbortSignal | undefined;
}

type Script = (call: Call, index: number) => Response | Promise<Response>;

/**
 * An upstream client that answers by script and records every call, with the body it was given. Like
 * the real clients, it refuses to start an exchange for a client that has already gone.
 */
function scriptedClient(script: Script) {
  const calls: Call[] = [];
  const client: UpstreamClient = {
    name: "fetch",
    ownsResponses: false,
    async send(t: UpstreamTarget, request: UpstreamRequest): Promise<Response> {
      if (request.signal?.aborted) throw new UpstreamError("aborted", "Client went away", false);
      let body: string | null = null;
      if (request.body instanceof Uint8Array) body = new TextDecoder().decode(request.body);
      else if (request.body) body = await new Response(request.body).text();
      const call = { backend: t.hostname, method: request.method, body, signal: request.signal };
      calls.push(call);
      return await script(call, calls.length - 1);
    },
    close() {},
  };
  return { client, calls };
}

function recorder() {
  const attempts: string[] = [];
  let retries = 0;
  const observer: ProxyObserver = {
    attempt: (b, outcome) => attempts.push(`${b.target.hostname}:${outcome}`),
    retry: () => retries++,
  };
  return {
    observer,
    attempts,
    get retries() {
      return retries;
    },
  };
}

const connectError = () => new UpstreamError("connect", "connection refused", false);
const fastRetry = { max_retries: 3, initial_backoff_ms: 1, max_backoff_ms: 2, jitter: 0 };

// ---------------------------------------------------------------------------------------------------
// Balancers

Deno.test("audit: round_robin visits every backend once per cycle and re-admits a recovered one in turn", () => {
  const backends = pool("a", "b", "c");
  const rr = createBalancer("round_robin", backends);
  assert.deepEqual(Array.from({ length: 6 }, () => hostOf(rr.pick("ip"))), ["a", "b", "c", "a", "b", "c"]);
  backends[1].healthy = false;
  assert.deepEqual(Array.from({ length: 4 }, () => hostOf(rr.pick("ip"))), ["a", "c", "a", "c"]);
  backends[1].healthy = true;
  assert.deepEqual(Array.from({ length: 3 }, () => hostOf(rr.pick("ip"))), ["a", "b", "c"]);
});

Deno.test("audit: weighted 5,1,1 gives nginx's exact smooth sequence, every cycle", () => {
  const weighted = createBalancer("weighted", [
    backend("a", { weight: 5 }),
    backend("b", { weight: 1 }),
    backend("c", { weight: 1 }),
  ]);
  const cycle = ["a", "a", "b", "a", "c", "a", "a"];
  const picks = Array.from({ length: 70 }, () => hostOf(weighted.pick("ip")));
  for (let i = 0; i < 10; i++) assert.deepEqual(picks.slice(i * 7, i * 7 + 7), cycle, `cycle ${i}`);
});

Deno.test("audit: weighted never runs the heavy backend more than its share in a row after a peer returns", () => {
  const backends = [backend("a", { weight: 5 }), backend("b", { weight: 1 }), backend("c", { weight: 1 })];
  const weighted = createBalancer("weighted", backends);
  backends[0].healthy = false;
  for (let i = 0; i < 11; i++) weighted.pick("ip");
  backends[0].healthy = true;
  const picks = Array.from({ length: 70 }, () => hostOf(weighted.pick("ip")));
  const counts = { a: 0, b: 0, c: 0 } as Record<string, number>;
  for (const p of picks) counts[p]++;
  assert.deepEqual(counts, { a: 50, b: 10, c: 10 });
});

Deno.test("audit: least_connections shares idle ties by weight, like nginx's least_conn", () => {
  // Sequential traffic: every backend reads 0 in flight at each pick, so only the tie-break decides.
  const backends = [backend("a", { weight: 5 }), backend("b", { weight: 1 })];
  const lc = createBalancer("least_connections", backends);
  const counts: Record<string, number> = { a: 0, b: 0 };
  for (let i = 0; i < 60; i++) counts[hostOf(lc.pick("ip"))]++;
  assert.deepEqual(counts, { a: 50, b: 10 });
});

Deno.test("audit: least_connections rotates equal-weight ties and prefers the least loaded", () => {
  const backends = pool("a", "b", "c");
  const lc = createBalancer("least_connections", backends);
  assert.deepEqual(Array.from({ length: 6 }, () => hostOf(lc.pick("ip"))), ["a", "b", "c", "a", "b", "c"]);
  backends[0].acquire();
  backends[1].acquire();
  for (let i = 0; i < 5; i++) assert.equal(hostOf(lc.pick("ip")), "c");
  backends[2].acquire();
  backends[2].acquire();
  const next = hostOf(lc.pick("ip"));
  assert.ok(next === "a" || next === "b", next);
});

Deno.test("audit: least_connections under concurrent load keeps in-flight counts within one of each other", () => {
  const backends = pool("a", "b", "c");
  const lc = createBalancer("least_connections", backends);
  for (let i = 0; i < 30; i++) lc.pick("ip")!.acquire();
  assert.deepEqual(backends.map((b) => b.inFlight), [10, 10, 10]);
  backends[1].release();
  backends[1].release();
  assert.equal(hostOf(lc.pick("ip")), "b");
});

Deno.test("audit: random covers every available backend and never an unavailable one", () => {
  const backends = pool("a", "b", "c", "d");
  backends[3].healthy = false;
  const random = createBalancer("random", backends);
  const counts: Record<string, number> = {};
  for (let i = 0; i < 3000; i++) {
    const h = hostOf(random.pick("ip"));
    counts[h] = (counts[h] ?? 0) + 1;
  }
  assert.equal(counts.d, undefined);
  for (const h of ["a", "b", "c"]) assert.ok(counts[h] > 850 && counts[h] < 1150, `${h}: ${counts[h]}`);
});

Deno.test("audit: ip_hash adding a backend moves only about 1/(N+1) of clients, all onto the new one", () => {
  const before = createBalancer("ip_hash", pool("a", "b", "c", "d"));
  const after = createBalancer("ip_hash", pool("a", "b", "c", "d", "e"));
  let moved = 0;
  for (let i = 0; i < 10_000; i++) {
    const was = hostOf(before.pick(ipv4(i)));
    const now = hostOf(after.pick(ipv4(i)));
    if (was !== now) {
      moved++;
      assert.equal(now, "e", `${ipv4(i)} moved from ${was} to ${now}, not to the new backend`);
    }
  }
  assert.ok(moved > 1500 && moved < 2500, `moved: ${moved}`);
});

Deno.test("audit: ip_hash keeps the mapping when backends are listed in another order", () => {
  const a = createBalancer("ip_hash", pool("a", "b", "c"));
  const b = createBalancer("ip_hash", pool("c", "a", "b"));
  for (let i = 0; i < 2000; i++) assert.equal(hostOf(a.pick(ipv4(i))), hostOf(b.pick(ipv4(i))));
});

Deno.test("audit: ip_hash spreads IPv6 clients and keeps each on one backend", () => {
  const ih = createBalancer("ip_hash", pool("a", "b", "c"));
  const counts: Record<string, number> = {};
  for (let i = 0; i < 6000; i++) {
    const first = hostOf(ih.pick(ipv6(i)));
    assert.equal(hostOf(ih.pick(ipv6(i))), first);
    counts[first] = (counts[first] ?? 0) + 1;
  }
  for (const h of ["a", "b", "c"]) assert.ok(counts[h] > 1500 && counts[h] < 2500, `${h}: ${counts[h]}`);
});

Deno.test("audit: ip_hash maps an IPv4-mapped IPv6 client like its IPv4 address", () => {
  // A dual-stack listener (`::`) reports IPv4 peers as ::ffff:a.b.c.d; X-Forwarded-For carries a.b.c.d.
  const ih = createBalancer("ip_hash", pool("a", "b", "c", "d", "e"));
  for (let i = 0; i < 2000; i++) {
    const plain = hostOf(ih.pick(ipv4(i)));
    assert.equal(hostOf(ih.pick(`::ffff:${ipv4(i)}`)), plain, `::ffff:${ipv4(i)}`);
    assert.equal(hostOf(ih.pick(`::FFFF:${ipv4(i)}`)), plain, `::FFFF:${ipv4(i)}`);
  }
});

Deno.test("audit: a weight of 0 is refused by the config schema and by the balancer", () => {
  const parsed = routeSchema.safeParse({
    external_path: "/x",
    internal_path: "/x",
    methods: ["GET"],
    backends: [{ host: "http://a", port: 80, weight: 0 }],
  });
  assert.equal(parsed.success, false);
  for (const strategy of LB_STRATEGIES) {
    assert.throws(() => createBalancer(strategy, pool("a", "b"), { weights: [0, 1] }), RangeError);
  }
});

Deno.test("audit: every strategy with a single backend picks it, also for a retry that excludes it", async (t) => {
  for (const strategy of LB_STRATEGIES) {
    await t.step(strategy, () => {
      const [only] = pool("a");
      const balancer = createBalancer(strategy, [only]);
      for (let i = 0; i < 5; i++) assert.equal(balancer.pick(ipv4(i)), only);
      assert.equal(balancer.pick("10.0.0.1", only), only);
      only.healthy = false;
      assert.equal(balancer.pick("10.0.0.1"), undefined);
    });
  }
});

// ---------------------------------------------------------------------------------------------------
// Choosing a backend when some or all are down

Deno.test("audit: pickBackend skips open circuits and a half-open backend whose probe slot is taken", () => {
  const clock = fakeClock();
  const breaker = { failure_threshold: 1, reset_timeout_ms: 1000, half_open_max_requests: 1 };
  const backends = ["a", "b"].map((n) => backend(n, { breaker, clock }));
  const route = proxyRoute(backends);
  backends[0].breaker.onFailure();
  for (let i = 0; i < 4; i++) assert.equal(hostOf(pickBackend(route, "ip", undefined)), "b");
  clock.t += 1000;
  // Half-open: the first pick that lands on "a" takes its only probe slot; later ones go to "b".
  const picks = Array.from({ length: 6 }, () => hostOf(pickBackend(route, "ip", undefined)));
  assert.equal(picks.filter((p) => p === "a").length, 1, picks.join(","));
  assert.equal(backends[0].breaker.probesInFlight, 1);
});

Deno.test("audit: with every circuit open the error is 503 circuit_open; all unhealthy is no_healthy_upstream", () => {
  const clock = fakeClock();
  const breaker = { failure_threshold: 1, reset_timeout_ms: 30_000 };
  const backends = ["a", "b"].map((n) => backend(n, { breaker, clock }));
  const route = proxyRoute(backends, { circuit_breaker: breaker });
  for (const b of backends) b.breaker.onFailure();
  assert.equal(pickBackend(route, "ip", undefined), undefined);
  const open = noBackendError(route, "/x");
  assert.equal(open.status, 503);
  assert.equal(open.type, "circuit_open");
  assert.equal(open.headers?.["retry-after"], "30");

  const sick = pool("a", "b");
  for (const b of sick) b.healthy = false;
  const unhealthy = noBackendError(proxyRoute(sick), "/x");
  assert.equal(unhealthy.status, 503);
  assert.equal(unhealthy.type, "no_healthy_upstream");
});

Deno.test("audit: circuit_open's Retry-After is the time until the first circuit half-opens, at least 1 s", () => {
  const clock = fakeClock();
  const a = backend("a", { clock, breaker: { failure_threshold: 1, reset_timeout_ms: 30_000 } });
  // A backend shared with another route runs that route's cool-down: its own breaker decides.
  const b = backend("b", { clock, breaker: { failure_threshold: 1, reset_timeout_ms: 60_000 } });
  const route = proxyRoute([a, b], { circuit_breaker: { reset_timeout_ms: 30_000 } });
  b.breaker.onFailure();
  clock.t += 5_000;
  a.breaker.onFailure();
  const retryAfter = () => noBackendError(route, "/x").headers?.["retry-after"];
  assert.equal(retryAfter(), "30");
  clock.t += 20_200;
  assert.equal(retryAfter(), "10");
  clock.t += 9_800;
  assert.ok(a.breaker.tryAcquire(), "a half-opens and its one probe slot is taken");
  assert.equal(noBackendError(route, "/x").type, "circuit_open");
  assert.equal(retryAfter(), "1");
});

Deno.test("audit: when every circuit is open the proxy answers 503 at once without calling any backend", async () => {
  const breaker = { failure_threshold: 1, reset_timeout_ms: 30_000 };
  const backends = ["a", "b"].map((n) => backend(n, { breaker }));
  for (const b of backends) b.breaker.onFailure();
  const route = proxyRoute(backends, { retry: { ...fastRetry, initial_backoff_ms: 1000 } });
  const { client, calls } = scriptedClient(() => new Response("ok"));
  const started = performance.now();
  await assert.rejects(
    proxyRequest(context(route), route, client, recorder().observer),
    (err: GatewayError) => err.status === 503 && err.type === "circuit_open",
  );
  assert.equal(calls.length, 0);
  assert.ok(performance.now() - started < 100);
});

// ---------------------------------------------------------------------------------------------------
// Circuit breaker

Deno.test("audit: the breaker goes closed → open → half-open → closed with a bounded number of probes", () => {
  const clock = fakeClock();
  const cb = new CircuitBreaker(
    circuitBreakerSchema.parse({
      failure_threshold: 3,
      success_threshold: 2,
      reset_timeout_ms: 500,
      half_open_max_requests: 2,
    }),
    clock.now,
  );
  for (let i = 0; i < 3; i++) {
    assert.ok(cb.tryAcquire());
    cb.onFailure();
  }
  assert.equal(cb.state, "open");
  clock.t += 499;
  assert.equal(cb.tryAcquire(), false);
  clock.t += 1;
  // Ten concurrent callers: exactly two get through.
  const admitted = Array.from({ length: 10 }, () => cb.tryAcquire()).filter(Boolean).length;
  assert.equal(admitted, 2);
  cb.onSuccess();
  assert.equal(cb.state, "half_open");
  assert.ok(cb.tryAcquire(), "a finished probe frees its slot");
  assert.equal(cb.tryAcquire(), false);
  cb.onSuccess();
  assert.equal(cb.state, "closed");
  cb.onSuccess(); // the third probe's late answer while closed changes nothing
  assert.equal(cb.state, "closed");
});

Deno.test("audit: concurrent requests to a half-open backend: one probe reaches it, the rest get 503 at once", async () => {
  const clock = fakeClock();
  const b = backend("a", {
    clock,
    breaker: {
      failure_threshold: 1,
      success_threshold: 1,
      reset_timeout_ms: 1000,
      half_open_max_requests: 1,
    },
  });
  b.breaker.onFailure();
  clock.t += 1000;
  const route = proxyRoute([b]);
  let answerProbe!: (r: Response) => void;
  const { client, calls } = scriptedClient(() => new Promise<Response>((r) => answerProbe = r));
  const probe = proxyRequest(context(route), route, client, recorder().observer);
  const others = await Promise.allSettled(
    Array.from({ length: 10 }, () => proxyRequest(context(route), route, client, recorder().observer)),
  );
  for (const other of others) {
    assert.equal(other.status, "rejected");
    assert.equal((other as PromiseRejectedResult).reason.type, "circuit_open");
  }
  await waitFor(() => answerProbe !== undefined, "the probe");
  assert.equal(calls.length, 1);
  answerProbe(new Response("ok"));
  const result = await probe;
  await result.response.body?.cancel();
  result.backend.release();
  assert.equal(b.breaker.state, "closed");
  assert.equal(b.inFlight, 0);
});

Deno.test("audit: a probe failure reopens the circuit for a full reset_timeout_ms from the failure", () => {
  const clock = fakeClock();
  const cb = new CircuitBreaker(
    circuitBreakerSchema.parse({ failure_threshold: 1, reset_timeout_ms: 500 }),
    clock.now,
  );
  cb.onFailure();
  clock.t += 600;
  assert.ok(cb.tryAcquire());
  clock.t += 200; // the probe takes 200 ms to fail
  cb.onFailure();
  assert.equal(cb.state, "open");
  clock.t += 499;
  assert.equal(cb.tryAcquire(), false);
  clock.t += 1;
  assert.equal(cb.state, "half_open");
});

Deno.test("audit: a slow call from before the circuit opened does not free a half-open probe slot", () => {
  const clock = fakeClock();
  const cb = new CircuitBreaker(
    circuitBreakerSchema.parse({
      failure_threshold: 1,
      success_threshold: 3,
      reset_timeout_ms: 1000,
      half_open_max_requests: 1,
    }),
    clock.now,
  );
  assert.ok(cb.tryAcquire()); // a slow call, admitted while closed
  const slow = cb.epoch;
  assert.ok(cb.tryAcquire());
  cb.onFailure(); // another call fails: open
  clock.t += 1000;
  assert.ok(cb.tryAcquire()); // the one probe
  const probe = cb.epoch;
  cb.onSuccess(slow); // ...but this is the slow call answering, not the probe
  assert.equal(cb.tryAcquire(), false, "a second probe while the first is still in flight");
  cb.release(slow);
  assert.equal(cb.probesInFlight, 1);
  cb.onSuccess(probe);
  assert.equal(cb.probesInFlight, 0);
  assert.equal(cb.state, "half_open", "only one of the three successes needed was a probe's");
});

Deno.test("audit: a late success through the proxy does not count as a half-open probe", async () => {
  const clock = fakeClock();
  const b = backend("a", {
    clock,
    breaker: {
      failure_threshold: 1,
      success_threshold: 1,
      reset_timeout_ms: 1000,
      half_open_max_requests: 1,
    },
  });
  const route = proxyRoute([b]);
  let answerSlow!: (r: Response) => void;
  const { client } = scriptedClient((_c, i) =>
    i === 0 ? new Promise<Response>((r) => answerSlow = r) : new Response("x", { status: 500 })
  );
  const slow = proxyRequest(context(route), route, client, recorder().observer);
  await waitFor(() => answerSlow !== undefined, "the slow call");
  const failing = await proxyRequest(context(route), route, client, recorder().observer);
  await failing.response.body?.cancel();
  failing.backend.release();
  assert.equal(b.breaker.state, "open");
  clock.t += 1000;
  assert.ok(b.breaker.tryAcquire(), "the probe");
  answerSlow(new Response("late"));
  const late = await slow;
  await late.response.body?.cancel();
  late.backend.release();
  assert.equal(b.breaker.state, "half_open", "closed by a call that was no probe");
  assert.equal(b.breaker.probesInFlight, 1);
});

Deno.test("audit: 5xx in failure_status_codes, timeouts, connect and protocol errors count; 4xx and client aborts do not", async (t) => {
  const cases: Array<[string, () => Response | Promise<Response>, "failure" | "success" | "none"]> = [
    ["500", () => new Response("x", { status: 500 }), "failure"],
    ["503", () => new Response("x", { status: 503 }), "failure"],
    ["501 (not listed)", () => new Response("x", { status: 501 }), "success"],
    ["404", () => new Response("x", { status: 404 }), "success"],
    ["connect error", () => Promise.reject(connectError()), "failure"],
    ["connect timeout", () => Promise.reject(new UpstreamError("connect_timeout", "t", false)), "failure"],
    ["first-byte timeout", () => Promise.reject(new UpstreamError("timeout", "t", true)), "failure"],
    ["reset", () => Promise.reject(new UpstreamError("reset", "r", true)), "failure"],
    ["client aborted", () => Promise.reject(new UpstreamError("aborted", "gone", true)), "none"],
  ];
  for (const [name, answer, verdict] of cases) {
    await t.step(name, async () => {
      const b = backend("a", { breaker: { failure_threshold: 1 } });
      const route = proxyRoute([b]);
      const { client } = scriptedClient(answer);
      try {
        const result = await proxyRequest(context(route), route, client, recorder().observer);
        await result.response.body?.cancel();
        b.release();
      } catch (err) {
        assert.ok(err instanceof GatewayError);
      }
      assert.equal(b.breaker.failures, verdict === "failure" ? 1 : 0, "failures");
      assert.equal(b.breaker.successes, verdict === "success" ? 1 : 0, "successes");
      assert.equal(b.inFlight, 0, "in flight");
    });
  }
});

Deno.test("audit: an upstream error after the client went away is not held against the backend", async () => {
  // However the transport reports it (here a reset caused by the cancelled exchange), the client left first.
  const b = backend("a", { breaker: { failure_threshold: 1 } });
  const route = proxyRoute([b], { retry: fastRetry });
  const abort = new AbortController();
  const { client, calls } = scriptedClient(() => {
    abort.abort();
    return Promise.reject(new UpstreamError("reset", "connection reset", true));
  });
  await assert.rejects(
    proxyRequest(context(route, { signal: abort.signal }), route, client, recorder().observer),
    (err: GatewayError) => err.source === "client",
  );
  assert.equal(calls.length, 1);
  assert.equal(b.breaker.failures, 0);
  assert.equal(b.breaker.state, "closed");
});

Deno.test("audit: a half-open probe whose client aborts returns its slot without a verdict", async () => {
  const clock = fakeClock();
  const b = backend("a", { clock, breaker: { failure_threshold: 1, reset_timeout_ms: 100 } });
  b.breaker.onFailure();
  clock.t += 100;
  const route = proxyRoute([b]);
  const { client } = scriptedClient(() => Promise.reject(new UpstreamError("aborted", "gone", true)));
  await assert.rejects(proxyRequest(context(route), route, client, recorder().observer));
  assert.equal(b.breaker.state, "half_open");
  assert.equal(b.breaker.probesInFlight, 0);
  assert.ok(b.breaker.tryAcquire());
});

// ---------------------------------------------------------------------------------------------------
// Backend state over a reload

Deno.test("audit: a reload keeps health, breaker and in-flight counts by key and drops removed backends", () => {
  const clock = fakeClock();
  const registry = new BackendRegistry({ now: clock.now });
  const init = (name: string) => ({
    target: target(name),
    weight: 1,
    healthCheckPath: "/health",
    breakerConfig: circuitBreakerSchema.parse({ failure_threshold: 1 }),
  });
  const a = registry.resolve("http://a:80", init("a"));
  const b = registry.resolve("http://b:80", init("b"));
  a.healthy = false;
  b.breaker.onFailure();
  a.acquire();
  b.acquire();
  // Reload: "a" stays, "b" goes, "c" arrives.
  const a2 = registry.resolve("http://a:80", { ...init("a"), weight: 3 });
  const c = registry.resolve("http://c:80", init("c"));
  registry.retain(new Set(["http://a:80", "http://c:80"]));
  assert.equal(a2, a);
  assert.equal(a2.healthy, false);
  assert.equal(a2.inFlight, 1);
  assert.equal(a2.weight, 3);
  assert.equal(registry.get("http://b:80"), undefined);
  assert.equal(c.breaker.state, "closed");
  // The removed backend's request finishes on the old state; the new snapshot is unaffected.
  b.release();
  assert.equal(b.inFlight, 0);
  // Re-adding "b" later starts it fresh.
  const b2 = registry.resolve("http://b:80", init("b"));
  assert.notEqual(b2, b);
  assert.equal(b2.breaker.state, "closed");
});

// ---------------------------------------------------------------------------------------------------
// Health checks

function healthBackend(name: string): BackendState {
  const t = target(name);
  return new BackendState(t.key, {
    target: t,
    weight: 1,
    healthCheckPath: "/health",
    breakerConfig: circuitBreakerSchema.parse({}),
  });
}

function healthConfig(fields: Partial<HealthCheckConfig> = {}): HealthCheckConfig {
  return healthCheckSchema.parse({ interval_ms: 40, timeout_ms: 20, unhealthy_threshold: 2, ...fields });
}

Deno.test("audit: a hanging health endpoint times out each round and takes the backend down", async () => {
  const b = healthBackend("a");
  let probes = 0;
  let aborted = 0;
  const hang: HealthProbe = (_b, _t, signal) => {
    probes++;
    return new Promise((_resolve, reject) =>
      signal.addEventListener("abort", () => {
        aborted++;
        reject(signal.reason);
      }, { once: true })
    );
  };
  const checker = new HealthChecker({ probe: hang });
  try {
    checker.update([{ backend: b, config: healthConfig() }]);
    await waitFor(() => !b.healthy, "the backend to be marked down");
    await waitFor(() => probes >= 3, "a third probe: the checker is not wedged");
    assert.ok(aborted >= 2);
  } finally {
    checker.stop();
  }
});

Deno.test("audit: reloading an unchanged health check config probes no sooner than its interval", async () => {
  const backends = [healthBackend("a"), healthBackend("b")];
  let probes = 0;
  const checker = new HealthChecker({
    probe: () => {
      probes++;
      return Promise.resolve(true);
    },
  });
  try {
    const entries = () =>
      backends.map((backend) => ({ backend, config: healthConfig({ interval_ms: 200 }) }));
    checker.update(entries());
    await waitFor(() => probes === 2, "the first round");
    // Ten reloads in a row, each with freshly parsed (equal) configs: no new probes.
    for (let i = 0; i < 10; i++) checker.update(entries());
    await sleep(50);
    assert.equal(probes, 2);
  } finally {
    checker.stop();
  }
});

Deno.test("audit: health checks stop on shutdown with a probe in flight, leaving no timers", async () => {
  const b = healthBackend("a");
  let signal: AbortSignal | undefined;
  const checker = new HealthChecker({
    probe: (_b, _t, s) => {
      signal = s;
      return new Promise((_resolve, reject) => s.addEventListener("abort", () => reject(s.reason)));
    },
  });
  checker.update([{ backend: b, config: healthConfig({ timeout_ms: 10_000 }) }]);
  await waitFor(() => signal !== undefined, "a probe");
  checker.stop();
  assert.equal(signal!.aborted, true);
  assert.equal(checker.size, 0);
  await sleep(5);
});

// ---------------------------------------------------------------------------------------------------
// Retries

Deno.test("audit: backoff with jitter stays within [(1 - jitter) × delay, delay]", () => {
  const retry = { ...proxyRoute(pool("a"), { retry: { jitter: 0.5 } }).retry! };
  for (let attempt = 0; attempt < 8; attempt++) {
    const full = Math.min(100 * 2 ** attempt, 5000);
    for (const draw of [0, 0.25, 0.5, 0.999999]) {
      const d = computeBackoff(retry, attempt, () => draw);
      assert.ok(d <= full && d >= Math.floor(full * 0.5), `attempt ${attempt} draw ${draw}: ${d}`);
    }
  }
});

Deno.test("audit: a retry storm against dead backends is bounded by the breakers, then fails fast", async () => {
  const breaker = { failure_threshold: 3, reset_timeout_ms: 60_000 };
  const backends = ["a", "b", "c"].map((n) => backend(n, { breaker }));
  const route = proxyRoute(backends, { retry: fastRetry, circuit_breaker: breaker });
  const { client, calls } = scriptedClient(() => Promise.reject(connectError()));
  const results = await Promise.allSettled(
    Array.from({ length: 50 }, () => proxyRequest(context(route), route, client, recorder().observer)),
  );
  // All 50 arrive together (closed breakers let the first wave through); each makes at most 4 attempts.
  assert.ok(calls.length <= 50 * 4, `calls: ${calls.length}`);
  assert.ok(results.every((r) => r.status === "rejected"));
  assert.ok(backends.every((b) => b.breaker.state === "open"));
  assert.ok(backends.every((b) => b.inFlight === 0));
  // Once open, nothing reaches the backends.
  const before = calls.length;
  for (let i = 0; i < 100; i++) {
    await assert.rejects(
      proxyRequest(context(route), route, client, recorder().observer),
      (err: GatewayError) => err.type === "circuit_open",
    );
  }
  assert.equal(calls.length, before);
});

Deno.test("audit: attempts and retries are counted, and the answer names the attempts made", async () => {
  const backends = pool("a", "b", "c");
  const route = proxyRoute(backends, { retry: fastRetry });
  const { client } = scriptedClient((_c, i) =>
    i === 0 ? Promise.reject(connectError()) : new Response("x", { status: i === 1 ? 503 : 200 })
  );
  const rec = recorder();
  const result = await proxyRequest(context(route), route, client, rec.observer);
  await result.response.body?.cancel();
  result.backend.release();
  assert.equal(result.response.status, 200);
  assert.equal(result.attempts, 3);
  assert.deepEqual(rec.attempts, ["a:connect_error", "b:response", "c:response"]);
  assert.equal(rec.retries, 2);
  assert.deepEqual(backends.map((b) => b.inFlight), [0, 0, 0]);
});

Deno.test("audit: a POST body within max_buffered_body_bytes is replayed byte for byte", async () => {
  const route = proxyRoute(pool("a", "b"), { retry: { ...fastRetry, max_buffered_body_bytes: 1024 } });
  const { client, calls } = scriptedClient((_c, i) => new Response("x", { status: i === 0 ? 503 : 200 }));
  const result = await proxyRequest(
    context(route, { method: "POST", body: "payload" }),
    route,
    client,
    recorder().observer,
  );
  await result.response.body?.cancel();
  result.backend.release();
  assert.deepEqual(calls.map((c) => [c.backend, c.body]), [["a", "payload"], ["b", "payload"]]);
});

Deno.test("audit: a POST body over max_buffered_body_bytes is sent once and not retried", async () => {
  const route = proxyRoute(pool("a", "b"), { retry: { ...fastRetry, max_buffered_body_bytes: 4 } });
  const { client, calls } = scriptedClient(() => new Response("busy", { status: 503 }));
  const result = await proxyRequest(
    context(route, { method: "POST", body: "a longer payload" }),
    route,
    client,
    recorder().observer,
  );
  assert.equal(result.response.status, 503);
  await result.response.body?.cancel();
  result.backend.release();
  assert.deepEqual(calls.map((c) => c.body), ["a longer payload"]);
});

Deno.test("audit: a client that goes away during a backoff gets no further attempt and no waiting", async () => {
  const backends = pool("a", "b");
  const route = proxyRoute(backends, {
    retry: { max_retries: 3, initial_backoff_ms: 5000, max_backoff_ms: 5000, jitter: 0 },
  });
  const abort = new AbortController();
  const { client, calls } = scriptedClient(() => {
    setTimeout(() => abort.abort(), 10);
    return new Response("busy", { status: 503 });
  });
  const started = performance.now();
  await assert.rejects(
    proxyRequest(context(route, { signal: abort.signal }), route, client, recorder().observer),
    (err: GatewayError) => err.source === "client",
  );
  assert.ok(performance.now() - started < 1000, "waited out the backoff");
  assert.equal(calls.length, 1);
  assert.deepEqual(backends.map((b) => b.inFlight), [0, 0]);
});

Deno.test("audit: a retryable status is not retried once the client has gone", async () => {
  const backends = pool("a", "b");
  const route = proxyRoute(backends, { retry: fastRetry });
  const abort = new AbortController();
  const { client, calls } = scriptedClient(() => {
    abort.abort();
    return new Response("busy", { status: 503 });
  });
  const rec = recorder();
  const result = await proxyRequest(context(route, { signal: abort.signal }), route, client, rec.observer);
  assert.equal(result.response.status, 503);
  await result.response.body?.cancel();
  result.backend.release();
  assert.equal(calls.length, 1);
  assert.equal(rec.retries, 0);
  assert.deepEqual(backends.map((b) => b.inFlight), [0, 0]);
});

Deno.test("audit: the last attempt's 503 reaches the client with the backend's Retry-After", async () => {
  const route = proxyRoute(pool("a", "b"), { retry: { ...fastRetry, max_retries: 1 } });
  const { client, calls } = scriptedClient(() =>
    new Response("maintenance", { status: 503, headers: { "retry-after": "120" } })
  );
  const result = await proxyRequest(context(route), route, client, recorder().observer);
  assert.equal(result.response.status, 503);
  assert.equal(result.response.headers.get("retry-after"), "120");
  assert.equal(await result.response.text(), "maintenance");
  result.backend.release();
  assert.equal(calls.length, 2);
});

Deno.test("audit: a client body that fails while being buffered for retries is a client error, not a 500", async () => {
  const route = proxyRoute(pool("a"), { retry: fastRetry });
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode("part"));
      c.error(new TypeError("connection reset by peer"));
    },
  });
  const { client, calls } = scriptedClient(() => new Response("ok"));
  await assert.rejects(
    proxyRequest(context(route, { method: "POST", body }), route, client, recorder().observer),
    (err: unknown) => err instanceof GatewayError && err.status < 500 && err.source === "client",
  );
  assert.equal(calls.length, 0);
});
