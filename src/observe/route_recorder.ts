/** Per-route metric recording for the gateway: children resolved once, at snapshot build. */
import type { GatewayMetrics } from "./gateway_metrics.ts";
import { CounterChild, type HistogramChild, type MetricFamily } from "./metrics_registry.ts";

const STATUS_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"] as const;
// Methods outside this list share one label value, so clients cannot grow the series set at will.
const KNOWN_METHODS = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "CONNECT",
  "OPTIONS",
  "TRACE",
  "PATCH",
]);

/** Per-route recording with pre-resolved children. `record()` does no string work once a method was seen. */
export class RouteRecorder {
  readonly #m: GatewayMetrics;
  readonly #routeId: string;
  readonly #duration: HistogramChild;
  readonly #bytesIn: CounterChild;
  readonly #bytesOut: CounterChild;
  readonly #retries: CounterChild;
  readonly #rateLimited: CounterChild;
  /** Per method: one counter per status class, indexed 0 (1xx) to 4 (5xx). */
  readonly #byMethod = new Map<string, CounterChild[]>();
  readonly #authFailures = new Map<string, CounterChild>();

  constructor(metrics: GatewayMetrics, routeId: string) {
    const f = metrics.families;
    this.#m = metrics;
    this.#routeId = routeId;
    this.#duration = f.httpDuration.labels(routeId);
    this.#bytesIn = f.httpRequestBytes.labels(routeId);
    this.#bytesOut = f.httpResponseBytes.labels(routeId);
    this.#retries = f.retries.labels(routeId);
    this.#rateLimited = f.rateLimited.labels(routeId);
  }

  /** Records one finished request in both the kairos-rs series and the labelled ones. */
  record(method: string, status: number, durationMs: number, bytesIn: number, bytesOut: number): void {
    const m = this.#m;
    m.requests.inc();
    if (status >= 400) {
      m.errors.inc();
      if (status >= 500) m.http5xx.inc();
      else m.http4xx.inc();
    } else {
      m.successes.inc();
    }
    m.responseTime.observe(durationMs);
    m.requestBytes.inc(bytesIn);
    m.responseBytes.inc(bytesOut);

    let byClass = this.#byMethod.get(method);
    if (byClass === undefined) byClass = this.#resolveMethod(method);
    const cls = Math.floor(status / 100) - 1;
    byClass[cls < 0 ? 0 : cls > 4 ? 4 : cls].inc();
    this.#duration.observe(durationMs / 1000);
    this.#bytesIn.inc(bytesIn);
    this.#bytesOut.inc(bytesOut);
  }

  /** Counts one retry of an upstream request. */
  retry(): void {
    this.#retries.inc();
  }

  /** Counts one request rejected by the rate limiter. */
  rateLimited(): void {
    this.#rateLimited.inc();
  }

  /** Counts one authentication failure; `reason` must come from a fixed set (e.g. "missing", "expired"). */
  authFailure(reason: string): void {
    let child = this.#authFailures.get(reason);
    if (child === undefined) {
      child = this.#counter(this.#m.families.authFailures, reason);
      this.#authFailures.set(reason, child);
    }
    child.inc();
  }

  #resolveMethod(method: string): CounterChild[] {
    const label = KNOWN_METHODS.has(method) ? method : "OTHER";
    // Unknown methods share the "OTHER" children but are not cached under their own name: no growth.
    const cached = this.#byMethod.get(label);
    if (cached !== undefined) return cached;
    const family = this.#m.families.httpRequests;
    const children = STATUS_CLASSES.map((c) => this.#counter(family, label, c));
    this.#byMethod.set(label, children);
    return children;
  }

  /** This route's child of `family`, or a detached one once a reload removed the route's series. */
  #counter(family: MetricFamily<CounterChild>, ...values: string[]): CounterChild {
    const labels = [this.#routeId, ...values];
    // A request finishing on the old snapshot must not bring a removed route's series back for good.
    if (this.#m.families.httpDuration.has(this.#duration)) return family.labels(...labels);
    return new CounterChild(labels, "");
  }
}
