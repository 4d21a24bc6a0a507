import assert from "node:assert/strict";
import { sample } from "../system/harness.ts";
import { outcomeOf } from "../../src/observe/backend_recorder.ts";
import { createGatewayMetrics } from "../../src/observe/gateway_metrics.ts";
import { MetricsRegistry } from "../../src/observe/metrics_registry.ts";

const KEY = "http://127.0.0.1:9101";

Deno.test("backendRecorder() exports kairos-rs breaker series and health from the start", () => {
  const registry = new MetricsRegistry();
  createGatewayMetrics(registry).backendRecorder(KEY);
  const text = registry.render();
  assert.equal(sample(text, `kairos_circuit_breaker_state{service="${KEY}"}`), 0);
  assert.equal(sample(text, `kairos_circuit_breaker_failures{service="${KEY}"}`), 0);
  assert.equal(sample(text, `kairos_circuit_breaker_successes{service="${KEY}"}`), 0);
  assert.equal(sample(text, `kairos_backend_up{backend="${KEY}"}`), 1);
});

Deno.test("attempt() counts outcomes and feeds the kairos-rs timeout and connection totals", () => {
  const registry = new MetricsRegistry();
  const metrics = createGatewayMetrics(registry);
  const rec = metrics.backendRecorder(KEY);
  assert.equal(metrics.backendRecorder(KEY), rec, "the recorder is cached by key");
  rec.attempt("response");
  rec.attempt("timeout");
  rec.attempt("connect_error");
  rec.attempt("connect_error");
  rec.attempt("protocol_error");
  const text = registry.render();
  const b = `backend="${KEY}"`;
  assert.equal(sample(text, `kairos_upstream_attempts_total{${b},outcome="response"}`), 1);
  assert.equal(sample(text, `kairos_upstream_attempts_total{${b},outcome="timeout"}`), 1);
  assert.equal(sample(text, `kairos_upstream_attempts_total{${b},outcome="connect_error"}`), 2);
  assert.equal(sample(text, `kairos_upstream_attempts_total{${b},outcome="protocol_error"}`), 1);
  assert.equal(sample(text, `kairos_upstream_timeouts_total{${b}}`), 1);
  assert.equal(sample(text, `kairos_upstream_connection_errors_total{${b}}`), 2);
  assert.equal(sample(text, "kairos_timeout_errors_total"), 1);
  assert.equal(sample(text, "kairos_connection_errors_total"), 2);
});

Deno.test("breakerState(), setUp() and the pool children update their series", () => {
  const registry = new MetricsRegistry();
  const rec = createGatewayMetrics(registry).backendRecorder(KEY);
  const b = `backend="${KEY}"`;
  for (const [state, code] of [["open", 1], ["half_open", 2], ["closed", 0]] as const) {
    rec.breakerState(state);
    assert.equal(sample(registry.render(), `kairos_circuit_breaker_state{service="${KEY}"}`), code, state);
  }
  rec.setUp(false);
  rec.breakerFailures.inc();
  rec.inFlight.inc();
  rec.idleConnections.set(3);
  rec.activeConnections.set(2);
  rec.connects.inc();
  rec.reuses.inc(4);
  rec.poolWaits.inc();
  const text = registry.render();
  assert.equal(sample(text, `kairos_backend_up{${b}}`), 0);
  assert.equal(sample(text, `kairos_circuit_breaker_failures{service="${KEY}"}`), 1);
  assert.equal(sample(text, `kairos_backend_in_flight{${b}}`), 1);
  assert.equal(sample(text, `kairos_upstream_connections{${b},state="idle"}`), 3);
  assert.equal(sample(text, `kairos_upstream_connections{${b},state="active"}`), 2);
  assert.equal(sample(text, `kairos_upstream_connects_total{${b}}`), 1);
  assert.equal(sample(text, `kairos_upstream_reuses_total{${b}}`), 4);
  assert.equal(sample(text, `kairos_upstream_pool_waits_total{${b}}`), 1);
});

Deno.test("outcomeOf() maps upstream error kinds to outcome labels", async (t) => {
  const cases = [
    ["connect", "connect_error"],
    ["connect_timeout", "timeout"],
    ["timeout", "timeout"],
    ["protocol", "protocol_error"],
    ["reset", "protocol_error"],
    ["aborted", undefined],
  ] as const;
  for (const [kind, outcome] of cases) {
    await t.step(`${kind} → ${outcome}`, () => assert.equal(outcomeOf(kind), outcome));
  }
});
