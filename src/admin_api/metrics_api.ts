/**
 * kairos-rs's metrics history endpoints over the in-memory history:
 * `GET /api/metrics/list` → series names; `GET /api/metrics/history?name=&start=&end=[&interval=]` →
 * raw points `[{timestamp, value: {type, value}}]`, or with `interval` whole-bucket aggregates
 * `[{start_time, end_time, count, sum, min, max, avg}]`. Unlike kairos-rs, `start` and `end` may be
 * left out (the last hour).
 */
import { aggregatePoints, HISTORY_INTERVALS } from "../observe/metrics_history.ts";
import { ApiError } from "./api_error.ts";
import type { AdminApp, AdminDeps } from "./admin_context.ts";

const HOUR_MS = 3_600_000;

/** Mounts the history endpoints on `app`. */
export function mountMetricsApi(app: AdminApp, deps: AdminDeps): void {
  const { history } = deps;
  app.get("/api/metrics/list", (c) => c.json(history.names()));

  app.get("/api/metrics/history", (c) => {
    const name = c.req.query("name");
    if (name === undefined || name === "") {
      throw new ApiError(400, "Cannot read metrics history: the query parameter name is required");
    }
    const end = timeParam("end", c.req.query("end"), Date.now());
    const start = timeParam("start", c.req.query("start"), end - HOUR_MS);
    if (start > end) throw new ApiError(400, "Cannot read metrics history as start must not be after end");
    const kind = history.kind(name);
    if (kind === undefined) return c.json([]);
    const points = history.points(name, start, end);
    const interval = c.req.query("interval");
    if (interval === undefined) {
      return c.json(points.map((p) => ({
        timestamp: new Date(p.timestamp).toISOString(),
        value: { type: kind, value: p.value },
      })));
    }
    const bucketMs = HISTORY_INTERVALS[interval];
    if (bucketMs === undefined) {
      throw new ApiError(
        400,
        `Cannot aggregate metrics history as interval must be one of ${
          Object.keys(HISTORY_INTERVALS).join(", ")
        }: got ${JSON.stringify(interval)}`,
      );
    }
    return c.json(
      aggregatePoints(points, start, end, bucketMs).map((b) => ({
        start_time: new Date(b.start).toISOString(),
        end_time: new Date(b.end).toISOString(),
        count: b.count,
        sum: b.sum,
        min: b.min,
        max: b.max,
        avg: b.avg,
      })),
    );
  });
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

function timeParam(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === "") return fallback;
  // An unencoded `+00:00` offset arrives as a space (form encoding).
  value = value.replaceAll(" ", "+");
  // RFC 3339 date-time with its offset (what kairos-rs's chrono parser takes): without one, Date.parse would
  // read local time. A bare date or other forms are refused.
  const ms = RFC3339.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) {
    throw new ApiError(
      400,
      `Cannot read metrics history as ${name} must be an RFC 3339 time: got ${JSON.stringify(value)}`,
    );
  }
  return ms;
}
