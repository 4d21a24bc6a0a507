/**
 * Long-lived per-backend state (health, circuit breaker, in-flight count), keyed by the backend's URL
 * key so a config reload that keeps a backend keeps its state (like Pingora carrying health over by key).
 */
import type { CircuitBreakerConfig } from "../config/schema.ts";
import { CircuitBreaker } from "./circuit_breaker.ts";
import type { UpstreamTarget } from "./client.ts";

/** What the current config says about a backend. */
export interface BackendInit {
  readonly target: UpstreamTarget;
  readonly weight: number;
  readonly healthCheckPath: string | null;
  readonly breakerConfig: CircuitBreakerConfig;
}

/** One backend as the proxy and balancers see it; shared by every route that uses the same key. */
export class BackendState {
  /** e.g. `http://127.0.0.1:9101`. */
  readonly key: string;
  target: UpstreamTarget;
  /** Weight from the config; balancers capture it when they are built. */
  weight: number;
  healthCheckPath: string | null;
  /** Requests currently being forwarded to this backend (least_connections reads it). */
  inFlight = 0;
  /** Verdict of active health checks; true until a health check says otherwise. */
  healthy = true;
  readonly breaker: CircuitBreaker;

  constructor(key: string, init: BackendInit, now: () => number = Date.now) {
    this.key = key;
    this.target = init.target;
    this.weight = init.weight;
    this.healthCheckPath = init.healthCheckPath;
    this.breaker = new CircuitBreaker(init.breakerConfig, now);
  }

  /** Counts a request as in flight; pair with exactly one `release()`. */
  acquire(): void {
    this.inFlight++;
  }

  /** Ends an in-flight request. */
  release(): void {
    if (this.inFlight > 0) this.inFlight--;
  }

  /**
   * Whether a balancer may pick this backend: healthy and its breaker would let a call through
   * (no half-open probe slot is taken; the proxy takes one with `breaker.tryAcquire()`).
   */
  isAvailable(now?: number): boolean {
    return this.healthy && this.breaker.peekAvailable(now);
  }
}

/** Options for `BackendRegistry`. */
export interface BackendRegistryOptions {
  /** Clock for the circuit breakers (tests inject a fake one). */
  readonly now?: () => number;
}

/**
 * All backend states, one per key, surviving reloads. A backend used by several routes has one state;
 * when their configs disagree (breaker thresholds, health path, weight) the last `resolve()` wins,
 * which is why balancers take their weights when they are built rather than reading them later.
 */
export class BackendRegistry {
  readonly #states = new Map<string, BackendState>();
  readonly #now: () => number;

  constructor(options: BackendRegistryOptions = {}) {
    this.#now = options.now ?? Date.now;
  }

  /** The state for `key`: the existing one updated from `init` (health, breaker, in-flight kept), or a new one. */
  resolve(key: string, init: BackendInit): BackendState {
    const existing = this.#states.get(key);
    if (existing === undefined) {
      const state = new BackendState(key, init, this.#now);
      this.#states.set(key, state);
      return state;
    }
    existing.target = init.target;
    existing.weight = init.weight;
    existing.healthCheckPath = init.healthCheckPath;
    existing.breaker.updateConfig(init.breakerConfig);
    return existing;
  }

  /** Drops the states whose key is not in `keys` (after a reload, with the keys the new snapshot uses). */
  retain(keys: ReadonlySet<string>): void {
    for (const key of this.#states.keys()) {
      if (!keys.has(key)) this.#states.delete(key);
    }
  }

  get(key: string): BackendState | undefined {
    return this.#states.get(key);
  }

  /** Every state, e.g. for the metrics exporter. */
  values(): IterableIterator<BackendState> {
    return this.#states.values();
  }

  get size(): number {
    return this.#states.size;
  }
}
