import assert from "node:assert/strict";
import { validateConfig } from "../../src/config/validate.ts";
import type { Config } from "../../src/config/schema.ts";
import { restartOnlyChanges } from "../../src/runtime/gateway.ts";

function config(extra: Record<string, unknown> = {}): Config {
  const result = validateConfig({
    version: 1,
    routers: [{
      external_path: "/a",
      internal_path: "/a",
      methods: ["GET"],
      backends: [{ host: "http://127.0.0.1", port: 9001 }],
    }],
    ...extra,
  });
  assert.ok(result.ok, JSON.stringify(!result.ok && result.errors));
  return result.config;
}

Deno.test("restartOnlyChanges() names the listener and process settings a reload cannot apply", () => {
  const before = config({ server: { port: 5900 } });
  assert.deepEqual(restartOnlyChanges(before, config({ server: { port: 5900 } })), []);
  assert.deepEqual(
    restartOnlyChanges(
      before,
      config({ server: { port: 6000, workers: 2, upstream_client: "fetch" }, admin: { port: 7000 } }),
    ),
    ["server.port", "server.workers", "server.upstream_client", "admin.port"],
  );
  // A new admin token or CORS origin list is read live: nothing to warn about.
  assert.deepEqual(
    restartOnlyChanges(before, config({ server: { port: 5900 }, admin: { token: "0123456789abcdef0123" } })),
    [],
  );
});
