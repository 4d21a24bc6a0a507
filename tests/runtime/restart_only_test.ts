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
  // Turning TLS on (or off) needs a new kind of listener; a new pair or new roots apply at once.
  const tls = { tls: { cert_file: "/etc/kairos/a.pem", key_file: "/etc/kairos/a.key" } };
  assert.deepEqual(restartOnlyChanges(before, config({ server: { port: 5900, ...tls } })), ["server.tls"]);
  assert.deepEqual(
    restartOnlyChanges(
      config({ server: { port: 5900, ...tls } }),
      config({
        server: {
          port: 5900,
          tls: { cert_file: "/etc/kairos/b.pem", key_file: "/etc/kairos/b.key" },
          upstream_ca_files: ["/etc/kairos/ca.pem"],
        },
      }),
    ),
    [],
  );
  // A new admin token or CORS origin list is read live: nothing to warn about.
  assert.deepEqual(
    restartOnlyChanges(before, config({ server: { port: 5900 }, admin: { token: "0123456789abcdef0123" } })),
    [],
  );
});
