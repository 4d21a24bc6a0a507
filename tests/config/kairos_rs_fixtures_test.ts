import assert from "node:assert/strict";
import { loadConfigFile } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";

const DIR = new URL("../fixtures/kairos-rs/", import.meta.url);

async function load(name: string): Promise<Config> {
  const result = await loadConfigFile(new URL(name, DIR).pathname, { env: {} });
  assert.ok(result.ok, `${name}: ${JSON.stringify(!result.ok && result.errors)}`);
  return result.config;
}

Deno.test("every kairos-rs config loads unchanged", async (t) => {
  const names = [...Deno.readDirSync(DIR)].map((e) => e.name).filter((n) => n.endsWith(".json")).sort();
  assert.equal(names.length, 9);
  for (const name of names) {
    await t.step(name, async () => {
      const result = await loadConfigFile(new URL(name, DIR).pathname, { env: {} });
      assert.ok(result.ok, JSON.stringify(!result.ok && result.errors));
      assert.equal(result.format, "json");
    });
  }
});

Deno.test("readme_example_1 maps jwt_secret, retry_config and the README rate limit", async () => {
  const config = await load("readme_example_1.json");
  assert.equal(config.jwt?.secret, "your-secret-key-here");
  const retry = config.routers[1].retry;
  assert.deepEqual(retry?.retry_on_status_codes, [502, 503, 504]);
  assert.equal(retry?.max_retries, 3);
  assert.equal(config.rate_limit?.algorithm, "token_bucket");
  assert.equal(config.rate_limit?.requests_per_window, 100);
  assert.equal(config.rate_limit?.window_ms, 1000);
  // burst_size 10 is below the 100/s rate, so it adds nothing above requests_per_window.
  assert.equal(config.rate_limit?.burst, 0);
});

Deno.test("readme_example_2 keeps health_check_path and a default weight", async () => {
  const config = await load("readme_example_2.json");
  assert.equal(config.routers[0].backends[0].health_check_path, "/health");
  assert.equal(config.routers[1].backends[0].weight, 1);
  assert.equal(config.rate_limit?.burst, 0);
});

Deno.test("config.json maps the code rate-limit dialect and legacy host/port routes", async () => {
  const config = await load("config.json");
  assert.deepEqual(config.rate_limit, {
    algorithm: "sliding_window",
    requests_per_window: 100,
    window_ms: 60000,
    burst: 20,
    key: "ip",
    enable_redis: false,
    redis_key_prefix: "kairos_rl",
  });
  assert.deepEqual(config.routers[0].backends, [{ host: "http://localhost", port: 3000, weight: 1 }]);
  assert.equal(config.routers[4].backends[0].host, "ws://localhost");
  assert.equal(config.routers[4].protocol, "websocket");
});

Deno.test("config_advanced.json drops _comment keys and maps PerIPAndRoute", async () => {
  const config = await load("config_advanced.json");
  assert.equal(config.rate_limit?.key, "ip_route");
  assert.equal(config.rate_limit?.burst, 50);
  assert.ok(!("_comment" in config.routers[0]));
  assert.equal(config.routers[2].load_balancing_strategy, "weighted");
});

Deno.test("config_multi_protocol.json loads its dns bare IPs, ftp:// host and strategy algorithm", async () => {
  const config = await load("config_multi_protocol.json");
  assert.equal(config.rate_limit?.algorithm, "sliding_window");
  assert.equal(config.rate_limit?.window_ms, 60000);
  assert.equal(config.rate_limit?.requests_per_window, 100);
  assert.equal(config.rate_limit?.burst, 50);
  assert.equal(config.routers[2].backends[0].host, "ftp://ftp.example.com");
  assert.deepEqual(config.routers[3].backends.map((b) => b.host), ["8.8.8.8", "1.1.1.1"]);
  assert.equal(config.routers[3].protocol, "dns");
});

Deno.test("config_ai_test.json keeps the ai block and ai_policy", async () => {
  const config = await load("config_ai_test.json");
  assert.equal(config.ai?.provider, "openai");
  assert.equal(config.routers[0].ai_policy?.enabled, true);
});
