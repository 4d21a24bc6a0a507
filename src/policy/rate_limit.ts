/**
 * The rate-limit stage: the global limiter (`rate_limit` at the top) and the route's own, both of
 * which must pass. It runs after authentication, so `user` keys really count per JWT subject.
 * Keys: `ip`, `route` (the route pattern, not the concrete path), `ip_route`, `user` (JWT `sub`,
 * else the client IP), `user_route`, `{header}` (its value, or a digest of a long one; else the client
 * IP), `{composite}`.
 * Allowed responses carry the quota of the tighter limiter; a 429 carries `Retry-After` and the
 * `RateLimit-*` / `X-RateLimit-*` headers (all three resets in delta seconds, as the IETF draft
 * "RateLimit header fields for HTTP" does). A store that fails lets requests through (logged).
 */
import { createHash } from "node:crypto";
import type { RateLimitConfig, RateLimitKey } from "../config/policy_schema.ts";
import type { RequestContext, RequestStage } from "../proxy/context.ts";
import { GatewayError } from "../proxy/gateway_error.ts";
import type { RateLimitDecision, RateLimitRule, RateLimitStore } from "./rate_limit_store.ts";

type Log = (
  level: "debug" | "info" | "warn" | "error",
  msg: string,
  fields?: Record<string, unknown>,
) => void;
type KeyPart = (ctx: RequestContext) => string;

/** A compiled limiter: its rule, its key function and the namespace of its keys in the store. */
export interface Limiter {
  readonly rule: RateLimitRule;
  readonly key: (ctx: RequestContext) => string;
}

/** Compiles one `rate_limit` section; `scope` namespaces its keys (`g` global, `r:<route>` a route). */
export function compileLimiter(config: RateLimitConfig, scope: string): Limiter {
  const rule: RateLimitRule = {
    algorithm: config.algorithm,
    limit: config.requests_per_window + config.burst,
    rate: config.requests_per_window,
    windowMs: config.window_ms,
  };
  const part = keyPart(config.key);
  const prefix = `${scope}|`;
  return { rule, key: (ctx) => prefix + part(ctx) };
}

function keyPart(key: RateLimitKey): KeyPart {
  if (typeof key === "object" && "composite" in key) {
    const parts = key.composite.map(keyPart);
    return (ctx) => parts.map((part) => part(ctx)).join("|");
  }
  if (typeof key === "object") {
    const name = key.header.toLowerCase();
    return (ctx) => {
      const value = ctx.request.headers.get(name);
      if (value === null) return `ip:${ctx.clientIp}`;
      // The store bounds the number of keys, not their size: a client must not park 100,000 keys of
      // 16 KiB each, so a long value is counted by its digest.
      return value.length <= MAX_RAW_KEY ? `h:${name}:${value}` : `h:${name}#${digest(value)}`;
    };
  }
  switch (key) {
    case "ip":
      return (ctx) => `ip:${ctx.clientIp}`;
    case "route":
      return (ctx) => `route:${ctx.routeId}`;
    case "ip_route":
      return (ctx) => `ip_route:${ctx.clientIp}:${ctx.routeId}`;
    case "user":
      return (ctx) => {
        const sub = subject(ctx);
        return sub === undefined ? `ip:${ctx.clientIp}` : `user:${sub}`;
      };
    case "user_route":
      return (ctx) => {
        const sub = subject(ctx);
        return sub === undefined
          ? `ip_route:${ctx.clientIp}:${ctx.routeId}`
          : `user_route:${sub}:${ctx.routeId}`;
      };
  }
}

const MAX_RAW_KEY = 128;

function digest(value: string): string {
  return createHash("sha256").update(value).digest("base64url");
}

function subject(ctx: RequestContext): string | undefined {
  const sub = ctx.claims?.sub;
  return typeof sub === "string" || typeof sub === "number" ? String(sub) : undefined;
}

/** Compiles the stage for up to two limiters (undefined when there are none). */
export function compileRateLimit(
  limiters: readonly Limiter[],
  store: RateLimitStore,
  log: Log,
): RequestStage | undefined {
  if (limiters.length === 0) return undefined;

  const reject = (ctx: RequestContext, decision: RateLimitDecision): never => {
    log("debug", "rate limit exceeded", {
      request_id: ctx.requestId,
      route: ctx.routeId,
      client_ip: ctx.clientIp,
    });
    const retryAfter = String(Math.max(1, Math.ceil(decision.retryAfterMs / 1000)));
    const headers: Record<string, string> = { "retry-after": retryAfter };
    for (const [name, value] of quotaHeaders(decision)) headers[name] = value;
    throw new GatewayError(429, "rate_limit_error", `Too many requests. Please retry in ${retryAfter} s.`, {
      headers,
    });
  };
  const accept = (ctx: RequestContext, decision: RateLimitDecision): undefined => {
    const out = ctx.responseHeaders ??= [];
    for (const header of quotaHeaders(decision)) out.push(header);
    return undefined;
  };
  const decide = (ctx: RequestContext, decisions: RateLimitDecision[]): undefined => {
    let tightest = decisions[0];
    for (const decision of decisions) {
      if (!decision.allowed) return reject(ctx, decision);
      if (decision.remaining < tightest.remaining) tightest = decision;
    }
    return accept(ctx, tightest);
  };

  return function rateLimit(ctx: RequestContext) {
    const now = Date.now();
    const decisions: RateLimitDecision[] = [];
    for (let i = 0; i < limiters.length; i++) {
      const limiter = limiters[i];
      const decision = store.hit(limiter.key(ctx), limiter.rule, now);
      if (decision instanceof Promise) return finishAsync(ctx, decision, decisions, i, now);
      if (!decision.allowed) return reject(ctx, decision);
      decisions.push(decision);
    }
    return decide(ctx, decisions);
  };

  async function finishAsync(
    ctx: RequestContext,
    pending: Promise<RateLimitDecision>,
    decisions: RateLimitDecision[],
    index: number,
    now: number,
  ): Promise<undefined> {
    try {
      decisions.push(await pending);
      for (let i = index + 1; i < limiters.length; i++) {
        decisions.push(await store.hit(limiters[i].key(ctx), limiters[i].rule, now));
      }
    } catch (err) {
      log("warn", "rate-limit store failed; letting the request through", {
        request_id: ctx.requestId,
        error: err instanceof Error ? err.message : String(err),
      });
      return undefined;
    }
    return decide(ctx, decisions);
  }
}

function quotaHeaders(decision: RateLimitDecision): [string, string][] {
  const limit = String(decision.limit);
  const remaining = String(Math.max(0, decision.remaining));
  const reset = String(Math.ceil(decision.resetMs / 1000));
  return [
    ["ratelimit-limit", limit],
    ["ratelimit-remaining", remaining],
    ["ratelimit-reset", reset],
    ["x-ratelimit-limit", limit],
    ["x-ratelimit-remaining", remaining],
    ["x-ratelimit-reset", reset],
  ];
}
