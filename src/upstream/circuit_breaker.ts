/**
 * A circuit breaker per backend: closed → open after `failure_threshold` consecutive failures,
 * open → half-open once `reset_timeout_ms` has passed since it opened, half-open → closed after
 * `success_threshold` successful probes (any probe failure reopens it). Unlike kairos-rs, half-open
 * lets at most `half_open_max_requests` probes through at a time.
 */
import type { CircuitBreakerConfig } from "../config/schema.ts";

export type CircuitState = "closed" | "open" | "half_open";

/** Metric values for `CircuitState`, as kairos-rs exports them. */
const STATE_CODES: Readonly<Record<CircuitState, 0 | 1 | 2>> = { closed: 0, open: 1, half_open: 2 };

/**
 * Contract: each `tryAcquire()` that returns true is followed by exactly one of `onSuccess()`,
 * `onFailure()` (a verdict) or `release()` (no verdict, e.g. the client went away); `onSuccess()` and
 * `release()` take the `epoch` read right after acquiring. Probe slots are reset on every state change,
 * and a slot held longer than `reset_timeout_ms` without a verdict is presumed lost and reclaimed, so a
 * call that never reports cannot wedge the breaker in half-open.
 */
export class CircuitBreaker {
  #config: CircuitBreakerConfig;
  #failureStatuses: ReadonlySet<number>;
  readonly #now: () => number;
  #state: CircuitState = "closed";
  #consecutiveFailures = 0;
  #probeSuccesses = 0;
  #probesInFlight = 0;
  #openedAt = 0;
  #lastProbeAt = 0;
  #epoch = 0;
  #failures = 0;
  #successes = 0;

  constructor(config: CircuitBreakerConfig, now: () => number = Date.now) {
    this.#config = config;
    this.#failureStatuses = new Set(config.failure_status_codes);
    this.#now = now;
  }

  /** The current state; an open circuit whose cool-down has passed reads as half-open. */
  get state(): CircuitState {
    this.#refresh(undefined);
    return this.#state;
  }

  /** 0 closed, 1 open, 2 half-open (the `circuit_breaker_state` gauge). */
  get stateCode(): 0 | 1 | 2 {
    return STATE_CODES[this.state];
  }

  /** Total failures recorded since creation (metrics). */
  get failures(): number {
    return this.#failures;
  }

  /** Total successes recorded since creation (metrics). */
  get successes(): number {
    return this.#successes;
  }

  /**
   * Changes with every state change and probe-slot reclaim. A verdict given with an older epoch comes
   * from a call that holds no probe slot (e.g. slower than the cool-down): it neither frees a slot nor
   * counts as a probe success, so half-open stays bounded. Without an epoch a verdict counts as current.
   */
  get epoch(): number {
    return this.#epoch;
  }

  /** Half-open probes currently in flight. */
  get probesInFlight(): number {
    return this.#probesInFlight;
  }

  get config(): CircuitBreakerConfig {
    return this.#config;
  }

  /** Applies a reloaded config; state and counters are kept, new thresholds apply from the next event. */
  updateConfig(config: CircuitBreakerConfig): void {
    if (config === this.#config) return;
    this.#config = config;
    this.#failureStatuses = new Set(config.failure_status_codes);
  }

  /** Whether an upstream status counts as a failure (`failure_status_codes`). */
  isFailureStatus(status: number): boolean {
    return this.#failureStatuses.has(status);
  }

  /** Whether a call would be let through now, without taking a probe slot (for balancers). */
  peekAvailable(now?: number): boolean {
    if (this.#state === "closed") return true;
    this.#refresh(now);
    return this.#state === "half_open" && this.#probesInFlight < this.#config.half_open_max_requests;
  }

  /** Milliseconds until an open circuit lets a probe through; 0 when it is not open. */
  openRemainingMs(now?: number): number {
    const t = this.#refresh(now);
    return this.#state === "open" ? this.#openedAt + this.#config.reset_timeout_ms - t : 0;
  }

  /** Asks to make a call: true lets it proceed (taking a probe slot when half-open), false fails fast. */
  tryAcquire(now?: number): boolean {
    if (this.#state === "closed") return true;
    const t = this.#refresh(now);
    if (this.#state === "open" || this.#probesInFlight >= this.#config.half_open_max_requests) return false;
    this.#probesInFlight++;
    this.#lastProbeAt = t;
    return true;
  }

  /** Records a successful call (a response whose status is not a failure status). */
  onSuccess(epoch?: number): void {
    this.#successes++;
    if (this.#state === "closed") {
      this.#consecutiveFailures = 0;
    } else if (this.#state === "half_open" && (epoch === undefined || epoch === this.#epoch)) {
      this.#returnSlot();
      if (++this.#probeSuccesses >= this.#config.success_threshold) this.#close();
    }
    // Open: a late answer to a call made before the circuit opened; it proves nothing about now.
  }

  /** Records a failed call (connect error, timeout, or a failure status); any failure reopens half-open. */
  onFailure(): void {
    this.#failures++;
    if (this.#state === "closed") {
      if (++this.#consecutiveFailures >= this.#config.failure_threshold) this.#open();
    } else if (this.#state === "half_open") {
      this.#open();
    }
    // Open: a late failure must not extend the cool-down, or slow backends would never get probed.
  }

  /** Ends a call without a verdict (e.g. the client aborted): returns its probe slot, if it held one. */
  release(epoch?: number): void {
    if (this.#state === "half_open" && (epoch === undefined || epoch === this.#epoch)) this.#returnSlot();
  }

  /** Moves open → half-open once the cool-down is over, reclaims lost probe slots; returns the time used. */
  #refresh(now: number | undefined): number {
    if (this.#state === "closed") return 0;
    const t = now ?? this.#now();
    if (this.#state === "open") {
      if (t - this.#openedAt >= this.#config.reset_timeout_ms) {
        this.#state = "half_open";
        this.#epoch++;
        this.#probeSuccesses = 0;
        this.#probesInFlight = 0;
      }
    } else if (this.#probesInFlight > 0 && t - this.#lastProbeAt >= this.#config.reset_timeout_ms) {
      this.#epoch++;
      this.#probesInFlight = 0;
    }
    return t;
  }

  #returnSlot(): void {
    if (this.#probesInFlight > 0) this.#probesInFlight--;
  }

  #open(): void {
    this.#state = "open";
    this.#epoch++;
    this.#openedAt = this.#now();
    this.#probesInFlight = 0;
    this.#probeSuccesses = 0;
  }

  #close(): void {
    this.#state = "closed";
    this.#epoch++;
    this.#consecutiveFailures = 0;
    this.#probesInFlight = 0;
    this.#probeSuccesses = 0;
  }
}
