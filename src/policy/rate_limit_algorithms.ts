/**
 * The three rate-limit algorithms over a small per-key state. For a rule, L = `limit`
 * (requests_per_window + burst), R = `rate` (requests_per_window), W = `windowMs`.
 *
 * - token_bucket: a new key starts full with L tokens; R tokens per W flow back, capped at L; a
 *   request takes one token. Allows bursts of L, then R per W on average.
 * - fixed_window: a window starts at a key's first request (as in kairos-rs) and allows L requests
 *   until W has passed.
 * - sliding_window: a two-window estimate, not a log (O(1) memory per key): windows are aligned to
 *   multiples of W, and the count is `previous * (1 - elapsed / W) + current`, allowed while below L.
 *   This assumes requests in the previous window were evenly spread, so it can be off by a little
 *   near a burst; it never lets through more than 2L in any W.
 */
import type { RateLimitDecision, RateLimitRule } from "./rate_limit_store.ts";

const TOKEN_EPSILON = 1e-9;

/** The per-key state; `a`, `b`, `c` mean different things per algorithm. */
export interface RateLimitState {
  algorithm: RateLimitRule["algorithm"];
  /** token_bucket: tokens; fixed_window: window start; sliding_window: current window start. */
  a: number;
  /** token_bucket: last refill; fixed_window and sliding_window: count in the current window. */
  b: number;
  /** sliding_window: count in the previous window. */
  c: number;
  /** From this time on the state equals a fresh one, so the store may drop it. */
  idleUntil: number;
}

/** A state for a key never seen before. */
export function newRateLimitState(rule: RateLimitRule, now: number): RateLimitState {
  switch (rule.algorithm) {
    case "token_bucket":
      return { algorithm: rule.algorithm, a: rule.limit, b: now, c: 0, idleUntil: now };
    case "fixed_window":
      return { algorithm: rule.algorithm, a: now, b: 0, c: 0, idleUntil: now };
    case "sliding_window":
      return { algorithm: rule.algorithm, a: alignedStart(now, rule.windowMs), b: 0, c: 0, idleUntil: now };
  }
}

/** Counts one request against `state` (mutating it) and says whether it is allowed. */
export function consume(state: RateLimitState, rule: RateLimitRule, now: number): RateLimitDecision {
  switch (rule.algorithm) {
    case "token_bucket":
      return tokenBucket(state, rule, now);
    case "fixed_window":
      return fixedWindow(state, rule, now);
    case "sliding_window":
      return slidingWindow(state, rule, now);
  }
}

function tokenBucket(state: RateLimitState, rule: RateLimitRule, now: number): RateLimitDecision {
  const perMs = rule.rate / rule.windowMs;
  let tokens = Math.min(rule.limit, state.a + Math.max(0, now - state.b) * perMs);
  state.b = now;
  // Refill is fractional: without the tolerance a client that waits exactly Retry-After can find
  // 0.9999999… tokens and be refused again.
  const allowed = tokens >= 1 - TOKEN_EPSILON;
  if (allowed) tokens = Math.max(0, tokens - 1);
  state.a = tokens;
  const resetMs = Math.ceil((rule.limit - tokens) / perMs);
  state.idleUntil = now + resetMs;
  return {
    allowed,
    limit: rule.limit,
    remaining: Math.floor(tokens),
    resetMs,
    retryAfterMs: allowed ? 0 : Math.ceil((1 - tokens) / perMs),
  };
}

function fixedWindow(state: RateLimitState, rule: RateLimitRule, now: number): RateLimitDecision {
  if (now - state.a >= rule.windowMs || now < state.a) {
    state.a = now;
    state.b = 0;
  }
  const resetMs = state.a + rule.windowMs - now;
  state.idleUntil = state.a + rule.windowMs;
  const allowed = state.b < rule.limit;
  if (allowed) state.b++;
  return {
    allowed,
    limit: rule.limit,
    remaining: rule.limit - state.b,
    resetMs,
    retryAfterMs: allowed ? 0 : resetMs,
  };
}

function slidingWindow(state: RateLimitState, rule: RateLimitRule, now: number): RateLimitDecision {
  const w = rule.windowMs;
  const start = alignedStart(now, w);
  if (start !== state.a) {
    state.c = start - state.a === w ? state.b : 0;
    state.b = 0;
    state.a = start;
  }
  const elapsed = now - start;
  const estimate = state.c * (1 - elapsed / w) + state.b;
  const allowed = estimate + 1 <= rule.limit;
  let retryAfterMs = 0;
  if (allowed) state.b++;
  else if (state.b + 1 <= rule.limit) {
    // Wait until the previous window's weight has decayed enough within this window.
    retryAfterMs = Math.ceil(w * (1 - (rule.limit - 1 - state.b) / state.c) - elapsed);
  } else {
    // Wait for the next window, then for this window's count (its "previous") to decay.
    retryAfterMs = Math.ceil(w - elapsed + w * (1 - (rule.limit - 1) / state.b));
  }
  state.idleUntil = start + 2 * w;
  const resetMs = state.b > 0 ? 2 * w - elapsed : state.c > 0 ? w - elapsed : 0;
  return {
    allowed,
    limit: rule.limit,
    remaining: Math.max(0, Math.floor(rule.limit - (allowed ? estimate + 1 : estimate))),
    resetMs,
    retryAfterMs: allowed ? 0 : Math.max(1, retryAfterMs),
  };
}

function alignedStart(now: number, windowMs: number): number {
  return now - (now % windowMs);
}
