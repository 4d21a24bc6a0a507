/**
 * An in-memory history of a few gateway series, sampled every few seconds into fixed-size rings, for
 * kairos-rs's `/api/metrics/history` and `/ws/metrics`. Memory is bounded by `capacity` per series
 * (16 bytes a point: 17,280 points = 24 h at 5 s ≈ 270 KiB per series).
 */
import type { GatewayMetrics } from "./gateway_metrics.ts";

/** kairos-rs's `MetricValue` type tag. */
export type HistoryKind = "Counter" | "Gauge";

/** One sampled series: its kairos-rs name, type tag and how to read its current value. */
export interface HistorySeries {
  readonly name: string;
  readonly kind: HistoryKind;
  readonly read: () => number;
}

/** One stored sample; `timestamp` in Unix milliseconds. */
export interface HistoryPoint {
  readonly timestamp: number;
  readonly value: number;
}

/** One aggregation bucket of kairos-rs's `interval` form; times in Unix milliseconds. */
export interface HistoryBucket {
  readonly start: number;
  readonly end: number;
  readonly count: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
  readonly avg: number;
}

export interface MetricsHistoryOptions {
  /** Points kept per series (default 17,280: 24 h at 5 s, kairos-rs's retention). */
  readonly capacity?: number;
  /** Sampling period in ms (default 5000, like kairos-rs's background task). */
  readonly intervalMs?: number;
  readonly now?: () => number;
}

/** kairos-rs's `interval` query values, in milliseconds. */
export const HISTORY_INTERVALS: Readonly<Record<string, number>> = {
  one_minute: 60_000,
  five_minutes: 300_000,
  one_hour: 3_600_000,
  one_day: 86_400_000,
};

/** The series kairos-rs samples (plus success counts and rate), read from the gateway's metrics. */
export function gatewayHistorySeries(metrics: GatewayMetrics): HistorySeries[] {
  const successRate = () => {
    const total = metrics.requests.value;
    return total === 0 ? 100 : (metrics.successes.value / total) * 100;
  };
  const avgMs = () => {
    const h = metrics.responseTime;
    return h.count === 0 ? 0 : h.sum / h.count;
  };
  return [
    { name: "requests_total", kind: "Counter", read: () => metrics.requests.value },
    { name: "requests_success", kind: "Counter", read: () => metrics.successes.value },
    { name: "requests_error", kind: "Counter", read: () => metrics.errors.value },
    { name: "active_connections", kind: "Gauge", read: () => metrics.activeConnections.value },
    { name: "response_time_avg", kind: "Gauge", read: avgMs },
    { name: "success_rate", kind: "Gauge", read: successRate },
  ];
}

/** A fixed-capacity ring of (time, value) pairs, oldest overwritten first. */
class Ring {
  readonly times: Float64Array;
  readonly values: Float64Array;
  next = 0;
  size = 0;

  constructor(capacity: number) {
    this.times = new Float64Array(capacity);
    this.values = new Float64Array(capacity);
  }

  push(time: number, value: number): void {
    this.times[this.next] = time;
    this.values[this.next] = value;
    this.next = (this.next + 1) % this.times.length;
    if (this.size < this.times.length) this.size++;
  }

  /** Points with start <= time <= end, oldest first. */
  range(start: number, end: number): HistoryPoint[] {
    const out: HistoryPoint[] = [];
    const capacity = this.times.length;
    const first = (this.next - this.size + capacity) % capacity;
    for (let i = 0; i < this.size; i++) {
      const at = (first + i) % capacity;
      const time = this.times[at];
      if (time >= start && time <= end) out.push({ timestamp: time, value: this.values[at] });
    }
    return out;
  }
}

/** Samples its series on a timer into bounded rings; `stop()` releases the timer. */
export class MetricsHistory {
  readonly intervalMs: number;
  readonly #series: ReadonlyMap<string, { series: HistorySeries; ring: Ring }>;
  readonly #now: () => number;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(series: readonly HistorySeries[], options: MetricsHistoryOptions = {}) {
    const capacity = options.capacity ?? 17_280;
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(
        `Cannot keep metrics history as capacity must be a positive integer: got ${capacity}`,
      );
    }
    this.intervalMs = options.intervalMs ?? 5000;
    this.#now = options.now ?? Date.now;
    this.#series = new Map(series.map((s) => [s.name, { series: s, ring: new Ring(capacity) }]));
  }

  /** Takes one sample now and then one every `intervalMs` until `stop()`. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.sample();
    const timer = setInterval(() => this.sample(), this.intervalMs);
    // The sampler alone must not keep the process alive.
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Records the current value of every series. */
  sample(): void {
    const now = this.#now();
    for (const { series, ring } of this.#series.values()) ring.push(now, series.read());
  }

  /** The series names, sorted. */
  names(): string[] {
    return [...this.#series.keys()].sort();
  }

  /** The type tag of a series, or undefined for an unknown name. */
  kind(name: string): HistoryKind | undefined {
    return this.#series.get(name)?.series.kind;
  }

  /** The current (unsampled) value of a series. */
  current(name: string): number | undefined {
    return this.#series.get(name)?.series.read();
  }

  /** Stored points of `name` within [start, end] (ms), oldest first; [] for an unknown name. */
  points(name: string, start: number, end: number): HistoryPoint[] {
    return this.#series.get(name)?.ring.range(start, end) ?? [];
  }
}

/**
 * Groups points into whole buckets of `bucketMs` from `start`, like kairos-rs: a bucket that would end
 * after `end` (the trailing partial one) is dropped and empty buckets are omitted.
 */
export function aggregatePoints(
  points: readonly HistoryPoint[],
  start: number,
  end: number,
  bucketMs: number,
): HistoryBucket[] {
  const out: HistoryBucket[] = [];
  if (!(bucketMs > 0)) return out;
  // Walk the points, not the buckets, so a wide range with few points costs nothing.
  let i = 0;
  while (i < points.length && points[i].timestamp < start) i++;
  while (i < points.length) {
    const from = start + Math.floor((points[i].timestamp - start) / bucketMs) * bucketMs;
    const to = from + bucketMs;
    if (to > end) break;
    let count = 0, sum = 0, min = Infinity, max = -Infinity;
    for (; i < points.length && points[i].timestamp < to; i++) {
      const v = points[i].value;
      count++;
      sum += v;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    out.push({ start: from, end: to, count, sum, min, max, avg: sum / count });
  }
  return out;
}
