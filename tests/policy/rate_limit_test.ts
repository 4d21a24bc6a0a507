import assert from "node:assert/strict";
import { rateLimitSchema } from "../../src/config/policy_schema.ts";
import { compileLimiter, compileRateLimit, type Limiter } from "../../src/policy/rate_limit.ts";
import {
  createMemoryRateLimitStore,
  type RateLimitDecision,
  type RateLimitStore,
} from "../../src/policy/rate_limit_store.ts";
import { GatewayError } from "../../src/proxy/gateway_error.ts";
import { type ContextInit, makeContext, queued } from "./context_fixture.ts";

const limiter = (raw: Record<string, unknown>, scope = "r:/api") =>
  compileLimiter(
    rateLimitSchema.parse({ requests_per_window: 2, window_ms: 60_000, algorithm: "fixed_window", ...raw }),
    scope,
  );

/** Sends `n` requests through a stage; returns the statuses (200 allowed, 429 limited). */
async function statuses(
  limiters: Limiter[],
  inits: ContextInit[],
  claims?: Array<Record<string, unknown> | undefined>,
) {
  const store = createMemoryRateLimitStore();
  const stage = compileRateLimit(limiters, store, () => {})!;
  const out: number[] = [];
  for (let i = 0; i < inits.length; i++) {
    const ctx = makeContext(inits[i]);
    if (claims?.[i]) ctx.claims = claims[i];
    try {
      await stage(ctx);
      out.push(200);
    } catch (err) {
      assert.ok(err instanceof GatewayError);
      out.push(err.status);
    }
  }
  return out;
}

Deno.test("compileRateLimit() answers 429 with Retry-After and both RateLimit header forms", async () => {
  const stage = compileRateLimit([limiter({})], createMemoryRateLimitStore(), () => {})!;
  const first = makeContext();
  await stage(first);
  assert.equal(queued(first, "ratelimit-limit"), "2");
  assert.equal(queued(first, "ratelimit-remaining"), "1");
  assert.equal(queued(first, "x-ratelimit-remaining"), "1");
  assert.equal(queued(first, "ratelimit-reset"), "60");
  await stage(makeContext());
  assert.throws(() => stage(makeContext()), (err: unknown) => {
    assert.ok(err instanceof GatewayError);
    assert.equal(err.status, 429);
    assert.equal(err.type, "rate_limit_error");
    assert.equal(err.headers?.["retry-after"], "60");
    assert.equal(err.headers?.["ratelimit-remaining"], "0");
    assert.equal(err.headers?.["x-ratelimit-limit"], "2");
    return true;
  });
});

Deno.test("compileRateLimit() counts by the configured key", async (t) => {
  const ip = (clientIp: string): ContextInit => ({ clientIp });
  const cases: Array<
    [string, Limiter, ContextInit[], Array<Record<string, unknown> | undefined> | undefined, number[]]
  > = [
    [
      "ip: each client has its own quota",
      limiter({ key: "ip" }),
      [ip("1.1.1.1"), ip("1.1.1.1"), ip("1.1.1.1"), ip("2.2.2.2")],
      undefined,
      [200, 200, 429, 200],
    ],
    [
      "route: one quota for the pattern, whatever the concrete path",
      limiter({ key: "route" }),
      [{ url: "/api/a", clientIp: "1.1.1.1" }, { url: "/api/b", clientIp: "2.2.2.2" }, {
        url: "/api/c",
        clientIp: "3.3.3.3",
      }],
      undefined,
      [200, 200, 429],
    ],
    [
      "ip_route: per client and route",
      limiter({ key: "ip_route" }),
      [{ routeId: "/a" }, { routeId: "/a" }, { routeId: "/b" }, { routeId: "/a" }],
      undefined,
      [200, 200, 200, 429],
    ],
    [
      "user: per JWT subject across IPs",
      limiter({ key: "user" }),
      [ip("1.1.1.1"), ip("2.2.2.2"), ip("3.3.3.3"), ip("3.3.3.3")],
      [{ sub: "alice" }, { sub: "alice" }, { sub: "alice" }, { sub: "bob" }],
      [200, 200, 429, 200],
    ],
    [
      "user without claims falls back to the IP",
      limiter({ key: "user" }),
      [ip("1.1.1.1"), ip("1.1.1.1"), ip("1.1.1.1")],
      undefined,
      [200, 200, 429],
    ],
    [
      "user_route: per subject and route",
      limiter({ key: "user_route" }),
      [{ routeId: "/a" }, { routeId: "/a" }, { routeId: "/b" }, { routeId: "/a" }],
      [{ sub: "u" }, { sub: "u" }, { sub: "u" }, { sub: "u" }],
      [200, 200, 200, 429],
    ],
    [
      "header: per header value, IP without it",
      limiter({ key: { header: "X-Tenant" } }),
      [
        { headers: { "x-tenant": "t1" } },
        { headers: { "x-tenant": "t1" } },
        { headers: { "x-tenant": "t1" } },
        { headers: { "x-tenant": "t2" } },
        {},
      ],
      undefined,
      [200, 200, 429, 200, 200],
    ],
    [
      "composite: ip and header together",
      limiter({ key: { composite: ["ip", { header: "X-Tenant" }] } }),
      [
        { clientIp: "1.1.1.1", headers: { "x-tenant": "t" } },
        { clientIp: "1.1.1.1", headers: { "x-tenant": "t" } },
        { clientIp: "2.2.2.2", headers: { "x-tenant": "t" } },
        { clientIp: "1.1.1.1", headers: { "x-tenant": "t" } },
      ],
      undefined,
      [200, 200, 200, 429],
    ],
  ];
  for (const [name, l, inits, claims, expected] of cases) {
    await t.step(name, async () => assert.deepEqual(await statuses([l], inits, claims), expected));
  }
});

Deno.test("compileRateLimit() requires both the global and the route limiter to pass", async () => {
  const global = limiter({ requests_per_window: 3, key: "ip" }, "g");
  const route = limiter({ requests_per_window: 1, key: "ip" }, "r:/a");
  const other = limiter({ requests_per_window: 5, key: "ip" }, "r:/b");
  const store = createMemoryRateLimitStore();
  const a = compileRateLimit([global, route], store, () => {})!;
  const b = compileRateLimit([global, other], store, () => {})!;
  const outcome = async (stage: typeof a) => {
    try {
      const ctx = makeContext();
      await stage(ctx);
      return queued(ctx, "ratelimit-remaining");
    } catch (err) {
      return (err as GatewayError).status;
    }
  };
  assert.equal(await outcome(a), "0"); // the tighter (route) quota is reported
  assert.equal(await outcome(a), 429); // route limit
  // The global quota (3) is shared across routes and counted for every request it saw.
  assert.equal(await outcome(b), "0");
  assert.equal(await outcome(b), 429);
});

Deno.test("compileRateLimit() lets requests through when an async store fails, and uses async answers", async () => {
  const logs: string[] = [];
  let calls = 0;
  const flaky: RateLimitStore = {
    hit(): Promise<RateLimitDecision> {
      calls++;
      if (calls === 1) return Promise.reject(new Error("redis down"));
      return Promise.resolve({ allowed: false, limit: 1, remaining: 0, resetMs: 5000, retryAfterMs: 1200 });
    },
    dispose() {},
  };
  const stage = compileRateLimit([limiter({})], flaky, (_level, msg) => logs.push(msg))!;
  assert.equal(await stage(makeContext()), undefined);
  assert.deepEqual(logs, ["rate-limit store failed; letting the request through"]);
  await assert.rejects(Promise.resolve(stage(makeContext())), (err: unknown) => {
    assert.ok(err instanceof GatewayError);
    assert.equal(err.headers?.["retry-after"], "2");
    return true;
  });
});

Deno.test("compileRateLimit() is absent without limiters", () => {
  assert.equal(compileRateLimit([], createMemoryRateLimitStore(), () => {}), undefined);
});
