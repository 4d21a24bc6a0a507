import assert from "node:assert/strict";
import { sample } from "../system/harness.ts";
import { createGatewayMetrics, NO_ROUTE } from "../../src/observe/gateway_metrics.ts";
import { MetricsRegistry } from "../../src/observe/metrics_registry.ts";

function setup() {
  const registry = new MetricsRegistry();
  return { registry, metrics: createGatewayMetrics(registry) };
}

/** The value of one sample line, or undefined when the series is absent. */

Deno.test("createGatewayMetrics() exports every unlabelled kairos-rs series from the start", () => {
  const text = setup().registry.render();
  const expected: [string, string, number][] = [
    ["kairos_requests_total", "counter", 0],
    ["kairos_requests_success_total", "counter", 0],
    ["kairos_requests_error_total", "counter", 0],
    ["kairos_http_4xx_errors_total", "counter", 0],
    ["kairos_http_5xx_errors_total", "counter", 0],
    ["kairos_timeout_errors_total", "counter", 0],
    ["kairos_connection_errors_total", "counter", 0],
    ["kairos_response_time_avg", "gauge", 0],
    ["kairos_request_bytes_total", "counter", 0],
    ["kairos_response_bytes_total", "counter", 0],
    ["kairos_success_rate", "gauge", 100],
    ["kairos_active_connections", "gauge", 0],
    ["kairos_peak_connections", "gauge", 0],
    ["kairos_http_requests_in_flight", "gauge", 0],
  ];
  for (const [name, type, value] of expected) {
    assert.ok(text.includes(`# TYPE ${name} ${type}\n`), `${name} has TYPE ${type}`);
    assert.equal(sample(text, name), value, name);
  }
  assert.ok(text.includes("# TYPE kairos_uptime_seconds counter\n"));
  assert.ok(sample(text, "kairos_uptime_seconds")! >= 0);
  assert.ok(text.includes("# TYPE kairos_response_time histogram\n"));
  assert.ok(
    text.includes('kairos_response_time_bucket{le="5000"} 0\nkairos_response_time_bucket{le="+Inf"} 0\n'),
  );
});

Deno.test("routeRecorder().record() counts a no-route 404 as 4xx under route (none), not as 5xx", () => {
  const { registry, metrics } = setup();
  metrics.routeRecorder(NO_ROUTE).record("GET", 404, 1, 0, 60);
  metrics.routeRecorder(NO_ROUTE).record("DELETE", 405, 1, 0, 60);
  const text = registry.render();
  assert.equal(sample(text, "kairos_requests_total"), 2);
  assert.equal(sample(text, "kairos_requests_error_total"), 2);
  assert.equal(sample(text, "kairos_http_4xx_errors_total"), 2);
  assert.equal(sample(text, "kairos_http_5xx_errors_total"), 0);
  assert.equal(sample(text, 'kairos_http_requests_total{route="(none)",method="GET",status_class="4xx"}'), 1);
  assert.equal(
    sample(text, 'kairos_http_requests_total{route="(none)",method="DELETE",status_class="4xx"}'),
    1,
  );
  assert.equal(sample(text, "kairos_success_rate"), 0);
});

Deno.test("requestStarted() and requestFinished() track active, in-flight and peak connections", () => {
  const { registry, metrics } = setup();
  metrics.requestStarted();
  metrics.requestStarted();
  metrics.requestFinished();
  metrics.requestStarted();
  metrics.requestFinished();
  const text = registry.render();
  assert.equal(sample(text, "kairos_active_connections"), 1);
  assert.equal(sample(text, "kairos_http_requests_in_flight"), 1);
  assert.equal(sample(text, "kairos_peak_connections"), 2);
});

Deno.test("configReload() counts results and stamps the last success", () => {
  const { registry, metrics } = setup();
  metrics.configReload("failure");
  assert.equal(sample(registry.render(), "kairos_config_last_reload_success_timestamp_seconds"), 0);
  metrics.configReload("success");
  metrics.configReload("unchanged");
  const text = registry.render();
  assert.equal(sample(text, 'kairos_config_reloads_total{result="failure"}'), 1);
  assert.equal(sample(text, 'kairos_config_reloads_total{result="success"}'), 1);
  assert.equal(sample(text, 'kairos_config_reloads_total{result="unchanged"}'), 1);
  assert.ok(sample(text, "kairos_config_last_reload_success_timestamp_seconds")! > 1_600_000_000);
});

Deno.test("removeBackend() and removeRoute() drop their series", () => {
  const { registry, metrics } = setup();
  metrics.backendRecorder("http://127.0.0.1:9101").attempt("response");
  metrics.backendRecorder("http://127.0.0.1:9102");
  metrics.routeRecorder("/gone").record("GET", 200, 1, 0, 0);
  metrics.removeBackend("http://127.0.0.1:9101");
  metrics.removeRoute("/gone");
  const text = registry.render();
  assert.ok(!text.includes("9101"));
  assert.ok(text.includes('kairos_circuit_breaker_state{service="http://127.0.0.1:9102"} 0'));
  assert.ok(!text.includes('route="/gone"'));
  assert.equal(sample(text, "kairos_requests_total"), 1, "unlabelled totals keep counting");
});

Deno.test("a removed backend's series stay gone while old requests finish, and come back when a config uses it again", () => {
  const { registry, metrics } = setup();
  const key = "http://127.0.0.1:9101";
  metrics.backendRecorder(key).attempt("response");
  metrics.removeBackend(key);
  // A request still running on the old config records a timeout against it.
  metrics.backendRecorder(key).attempt("timeout");
  metrics.backendRecorder(key).up.set(0);
  let text = registry.render();
  assert.ok(!text.includes("9101"), "no series of the removed backend");
  assert.equal(sample(text, "kairos_timeout_errors_total"), 1, "the global total still counts it");
  metrics.reviveBackends([key]);
  metrics.backendRecorder(key).attempt("response");
  text = registry.render();
  assert.equal(sample(text, `kairos_upstream_attempts_total{backend="${key}",outcome="response"}`), 1);
  assert.equal(sample(text, `kairos_backend_up{backend="${key}"}`), 1);
});
