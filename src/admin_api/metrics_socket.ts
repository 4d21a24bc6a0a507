/**
 * `GET /ws/metrics`, kairos-rs's live metrics stream: a `Snapshot` message at once and then one per
 * `interval_seconds`; a client subscription `{metrics, interval_seconds, include_history}` changes the
 * period and may ask for an hour of `TimeSeries` history; bad input is answered with
 * `{"type":"Error","message":"Invalid subscription: …"}` and changes nothing (kairos-rs's task panicked
 * on `interval_seconds: 0`).
 */
import type { MetricsHistory } from "../observe/metrics_history.ts";
import { jsonResponse } from "./api_error.ts";

export interface MetricsSocketsOptions {
  readonly history: MetricsHistory;
  /** Concurrent sessions allowed (default 32): each holds a timer and a socket. */
  readonly maxSessions?: number;
}

const MAX_INTERVAL_S = 3600;
const MAX_MESSAGE_CHARS = 64 * 1024;
const HOUR_MS = 3_600_000;

interface Subscription {
  readonly metrics: string[];
  readonly intervalSeconds: number;
  readonly includeHistory: boolean;
}

/** The open metrics WebSocket sessions; `closeAll()` ends them (shutdown and tests). */
export class MetricsSockets {
  readonly #history: MetricsHistory;
  readonly #max: number;
  readonly #sessions = new Map<WebSocket, ReturnType<typeof setInterval> | undefined>();

  constructor(options: MetricsSocketsOptions) {
    this.#history = options.history;
    this.#max = options.maxSessions ?? 32;
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Upgrades the request and starts a session; 400/503 JSON when it cannot. */
  handle(request: Request): Response {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return jsonResponse(400, { success: false, message: "GET /ws/metrics expects a WebSocket upgrade" });
    }
    if (this.#sessions.size >= this.#max) {
      return jsonResponse(503, {
        success: false,
        message: `Too many metrics streams open (limit ${this.#max})`,
      });
    }
    const { socket, response } = Deno.upgradeWebSocket(request);
    this.#sessions.set(socket, undefined);
    socket.onopen = () => {
      this.#send(socket, this.#snapshot());
      this.#every(socket, 1);
    };
    socket.onmessage = (event) => this.#onMessage(socket, event.data);
    socket.onclose = () => this.#end(socket);
    socket.onerror = () => this.#end(socket);
    return response;
  }

  /** Closes every session with `code` (1001 "going away" by default). */
  closeAll(code = 1001, reason = "admin listener closing"): void {
    for (const socket of [...this.#sessions.keys()]) {
      this.#end(socket);
      if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) {
        socket.close(code, reason);
      }
    }
  }

  #onMessage(socket: WebSocket, data: unknown): void {
    const parsed = parseSubscription(data);
    if (typeof parsed === "string") {
      this.#send(socket, { type: "Error", message: `Invalid subscription: ${parsed}` });
      return;
    }
    this.#every(socket, parsed.intervalSeconds);
    if (!parsed.includeHistory) return;
    const names = parsed.metrics.length > 0 ? parsed.metrics : this.#history.names();
    const end = Date.now();
    for (const name of names) {
      const points = this.#history.points(name, end - HOUR_MS, end);
      this.#send(socket, {
        type: "TimeSeries",
        metric_name: name,
        data_points: points.map((p) => ({ timestamp: new Date(p.timestamp).toISOString(), value: p.value })),
      });
    }
  }

  #every(socket: WebSocket, seconds: number): void {
    if (!this.#sessions.has(socket)) return;
    clearInterval(this.#sessions.get(socket));
    this.#sessions.set(socket, setInterval(() => this.#send(socket, this.#snapshot()), seconds * 1000));
  }

  #end(socket: WebSocket): void {
    clearInterval(this.#sessions.get(socket));
    this.#sessions.delete(socket);
  }

  #send(socket: WebSocket, message: unknown): void {
    if (socket.readyState !== WebSocket.OPEN) return;
    // A client that stops reading must not make us buffer without bound.
    if (socket.bufferedAmount > 1024 * 1024) {
      socket.close(1013, "metrics stream consumer too slow");
      return;
    }
    socket.send(JSON.stringify(message));
  }

  #snapshot() {
    const value = (name: string) => this.#history.current(name) ?? 0;
    const round = (n: number) => Math.round(n * 100) / 100;
    return {
      type: "Snapshot",
      timestamp: new Date().toISOString(),
      requests_total: value("requests_total"),
      requests_success: value("requests_success"),
      requests_error: value("requests_error"),
      active_connections: value("active_connections"),
      avg_response_time: round(value("response_time_avg")),
      success_rate: round(value("success_rate")),
    };
  }
}

/** A subscription, or why it is invalid. */
export function parseSubscription(data: unknown): Subscription | string {
  if (typeof data !== "string") return "expected a JSON text message";
  if (data.length > MAX_MESSAGE_CHARS) return `message longer than ${MAX_MESSAGE_CHARS} characters`;
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch (err) {
    return (err as Error).message;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return "expected a JSON object";
  const { metrics = [], interval_seconds = 1, include_history = false } = value as Record<string, unknown>;
  if (!Array.isArray(metrics) || !metrics.every((m) => typeof m === "string")) {
    return "metrics must be an array of metric names";
  }
  if (
    !Number.isInteger(interval_seconds) || (interval_seconds as number) < 1 ||
    (interval_seconds as number) > MAX_INTERVAL_S
  ) {
    return `interval_seconds must be an integer from 1 to ${MAX_INTERVAL_S}: got ${
      JSON.stringify(interval_seconds)
    }`;
  }
  if (typeof include_history !== "boolean") return "include_history must be true or false";
  return { metrics, intervalSeconds: interval_seconds as number, includeHistory: include_history };
}
