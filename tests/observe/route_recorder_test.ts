import assert from "node:assert/strict";
import { sample } from "../system/harness.ts";
import { createGatewayMetrics, NO_ROUTE } from "../../src/observe/gateway_metrics.ts";
import { MetricsRegistry } from "../../src/observe/metrics_registry.ts";

function setup() {
  const registry = new MetricsRegistry();
  return { registry, metrics: createGatewayMetrics(registry) };
}

Deno.test("routeRecorder().record() updates kairos-rs and labelled series together", () => {
  const { registry, metrics } = setup();
  const rec = metrics.routeRecorder("/api/users/{id}");
  rec.record("GET", 200, 50, 10, 100);
  rec.record("GET", 201, 700, 20, 200);
  rec.record("POST", 502, 6000, 30, 300);
  const text = registry.render();
  assert.equal(sample(text, "kairos_requests_total"), 3);
  assert.equal(sample(text, "kairos_requests_success_total"), 2);
  assert.equal(sample(text, "kairos_http_5xx_errors_total"), 1);
  assert.equal(sample(text, "kairos_success_rate"), 66.67);
  assert.equal(sample(text, "kairos_response_time_avg"), 2250);
  assert.equal(sample(text, "kairos_request_bytes_total"), 60);
  assert.equal(sample(text, "kairos_response_bytes_total"), 600);
  // kairos-rs's +Inf bucket counted only > 5000 ms; ours is cumulative.
  assert.equal(sample(text, 'kairos_response_time_bucket{le="100"}'), 1);
  assert.equal(sample(text, 'kairos_response_time_bucket{le="1000"}'), 2);
  assert.equal(sample(text, 'kairos_response_time_bucket{le="5000"}'), 2);
  assert.equal(sample(text, 'kairos_response_time_bucket{le="+Inf"}'), 3);
  assert.equal(sample(text, "kairos_response_time_sum"), 6750);
  assert.equal(sample(text, "kairos_response_time_count"), 3);
  const r = 'route="/api/users/{id}"';
  assert.equal(sample(text, `kairos_http_requests_total{${r},method="GET",status_class="2xx"}`), 2);
  assert.equal(sample(text, `kairos_http_requests_total{${r},method="POST",status_class="5xx"}`), 1);
  assert.equal(sample(text, `kairos_http_request_duration_seconds_bucket{${r},le="0.05"}`), 1);
  assert.equal(sample(text, `kairos_http_request_duration_seconds_bucket{${r},le="10"}`), 3);
  assert.equal(sample(text, `kairos_http_request_duration_seconds_count{${r}}`), 3);
  assert.equal(sample(text, `kairos_http_request_bytes_total{${r}}`), 60);
  assert.equal(sample(text, `kairos_http_response_bytes_total{${r}}`), 600);
});

Deno.test("routeRecorder() maps unknown methods to OTHER so clients cannot add series", () => {
  const { registry, metrics } = setup();
  const rec = metrics.routeRecorder(NO_ROUTE);
  for (let i = 0; i < 5; i++) rec.record(`M${i}`, 404, 1, 0, 0);
  const text = registry.render();
  assert.equal(
    sample(text, 'kairos_http_requests_total{route="(none)",method="OTHER",status_class="4xx"}'),
    5,
  );
  assert.ok(!text.includes('method="M'));
});

Deno.test("routeRecorder() is cached per route and counts retries, rate limiting and auth failures", () => {
  const { registry, metrics } = setup();
  const rec = metrics.routeRecorder("/a");
  assert.equal(metrics.routeRecorder("/a"), rec);
  rec.retry();
  rec.rateLimited();
  rec.authFailure("expired");
  rec.authFailure("expired");
  const text = registry.render();
  assert.equal(sample(text, 'kairos_upstream_retries_total{route="/a"}'), 1);
  assert.equal(sample(text, 'kairos_rate_limited_total{route="/a"}'), 1);
  assert.equal(sample(text, 'kairos_auth_failures_total{route="/a",reason="expired"}'), 2);
});
