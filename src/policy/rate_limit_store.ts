/**
 * Where rate-limit state lives. The interface is small and may answer asynchronously so a Redis store
 * can implement it; the memory store answers synchronously.
 *
 * Memory is bounded: at most `maxKeys` keys (default 100,000), least recently used first out, and
 * keys whose state has become equal to a fresh one are dropped as traffic passes. Eviction can only
 * make limits more lenient, never stricter: an evicted key starts again with a full quota. So a flood
 * of distinct keys (e.g. spoofed headers) cannot exhaust memory, and at worst resets the quotas of the
 * clients least recently seen.
 */
import { consume, newRateLimitState, type RateLimitState } from "./rate_limit_algorithms.ts";

export type RateLimitAlgorithm = "token_bucket" | "fixed_window" | "sliding_window";

/** A compiled limit. */
export interface RateLimitRule {
  readonly algorithm: RateLimitAlgorithm;
  /** Most requests allowed at once: requests_per_window + burst. */
  readonly limit: number;
  /** requests_per_window: the token bucket's refill per window. */
  readonly rate: number;
  readonly windowMs: number;
}

/** The outcome of one hit, with what the quota headers need. */
export interface RateLimitDecision {
  readonly allowed: boolean;
  readonly limit: number;
  readonly remaining: number;
  /** Milliseconds until the quota is whole again. */
  readonly resetMs: number;
  /** Milliseconds until a request would be allowed (0 when allowed). */
  readonly retryAfterMs: number;
}

/** Rate-limit state by key; shared by every route and snapshot of a process. */
export interface RateLimitStore {
  /** Counts one request for `key` under `rule` at time `now` (ms). */
  hit(key: string, rule: RateLimitRule, now: number): RateLimitDecision | Promise<RateLimitDecision>;
  /** Releases the store's resources (timers, connections). */
  dispose(): void;
}

/** The in-memory store: it answers synchronously; `size` is the number of keys held. */
export interface MemoryRateLimitStore extends RateLimitStore {
  hit(key: string, rule: RateLimitRule, now: number): RateLimitDecision;
  readonly size: number;
}

export interface MemoryRateLimitStoreOptions {
  /** Most keys held at once (default 100,000). */
  maxKeys?: number;
}

const DEFAULT_MAX_KEYS = 100_000;
// Entries examined for idleness per hit: enough to keep up with the arrival of new keys.
const SWEEP_PER_HIT = 2;

/** Creates the in-memory store (no timers: idle keys are swept a few at a time on each hit). */
export function createMemoryRateLimitStore(options: MemoryRateLimitStoreOptions = {}): MemoryRateLimitStore {
  const maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
  if (!Number.isInteger(maxKeys) || maxKeys < 1) {
    throw new RangeError(
      `Cannot create a rate-limit store as 'maxKeys' must be a positive integer: got ${maxKeys}`,
    );
  }
  return new MemoryStore(maxKeys);
}

class MemoryStore implements MemoryRateLimitStore {
  // A Map iterates in insertion order; re-inserting on each hit keeps it ordered by last use.
  #entries = new Map<string, RateLimitState>();
  #maxKeys: number;

  constructor(maxKeys: number) {
    this.#maxKeys = maxKeys;
  }

  get size(): number {
    return this.#entries.size;
  }

  hit(key: string, rule: RateLimitRule, now: number): RateLimitDecision {
    const entries = this.#entries;
    let state = entries.get(key);
    if (state === undefined) {
      this.#sweep(now);
      if (entries.size >= this.#maxKeys) entries.delete(entries.keys().next().value!);
    } else entries.delete(key);
    if (state === undefined || state.algorithm !== rule.algorithm) state = newRateLimitState(rule, now);
    entries.set(key, state);
    return consume(state, rule, now);
  }

  dispose(): void {
    this.#entries.clear();
  }

  /** Drops the least recently used keys that have gone idle. */
  #sweep(now: number): void {
    let n = 0;
    for (const [key, state] of this.#entries) {
      if (n++ >= SWEEP_PER_HIT || state.idleUntil > now) return;
      this.#entries.delete(key);
    }
  }
}
