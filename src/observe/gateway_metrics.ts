/**
 * Every series the gateway records. The unlabelled `kairos_*` series keep kairos-rs's names and meanings so
 * its dashboards keep working (with two fixes: a cumulative response-time histogram with `+Inf`, `_sum`,
 * `_count`, and 404/405 counted as 4xx, not 5xx). Recorders resolve their children once, at snapshot build.
 */
import { BackendRecorder } from "./backend_recorder.ts";
import { RouteRecorder } from "./route_recorder.ts";
import type {
  CounterChild,
  GaugeChild,
  HistogramChild,
  MetricFamily,
  MetricsRegistry,
} from "./metrics_registry.ts";

/** The route label used for requests that matched no route (404/405). */
export const NO_ROUTE = "(none)";

/** Outcomes of a config reload. */
export type ReloadResult = "success" | "failure" | "unchanged";

const DURATION_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const RESPONSE_TIME_BUCKETS_MS = [100, 500, 1000, 5000];

/** Creates every gateway series in `registry` and returns the recording API. */
export function createGatewayMetrics(registry: MetricsRegistry): GatewayMetrics {
  return new GatewayMetrics(registry);
}

/** The gateway's series and the recorders that update them. */
export class GatewayMetrics {
  // kairos-rs compatible, unlabelled.
  readonly requests: CounterChild;
  readonly successes: CounterChild;
  readonly errors: CounterChild;
  readonly http4xx: CounterChild;
  readonly http5xx: CounterChild;
  readonly timeoutErrors: CounterChild;
  readonly connectionErrors: CounterChild;
  readonly responseTime: HistogramChild;
  readonly requestBytes: CounterChild;
  readonly responseBytes: CounterChild;
  readonly activeConnections: GaugeChild;
  readonly peakConnections: GaugeChild;
  // Kairos series.
  readonly inFlight: GaugeChild;
  readonly lastReloadSuccess: GaugeChild;
  readonly families: {
    readonly breakerState: MetricFamily<GaugeChild>;
    readonly breakerFailures: MetricFamily<CounterChild>;
    readonly breakerSuccesses: MetricFamily<CounterChild>;
    readonly httpRequests: MetricFamily<CounterChild>;
    readonly httpDuration: MetricFamily<HistogramChild>;
    readonly attempts: MetricFamily<CounterChild>;
    readonly retries: MetricFamily<CounterChild>;
    readonly upstreamTimeouts: MetricFamily<CounterChild>;
    readonly upstreamConnectionErrors: MetricFamily<CounterChild>;
    readonly backendUp: MetricFamily<GaugeChild>;
    readonly backendInFlight: MetricFamily<GaugeChild>;
    readonly httpRequestBytes: MetricFamily<CounterChild>;
    readonly httpResponseBytes: MetricFamily<CounterChild>;
    readonly reloads: MetricFamily<CounterChild>;
    readonly upstreamConnections: MetricFamily<GaugeChild>;
    readonly connects: MetricFamily<CounterChild>;
    readonly reuses: MetricFamily<CounterChild>;
    readonly poolWaits: MetricFamily<CounterChild>;
    readonly rateLimited: MetricFamily<CounterChild>;
    readonly authFailures: MetricFamily<CounterChild>;
  };
  readonly #routes = new Map<string, RouteRecorder>();
  readonly #backends = new Map<string, BackendRecorder>();
  // Backends a reload removed, with the unexported recorder handed to requests still running on them.
  readonly #retired = new Map<string, BackendRecorder | undefined>();

  constructor(r: MetricsRegistry) {
    this.requests = r.counter("kairos_requests_total", "Total number of HTTP requests").labels();
    this.successes = r.counter("kairos_requests_success_total", "Total number of successful requests")
      .labels();
    this.errors = r.counter("kairos_requests_error_total", "Total number of failed requests").labels();
    this.http4xx = r.counter("kairos_http_4xx_errors_total", "Total number of 4xx responses").labels();
    this.http5xx = r.counter("kairos_http_5xx_errors_total", "Total number of 5xx responses").labels();
    this.timeoutErrors = r.counter("kairos_timeout_errors_total", "Total number of upstream timeouts")
      .labels();
    this.connectionErrors = r.counter(
      "kairos_connection_errors_total",
      "Total number of upstream connection errors",
    )
      .labels();
    r.gaugeFn(
      "kairos_response_time_avg",
      "Average response time in milliseconds",
      () => [[undefined, this.#avgMs()]],
    );
    this.responseTime = r.histogram(
      "kairos_response_time",
      "Response time distribution in milliseconds",
      RESPONSE_TIME_BUCKETS_MS,
    ).labels();
    this.requestBytes = r.counter("kairos_request_bytes_total", "Total request body bytes received").labels();
    this.responseBytes = r.counter("kairos_response_bytes_total", "Total response body bytes sent").labels();
    r.gaugeFn("kairos_success_rate", "Success rate in percent (100 when no requests)", () => [[
      undefined,
      this.#successRate(),
    ]]);
    this.activeConnections = r.gauge("kairos_active_connections", "In-flight proxied requests").labels();
    this.peakConnections = r.gauge("kairos_peak_connections", "Peak number of in-flight proxied requests")
      .labels();
    // performance.now() counts from the process's time origin, so this is the real process uptime.
    r.counterFn("kairos_uptime_seconds", "Process uptime in seconds", () => [[
      undefined,
      Math.floor(performance.now() / 1000),
    ]]);
    const breakerState = r.gauge(
      "kairos_circuit_breaker_state",
      "Circuit breaker state (0 closed, 1 open, 2 half-open)",
      ["service"],
    );
    const breakerFailures = r.counter("kairos_circuit_breaker_failures", "Circuit breaker failures", [
      "service",
    ]);
    const breakerSuccesses = r.counter("kairos_circuit_breaker_successes", "Circuit breaker successes", [
      "service",
    ]);

    const httpRequests = r.counter(
      "kairos_http_requests_total",
      "HTTP requests by route, method and status class",
      [
        "route",
        "method",
        "status_class",
      ],
    );
    const httpDuration = r.histogram(
      "kairos_http_request_duration_seconds",
      "HTTP request duration in seconds",
      DURATION_BUCKETS_S,
      ["route"],
    );
    const attempts = r.counter("kairos_upstream_attempts_total", "Upstream attempts by outcome", [
      "backend",
      "outcome",
    ]);
    const retries = r.counter("kairos_upstream_retries_total", "Upstream retries", ["route"]);
    const upstreamTimeouts = r.counter("kairos_upstream_timeouts_total", "Upstream timeouts", ["backend"]);
    const upstreamConnectionErrors = r.counter(
      "kairos_upstream_connection_errors_total",
      "Upstream connection errors",
      ["backend"],
    );
    this.inFlight = r.gauge("kairos_http_requests_in_flight", "HTTP requests being served").labels();
    const backendUp = r.gauge("kairos_backend_up", "Backend health (1 up, 0 down)", ["backend"]);
    const backendInFlight = r.gauge("kairos_backend_in_flight", "Requests in flight to a backend", [
      "backend",
    ]);
    const httpRequestBytes = r.counter("kairos_http_request_bytes_total", "Request body bytes by route", [
      "route",
    ]);
    const httpResponseBytes = r.counter("kairos_http_response_bytes_total", "Response body bytes by route", [
      "route",
    ]);
    const reloads = r.counter("kairos_config_reloads_total", "Config reloads by result", ["result"]);
    this.lastReloadSuccess = r.gauge(
      "kairos_config_last_reload_success_timestamp_seconds",
      "Unix time of the last successful config reload",
    ).labels();
    const upstreamConnections = r.gauge(
      "kairos_upstream_connections",
      "Pooled upstream connections by state",
      [
        "backend",
        "state",
      ],
    );
    const connects = r.counter("kairos_upstream_connects_total", "New upstream connections", ["backend"]);
    const reuses = r.counter("kairos_upstream_reuses_total", "Requests sent on a reused connection", [
      "backend",
    ]);
    const poolWaits = r.counter(
      "kairos_upstream_pool_waits_total",
      "Requests that waited for a pooled connection",
      [
        "backend",
      ],
    );
    const rateLimited = r.counter("kairos_rate_limited_total", "Requests rejected by rate limiting", [
      "route",
    ]);
    const authFailures = r.counter("kairos_auth_failures_total", "Authentication failures", [
      "route",
      "reason",
    ]);
    this.families = {
      breakerState,
      breakerFailures,
      breakerSuccesses,
      httpRequests,
      httpDuration,
      attempts,
      retries,
      upstreamTimeouts,
      upstreamConnectionErrors,
      backendUp,
      backendInFlight,
      httpRequestBytes,
      httpResponseBytes,
      reloads,
      upstreamConnections,
      connects,
      reuses,
      poolWaits,
      rateLimited,
      authFailures,
    };
  }

  /** The recorder for a route id (cached: a reload that keeps the route keeps its counters). */
  routeRecorder(routeId: string): RouteRecorder {
    let rec = this.#routes.get(routeId);
    if (rec === undefined) {
      rec = new RouteRecorder(this, routeId);
      this.#routes.set(routeId, rec);
    }
    return rec;
  }

  /**
   * The recorder for a backend key such as `http://127.0.0.1:9101` (cached). For a backend a reload removed,
   * one whose series are not exported: a request still running on the old config must not bring them back.
   */
  backendRecorder(key: string): BackendRecorder {
    let rec = this.#backends.get(key);
    if (rec === undefined) {
      rec = this.#retired.get(key);
      if (rec !== undefined) return rec;
      rec = new BackendRecorder(this, key);
      if (this.#retired.has(key)) {
        this.#removeBackendSeries(key);
        this.#retired.set(key, rec);
      } else {
        this.#backends.set(key, rec);
      }
    }
    return rec;
  }

  /** Backends a new config uses: recorded and exported again if an earlier reload had removed them. */
  reviveBackends(keys: Iterable<string>): void {
    for (const key of keys) this.#retired.delete(key);
  }

  /** Drops a route's series (after a reload removed it). */
  removeRoute(routeId: string): void {
    this.#routes.delete(routeId);
    const f = this.families;
    for (
      const family of [f.httpRequests, f.httpDuration, f.retries, f.httpRequestBytes, f.httpResponseBytes]
    ) {
      family.remove({ route: routeId });
    }
    f.rateLimited.remove({ route: routeId });
    f.authFailures.remove({ route: routeId });
  }

  /** Drops a backend's series (after a reload removed it) until `reviveBackends()` names it again. */
  removeBackend(key: string): void {
    this.#backends.delete(key);
    this.#retired.set(key, undefined);
    this.#removeBackendSeries(key);
  }

  #removeBackendSeries(key: string): void {
    const f = this.families;
    for (const family of [f.breakerState, f.breakerFailures, f.breakerSuccesses]) {
      family.remove({ service: key });
    }
    for (
      const family of [
        f.attempts,
        f.upstreamTimeouts,
        f.upstreamConnectionErrors,
        f.backendUp,
        f.backendInFlight,
        f.upstreamConnections,
        f.connects,
        f.reuses,
        f.poolWaits,
      ]
    ) family.remove({ backend: key });
  }

  /** Marks a proxied request as started (in-flight and kairos-rs active/peak connections). */
  requestStarted(): void {
    this.inFlight.inc();
    const active = this.activeConnections;
    active.inc();
    if (active.value > this.peakConnections.value) this.peakConnections.set(active.value);
  }

  /** Marks a request begun with `requestStarted()` as finished. */
  requestFinished(): void {
    this.inFlight.dec();
    this.activeConnections.dec();
  }

  /** Counts a config reload; a success also stamps the last-success time. */
  configReload(result: ReloadResult): void {
    this.families.reloads.labels(result).inc();
    if (result === "success") this.lastReloadSuccess.set(Date.now() / 1000);
  }

  #avgMs(): number {
    const h = this.responseTime;
    return h.count === 0 ? 0 : Math.round((h.sum / h.count) * 100) / 100;
  }

  #successRate(): number {
    const total = this.requests.value;
    return total === 0 ? 100 : Math.round((this.successes.value / total) * 10000) / 100;
  }
}
