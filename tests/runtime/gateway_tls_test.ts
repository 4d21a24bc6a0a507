import assert from "node:assert/strict";
import type { Config } from "../../src/config/schema.ts";
import { validateConfig } from "../../src/config/validate.ts";
import { createLogger } from "../../src/observe/logger.ts";
import { Gateway } from "../../src/runtime/gateway.ts";

const FIRST_CERT = new URL("../upstream/http1/fixtures/tls_cert.pem", import.meta.url).pathname;
const SECOND_CERT = new URL("../fixtures/tls/second_cert.pem", import.meta.url).pathname;

function config(server: Record<string, unknown>): Config {
  const result = validateConfig({
    version: 1,
    server,
    routers: [{
      external_path: "/a",
      internal_path: "/a",
      methods: ["GET"],
      backends: [{ host: "https://127.0.0.1", port: 9443 }],
    }],
  });
  assert.ok(result.ok, JSON.stringify(!result.ok && result.errors));
  return result.config;
}

function gateway(server: Record<string, unknown>): Gateway {
  return new Gateway({
    config: config(server),
    host: "127.0.0.1",
    port: 0,
    logger: createLogger({ level: "error", format: "json", write: () => {} }),
  });
}

Deno.test("new Gateway() refuses TLS files it cannot use, naming the field and the file", () => {
  assert.throws(
    () => gateway({ upstream_ca_files: ["/nonexistent/ca.pem"] }),
    /server\.upstream_ca_files\[0\]: cannot read "\/nonexistent\/ca\.pem": not found/,
  );
});

Deno.test("apply() rereads the CA files: new contents are a change, an unreadable file fails the reload", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kairos-gateway-tls-" });
  const ca = `${dir}/ca.pem`;
  await Deno.copyFile(FIRST_CERT, ca);
  const gw = gateway({ upstream_ca_files: [ca] });
  try {
    const same = config({ upstream_ca_files: [ca] });
    assert.deepEqual(gw.apply(same), { ok: true, version: 1, changed: false, errors: [] });
    // The config text is the same; the file behind it is not (a renewed CA bundle).
    await Deno.copyFile(SECOND_CERT, ca);
    assert.deepEqual(gw.apply(same), { ok: true, version: 2, changed: true, errors: [] });
    await Deno.remove(ca);
    const failed = gw.apply(same);
    assert.equal(failed.ok, false);
    assert.equal(failed.version, 2);
    assert.deepEqual(failed.errors, [
      { path: "server.upstream_ca_files[0]", message: `cannot read "${ca}": not found` },
    ]);
    assert.equal(gw.snapshot.version, 2);
  } finally {
    gw.close();
    await Deno.remove(dir, { recursive: true });
  }
});
