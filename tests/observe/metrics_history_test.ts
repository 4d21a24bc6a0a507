import assert from "node:assert/strict";
import {
  aggregatePoints,
  gatewayHistorySeries,
  type HistoryPoint,
  MetricsHistory,
} from "../../src/observe/metrics_history.ts";
import { createGatewayMetrics } from "../../src/observe/gateway_metrics.ts";
import { MetricsRegistry } from "../../src/observe/metrics_registry.ts";

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => now += ms };
}

Deno.test("MetricsHistory keeps at most `capacity` points per series, oldest dropped first", () => {
  const time = clock();
  let value = 0;
  const history = new MetricsHistory([{ name: "x", kind: "Gauge", read: () => value }], {
    capacity: 3,
    now: time.now,
  });
  for (let i = 1; i <= 5; i++) {
    value = i;
    history.sample();
    time.advance(1000);
  }
  const points = history.points("x", 0, Infinity);
  assert.deepEqual(points.map((p) => p.value), [3, 4, 5]);
  assert.deepEqual(points.map((p) => p.timestamp), [1_002_000, 1_003_000, 1_004_000]);
});

Deno.test("MetricsHistory.points() filters by time range and returns [] for an unknown name", () => {
  const time = clock(0);
  const history = new MetricsHistory([{ name: "x", kind: "Counter", read: () => time.now() }], {
    now: time.now,
  });
  for (let i = 0; i < 10; i++) {
    history.sample();
    time.advance(100);
  }
  assert.deepEqual(history.points("x", 250, 500).map((p) => p.timestamp), [300, 400, 500]);
  assert.deepEqual(history.points("nope", 0, Infinity), []);
  assert.equal(history.kind("x"), "Counter");
  assert.equal(history.kind("nope"), undefined);
});

Deno.test("MetricsHistory refuses a capacity that is not a positive integer", () => {
  assert.throws(() => new MetricsHistory([], { capacity: 0 }), RangeError);
});

Deno.test("MetricsHistory.start() samples at once and stop() releases the timer", () => {
  const history = new MetricsHistory([{ name: "x", kind: "Gauge", read: () => 7 }], { intervalMs: 60_000 });
  history.start();
  history.stop();
  assert.deepEqual(history.points("x", 0, Infinity).map((p) => p.value), [7]);
});

Deno.test("gatewayHistorySeries() reads kairos-rs's series from the gateway metrics", () => {
  const metrics = createGatewayMetrics(new MetricsRegistry());
  const history = new MetricsHistory(gatewayHistorySeries(metrics));
  metrics.requests.inc(4);
  metrics.successes.inc(3);
  metrics.errors.inc(1);
  metrics.responseTime.observe(10);
  metrics.responseTime.observe(30);
  assert.deepEqual(history.names(), [
    "active_connections",
    "requests_error",
    "requests_success",
    "requests_total",
    "response_time_avg",
    "success_rate",
  ]);
  assert.equal(history.current("requests_total"), 4);
  assert.equal(history.current("requests_error"), 1);
  assert.equal(history.current("response_time_avg"), 20);
  assert.equal(history.current("success_rate"), 75);
});

Deno.test("aggregatePoints() makes whole buckets from start, omits empty ones, drops the partial tail", async (t) => {
  const points: HistoryPoint[] = [0, 10, 20, 65, 130, 190].map((ts, i) => ({ timestamp: ts, value: i + 1 }));
  await t.step("three buckets of 60 with the middle one empty after 130", () => {
    const buckets = aggregatePoints(points, 0, 200, 60);
    assert.deepEqual(buckets, [
      { start: 0, end: 60, count: 3, sum: 6, min: 1, max: 3, avg: 2 },
      { start: 60, end: 120, count: 1, sum: 4, min: 4, max: 4, avg: 4 },
      { start: 120, end: 180, count: 1, sum: 5, min: 5, max: 5, avg: 5 },
    ]);
  });
  await t.step("a bucket that would end after `end` is dropped", () => {
    assert.deepEqual(aggregatePoints(points, 0, 119, 60).map((b) => b.start), [0]);
  });
  await t.step("points before start are ignored", () => {
    assert.deepEqual(aggregatePoints(points, 60, 200, 60).map((b) => b.count), [1, 1]);
  });
  await t.step("a huge range with few points stays cheap and empty buckets do not appear", () => {
    const buckets = aggregatePoints([{ timestamp: 1e12, value: 1 }], 0, 2e12, 1);
    assert.equal(buckets.length, 1);
  });
  await t.step("a non-positive bucket size gives nothing", () => {
    assert.deepEqual(aggregatePoints(points, 0, 200, 0), []);
  });
});
