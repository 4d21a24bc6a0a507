import assert from "node:assert/strict";
import { summarizeConfig } from "../../src/config/summary.ts";
import { validateConfig } from "../../src/config/validate.ts";
import { configWithRoutes } from "./base_config.ts";

Deno.test("summarizeConfig() lists routes by protocol, backends, policies and the admin listener", () => {
  const result = validateConfig(
    configWithRoutes([
      { auth_required: true, retry: {} },
      {
        external_path: "/ws",
        internal_path: "/ws",
        protocol: "websocket",
        backends: [{ host: "ws://a", port: 1 }, { host: "ws://b", port: 1 }],
      },
    ], {
      jwt: { secret: "x".repeat(32) },
      rate_limit: {
        strategy: "PerIP",
        requests_per_window: 5,
        window_duration: 1,
        burst_allowance: 2,
        window_type: "FixedWindow",
      },
      admin: { host: "0.0.0.0", token: "t".repeat(16) },
    }),
    { env: {} },
  );
  assert.ok(result.ok, JSON.stringify(!result.ok && result.errors));
  const text = summarizeConfig(result.config);
  const lines = text.split("\n");
  assert.equal(lines[0], "2 routes (1 http, 1 websocket)");
  assert.equal(lines[1], "  GET  /api/{id} → /v1/{id} @ http://127.0.0.1:8080 [auth, retry 3]");
  assert.equal(lines[2], "  GET  /ws → /ws @ 2 backends (round_robin)");
  assert.equal(lines[3], "Backends: 3 distinct");
  assert.match(text, /jwt on \(secret\)/);
  assert.match(text, /rate limit \(fixed_window, 5 per 1000 ms \+ 2 burst, key ip\)/);
  assert.match(text, /cors off/);
  assert.match(text, /^Admin: 0\.0\.0\.0:5901, token set$/m);
});

Deno.test("summarizeConfig() names the certificate of an HTTPS listener and counts upstream CA files", () => {
  const result = validateConfig(
    configWithRoutes([{}], {
      server: {
        port: 443,
        tls: { cert_file: "/etc/kairos/fullchain.pem", key_file: "/etc/kairos/privkey.pem" },
        upstream_ca_files: ["/etc/kairos/ca.pem"],
      },
    }),
    { env: {} },
  );
  assert.ok(result.ok, JSON.stringify(!result.ok && result.errors));
  assert.match(
    summarizeConfig(result.config),
    /^Server: \(default host\):443, HTTPS with "\/etc\/kairos\/fullchain\.pem", upstream client http1, 1 upstream CA file$/m,
  );
});
