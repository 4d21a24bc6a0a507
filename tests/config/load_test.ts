import assert from "node:assert/strict";
import { configFormatOf, loadConfigFile, MAX_CONFIG_BYTES } from "../../src/config/load.ts";

const FIXTURES = new URL("../fixtures/config/", import.meta.url);
const fixture = (name: string) => new URL(name, FIXTURES).pathname;
const ENV = { KAIROS_ADMIN_TOKEN: "t".repeat(20), JWT_SECRET: "j".repeat(32) };

Deno.test("configFormatOf() picks YAML for .yaml and .yml, JSON otherwise", () => {
  assert.equal(configFormatOf("a.yaml"), "yaml");
  assert.equal(configFormatOf("/x/A.YML"), "yaml");
  assert.equal(configFormatOf("config.json"), "json");
  assert.equal(configFormatOf("config"), "json");
});

Deno.test("loadConfigFile() loads a full YAML config with env placeholders, warning only of unserved protocols", async () => {
  const result = await loadConfigFile(fixture("full.yaml"), { env: ENV });
  assert.ok(result.ok, JSON.stringify(!result.ok && result.errors));
  assert.deepEqual(result.warnings, [
    {
      path: "routers[1].protocol",
      message: "ftp routes are not served yet: this route is accepted and ignored",
      line: 45,
      column: 5,
    },
    {
      path: "routers[3].protocol",
      message: "dns routes are not served yet: this route is accepted and ignored",
      line: 55,
      column: 5,
    },
  ]);
  assert.equal(result.format, "yaml");
  assert.equal(result.config.admin.token, ENV.KAIROS_ADMIN_TOKEN);
  assert.deepEqual(result.config.rate_limit?.key, { composite: ["ip", "route"] });
  assert.equal(result.config.routers.length, 4);
  assert.ok(result.text.includes("routers:"));
  assert.equal((result.raw as { version: number }).version, 1);
});

Deno.test("loadConfigFile() gives YAML problems line numbers", async () => {
  const result = await loadConfigFile(fixture("bad.yaml"), { env: {} });
  assert.ok(!result.ok);
  assert.deepEqual(result.errors, [{
    path: "routers[0].backends[0].port",
    message: "expected 1-65535, got 0",
    line: 8,
    column: 9,
  }]);
  assert.deepEqual(result.warnings, [{
    path: "routers[1].timout_ms",
    message: 'unknown key "timout_ms" (did you mean "timeout_ms"?)',
    line: 12,
    column: 5,
  }]);
});

Deno.test("loadConfigFile() gives JSON problems line numbers, naming a legacy route's own port", async () => {
  const result = await loadConfigFile(fixture("typo.json"), { env: {} });
  assert.ok(!result.ok);
  assert.deepEqual(result.errors.map((e) => [e.path, e.line]), [["routers[0].port", 10]]);
  assert.deepEqual(result.warnings.map((e) => [e.path, e.line]), [["routers[0].load_balancing_stratgy", 11]]);
});

Deno.test("loadConfigFile() locates problems under kairos-rs spellings", async () => {
  const result = await loadConfigFile(fixture("backoff.json"), { env: {} });
  assert.ok(!result.ok);
  assert.deepEqual(result.errors.map((e) => [e.path, e.line]), [[
    "routers[0].retry_config.base_delay_ms",
    12,
  ]]);
  assert.deepEqual(result.warnings.map((e) => [e.path, e.line]), [["jwt_secret", 3]]);
});

Deno.test("loadConfigFile() reports syntax errors with line and column", async (t) => {
  await t.step("JSON", async () => {
    const result = await loadConfigFile(fixture("syntax_error.json"));
    assert.ok(!result.ok);
    assert.equal(result.errors.length, 1);
    assert.equal(result.errors[0].path, "");
    assert.equal(result.errors[0].line, 4);
    assert.equal(result.errors[0].column, 29);
    assert.match(result.errors[0].message, /^Cannot parse JSON: /);
    assert.equal(result.raw, undefined);
  });
  await t.step("YAML", async () => {
    const result = await loadConfigFile(fixture("syntax_error.yaml"));
    assert.ok(!result.ok);
    assert.match(result.errors[0].message, /^Cannot parse YAML: /);
    assert.equal(typeof result.errors[0].line, "number");
  });
});

Deno.test("loadConfigFile() reports a missing file without throwing", async () => {
  const result = await loadConfigFile("/nonexistent/kairos/x.json");
  assert.ok(!result.ok);
  assert.deepEqual(result.errors, [{
    path: "",
    message: 'Cannot read config file "/nonexistent/kairos/x.json": not found',
  }]);
  assert.equal(result.text, "");
});

Deno.test("loadConfigFile() rejects directories, oversized files and invalid UTF-8", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kairos_config_test_" });
  try {
    const big = `${dir}/big.json`;
    await Deno.writeFile(big, new Uint8Array(MAX_CONFIG_BYTES + 1));
    const tooBig = await loadConfigFile(big);
    assert.ok(!tooBig.ok);
    assert.match(tooBig.errors[0].message, /above the limit of 10485760 bytes \(10 MiB\)/);

    const binary = `${dir}/bin.yaml`;
    await Deno.writeFile(binary, new Uint8Array([0xff, 0xfe, 0x00]));
    const notText = await loadConfigFile(binary);
    assert.ok(!notText.ok);
    assert.match(notText.errors[0].message, /not valid UTF-8/);
    assert.equal(notText.format, "yaml");

    const asDir = await loadConfigFile(dir);
    assert.ok(!asDir.ok);
    assert.match(asDir.errors[0].message, /not a regular file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadConfigFile() reads a YAML .yml file with anchors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kairos_config_test_" });
  try {
    const path = `${dir}/c.yml`;
    await Deno.writeTextFile(
      path,
      [
        "backend: &b { host: http://127.0.0.1, port: 8080 }",
        "routers:",
        "  - { external_path: /a, internal_path: /a, methods: [GET], backends: [*b] }",
        "  - { external_path: /b, internal_path: /b, methods: [GET], backends: [*b] }",
      ].join("\n"),
    );
    const result = await loadConfigFile(path, { env: {} });
    // "backend" is not a config key: it warns, and the anchors still resolve.
    assert.ok(result.ok, JSON.stringify(!result.ok && result.errors));
    assert.deepEqual(result.warnings.map((w) => [w.path, w.line]), [["backend", 1]]);
    assert.equal(result.config.routers[1].backends[0].port, 8080);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
