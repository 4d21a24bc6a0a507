import assert from "node:assert/strict";
import { MetricsSockets, parseSubscription } from "../../src/admin_api/metrics_socket.ts";
import { MetricsHistory } from "../../src/observe/metrics_history.ts";

Deno.test("parseSubscription() takes kairos-rs's subscription and explains what is wrong", async (t) => {
  for (
    const [input, expected] of [
      ["{}", { metrics: [], intervalSeconds: 1, includeHistory: false }],
      ['{"metrics":["requests_total"],"interval_seconds":5,"include_history":true}', {
        metrics: ["requests_total"],
        intervalSeconds: 5,
        includeHistory: true,
      }],
      ['{"interval_seconds":0}', /interval_seconds must be an integer from 1 to 3600: got 0/],
      ['{"interval_seconds":1.5}', /interval_seconds/],
      ['{"interval_seconds":"5"}', /interval_seconds/],
      ['{"metrics":"all"}', /metrics must be an array/],
      ['{"include_history":1}', /include_history/],
      ["[]", /expected a JSON object/],
      ["{oops", /JSON/],
    ] as const
  ) {
    await t.step(input, () => {
      const result = parseSubscription(input);
      if (expected instanceof RegExp) assert.match(result as string, expected);
      else assert.deepEqual(result, expected);
    });
  }
});

async function session(fn: (ws: WebSocket, next: () => Promise<Record<string, unknown>>) => Promise<void>) {
  let value = 0;
  const history = new MetricsHistory([
    { name: "requests_total", kind: "Counter", read: () => value++ },
    { name: "active_connections", kind: "Gauge", read: () => 0 },
  ]);
  history.sample();
  const sockets = new MetricsSockets({ history });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => sockets.handle(req));
  const ws = new WebSocket(`ws://127.0.0.1:${server.addr.port}/ws/metrics`);
  const queue: Record<string, unknown>[] = [];
  const waiters: Array<(m: Record<string, unknown>) => void> = [];
  ws.onmessage = (e) => {
    const message = JSON.parse(e.data);
    const waiter = waiters.shift();
    if (waiter) waiter(message);
    else queue.push(message);
  };
  const closed = new Promise((resolve) => ws.onclose = resolve);
  const next = () =>
    queue.length > 0
      ? Promise.resolve(queue.shift()!)
      : new Promise<Record<string, unknown>>((r) => waiters.push(r));
  try {
    await fn(ws, next);
  } finally {
    sockets.closeAll();
    await closed;
    await server.shutdown();
  }
}

Deno.test("/ws/metrics sends a Snapshot at once and answers a bad subscription with an Error, then keeps going", async () => {
  await session(async (ws, next) => {
    const first = await next();
    assert.equal(first.type, "Snapshot");
    for (
      const key of [
        "timestamp",
        "requests_total",
        "requests_success",
        "requests_error",
        "active_connections",
        "avg_response_time",
        "success_rate",
      ]
    ) assert.ok(key in first, key);
    ws.send('{"interval_seconds":0}');
    const error = await next();
    assert.equal(error.type, "Error");
    assert.match(error.message as string, /^Invalid subscription: interval_seconds/);
    ws.send("not json");
    assert.equal((await next()).type, "Error");
    // The session survived both: the 1 s snapshots keep coming.
    assert.equal((await next()).type, "Snapshot");
  });
});

Deno.test("/ws/metrics sends one TimeSeries per metric when a subscription asks for history", async () => {
  await session(async (ws, next) => {
    await next();
    ws.send('{"metrics":["requests_total","nope"],"interval_seconds":60,"include_history":true}');
    const series = await next();
    assert.equal(series.type, "TimeSeries");
    assert.equal(series.metric_name, "requests_total");
    assert.equal((series.data_points as unknown[]).length, 1);
    const unknown = await next();
    assert.deepEqual([unknown.metric_name, unknown.data_points], ["nope", []]);
  });
});

Deno.test("/ws/metrics refuses a plain GET with 400", async () => {
  const sockets = new MetricsSockets({ history: new MetricsHistory([]) });
  const res = sockets.handle(new Request("http://127.0.0.1/ws/metrics"));
  assert.equal(res.status, 400);
  await res.body?.cancel();
});
