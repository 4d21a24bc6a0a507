/**
 * WebSocket series, registered on the gateway's registry: open connections, upgrades, messages and bytes
 * each way, and closes by code, per route. A route's children are resolved once, on its first connection.
 */
import type {
  CounterChild,
  GaugeChild,
  MetricFamily,
  MetricsRegistry,
} from "../../observe/metrics_registry.ts";

/** Direction label values: from the client to the backend, and back. */
const IN = "client_to_backend";
const OUT = "backend_to_client";

/** One route's pre-resolved children, updated per message without allocation. */
export interface RouteWebSocketSeries {
  readonly open: GaugeChild;
  readonly upgrades: CounterChild;
  readonly messagesIn: CounterChild;
  readonly messagesOut: CounterChild;
  readonly bytesIn: CounterChild;
  readonly bytesOut: CounterChild;
  /** Counts a finished connection under the close code the client side ended with. */
  closed(code: number): void;
}

/** Registers the WebSocket families and hands out per-route series. */
export class WebSocketMetrics {
  readonly #open: MetricFamily<GaugeChild>;
  readonly #upgrades: MetricFamily<CounterChild>;
  readonly #messages: MetricFamily<CounterChild>;
  readonly #bytes: MetricFamily<CounterChild>;
  readonly #closes: MetricFamily<CounterChild>;
  readonly #routes = new Map<string, RouteWebSocketSeries>();

  constructor(registry: MetricsRegistry) {
    this.#open = registry.gauge("kairos_websocket_connections_open", "Open proxied WebSocket connections", [
      "route",
    ]);
    this.#upgrades = registry.counter(
      "kairos_websocket_upgrades_total",
      "WebSocket connections established",
      [
        "route",
      ],
    );
    this.#messages = registry.counter("kairos_websocket_messages_total", "WebSocket messages relayed", [
      "route",
      "direction",
    ]);
    this.#bytes = registry.counter("kairos_websocket_bytes_total", "WebSocket payload bytes relayed", [
      "route",
      "direction",
    ]);
    this.#closes = registry.counter(
      "kairos_websocket_closes_total",
      "Finished WebSocket connections by the close code the client side ended with",
      ["route", "code"],
    );
  }

  /** The series of `routeId` (cached: a reload keeps the route's counters). */
  route(routeId: string): RouteWebSocketSeries {
    let series = this.#routes.get(routeId);
    if (series !== undefined) return series;
    const closes = this.#closes;
    series = {
      open: this.#open.labels(routeId),
      upgrades: this.#upgrades.labels(routeId),
      messagesIn: this.#messages.labels(routeId, IN),
      messagesOut: this.#messages.labels(routeId, OUT),
      bytesIn: this.#bytes.labels(routeId, IN),
      bytesOut: this.#bytes.labels(routeId, OUT),
      closed: (code) => closes.labels(routeId, String(code)).inc(),
    };
    this.#routes.set(routeId, series);
    return series;
  }
}
