import assert from "node:assert/strict";
import type { Config } from "../../src/config/schema.ts";
import { validateConfig } from "../../src/config/validate.ts";
import { createLogger } from "../../src/observe/logger.ts";
import { Gateway } from "../../src/runtime/gateway.ts";

function config(ports: number[]): Config {
  const result = validateConfig({
    version: 1,
    routers: [{
      external_path: "/a",
      internal_path: "/a",
      methods: ["GET"],
      backends: ports.map((port) => ({ host: "http://127.0.0.1", port })),
    }],
  });
  assert.ok(result.ok, JSON.stringify(!result.ok && result.errors));
  return result.config;
}

Deno.test("a reload that drops a backend drops its series, and one that brings it back exports it again", () => {
  const gateway = new Gateway({
    config: config([9001, 9002]),
    host: "127.0.0.1",
    port: 0,
    logger: createLogger({ level: "error", format: "json", write: () => {} }),
  });
  try {
    assert.match(gateway.renderMetrics(), /kairos_backend_up\{backend="http:\/\/127\.0\.0\.1:9002"\} 1/);
    assert.ok(gateway.apply(config([9001])).ok);
    // A request still running on the old config records against the removed backend.
    gateway.metrics.backendRecorder("http://127.0.0.1:9002").attempt("timeout");
    const without = gateway.renderMetrics();
    assert.doesNotMatch(without, /9002/);
    assert.match(without, /kairos_backend_up\{backend="http:\/\/127\.0\.0\.1:9001"\} 1/);
    assert.ok(gateway.apply(config([9001, 9002])).ok);
    assert.match(gateway.renderMetrics(), /kairos_backend_up\{backend="http:\/\/127\.0\.0\.1:9002"\} 1/);
  } finally {
    gateway.close();
  }
});
