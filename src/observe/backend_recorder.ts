/** Per-backend metric recording for the gateway: children resolved once, when the backend first appears. */
import type { UpstreamErrorKind, UpstreamPoolStats } from "../upstream/client.ts";
import type { GatewayMetrics } from "./gateway_metrics.ts";
import type { CounterChild, GaugeChild } from "./metrics_registry.ts";

/** How one upstream attempt ended. */
export type UpstreamOutcome = "response" | "connect_error" | "timeout" | "protocol_error";

/** Circuit breaker states, exported as kairos-rs's codes: 0 closed, 1 open, 2 half-open. */
export type BreakerStateName = "closed" | "open" | "half_open";

const BREAKER_CODES: Readonly<Record<BreakerStateName, number>> = { closed: 0, open: 1, half_open: 2 };

/** The outcome label for an upstream error kind; undefined for `aborted` (the client left: no backend fault). */
export function outcomeOf(kind: UpstreamErrorKind): UpstreamOutcome | undefined {
  switch (kind) {
    case "connect":
      return "connect_error";
    case "connect_timeout":
    case "timeout":
      return "timeout";
    case "protocol":
    case "reset":
      return "protocol_error";
    case "aborted":
      return undefined;
  }
}

/** Per-backend recording with pre-resolved children; pools and breakers update the public children directly. */
export class BackendRecorder {
  readonly #m: GatewayMetrics;
  readonly #attempts: Readonly<Record<UpstreamOutcome, CounterChild>>;
  readonly #timeouts: CounterChild;
  readonly #connectionErrors: CounterChild;
  readonly #breakerState: GaugeChild;
  /** Health: 1 up, 0 down. Starts at 1 (assumed healthy until a check says otherwise). */
  readonly up: GaugeChild;
  readonly inFlight: GaugeChild;
  readonly breakerFailures: CounterChild;
  readonly breakerSuccesses: CounterChild;
  readonly idleConnections: GaugeChild;
  readonly activeConnections: GaugeChild;
  readonly connects: CounterChild;
  readonly reuses: CounterChild;
  readonly poolWaits: CounterChild;
  // Last total read from the breaker or the pool for each counter it feeds.
  readonly #seen = new Map<CounterChild, number>();

  constructor(metrics: GatewayMetrics, key: string) {
    const f = metrics.families;
    this.#m = metrics;
    this.#attempts = {
      response: f.attempts.labels(key, "response"),
      connect_error: f.attempts.labels(key, "connect_error"),
      timeout: f.attempts.labels(key, "timeout"),
      protocol_error: f.attempts.labels(key, "protocol_error"),
    };
    this.#timeouts = f.upstreamTimeouts.labels(key);
    this.#connectionErrors = f.upstreamConnectionErrors.labels(key);
    this.#breakerState = f.breakerState.labels(key);
    this.breakerFailures = f.breakerFailures.labels(key);
    this.breakerSuccesses = f.breakerSuccesses.labels(key);
    this.up = f.backendUp.labels(key);
    this.up.set(1);
    this.inFlight = f.backendInFlight.labels(key);
    this.idleConnections = f.upstreamConnections.labels(key, "idle");
    this.activeConnections = f.upstreamConnections.labels(key, "active");
    this.connects = f.connects.labels(key);
    this.reuses = f.reuses.labels(key);
    this.poolWaits = f.poolWaits.labels(key);
  }

  /** Counts one upstream attempt; timeouts and connect errors also feed the kairos-rs totals. */
  attempt(outcome: UpstreamOutcome): void {
    this.#attempts[outcome].inc();
    if (outcome === "timeout") {
      this.#timeouts.inc();
      this.#m.timeoutErrors.inc();
    } else if (outcome === "connect_error") {
      this.#connectionErrors.inc();
      this.#m.connectionErrors.inc();
    }
  }

  /**
   * Counts a response body the backend broke off after its head (a reset, or a stall past idle_timeout_ms):
   * the attempt was already counted as a response, so only the timeout or connection-error totals move.
   */
  bodyFailed(kind: "timeout" | "connection"): void {
    if (kind === "timeout") {
      this.#timeouts.inc();
      this.#m.timeoutErrors.inc();
    } else {
      this.#connectionErrors.inc();
      this.#m.connectionErrors.inc();
    }
  }

  /** Sets the breaker state gauge. */
  breakerState(state: BreakerStateName): void {
    this.#breakerState.set(BREAKER_CODES[state]);
  }

  /** Sets the health gauge. */
  setUp(up: boolean): void {
    this.up.set(up ? 1 : 0);
  }

  /** Brings the breaker counters up to the breaker's totals (read when /metrics is rendered). */
  syncBreaker(failures: number, successes: number): void {
    this.#advance(this.breakerFailures, failures);
    this.#advance(this.breakerSuccesses, successes);
  }

  /** Copies a connection pool's gauges and brings its counters up to the pool's totals. */
  syncPool(stats: UpstreamPoolStats): void {
    this.idleConnections.set(stats.idle);
    this.activeConnections.set(stats.active);
    this.#advance(this.connects, stats.connects);
    this.#advance(this.reuses, stats.reuses);
    this.#advance(this.poolWaits, stats.waits);
  }

  /**
   * Adds what a source total grew by since the last reading. A total below the last reading (a new
   * breaker or pool for the same key) counts from zero again: a counter never goes down.
   */
  #advance(counter: CounterChild, total: number): void {
    const last = this.#seen.get(counter) ?? 0;
    counter.inc(total >= last ? total - last : total);
    this.#seen.set(counter, total);
  }
}
