/**
 * The V8 heap flags are part of how Kairos runs (see README, "Performance and known limits"): every task
 * that runs or compiles main.ts, and the benchmark's gateway command, must pass the same ones.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);

Deno.test("deno.json tasks, the benchmark and the README use the same --v8-flags", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))).tasks as Record<
    string,
    string
  >;
  const bench = await Deno.readTextFile(new URL("bench/run.sh", ROOT));
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  const benchFlags = /^V8_FLAGS=(\S+)$/m.exec(bench)?.[1];
  assert.ok(benchFlags, "bench/run.sh sets V8_FLAGS");
  assert.match(bench, /GATEWAY_CMD="deno run --v8-flags=\$V8_FLAGS /);
  const runners = Object.entries(tasks).filter(([, cmd]) => /deno (run|compile)\b.*main\.ts/.test(cmd));
  assert.ok(runners.length >= 8, `expected start, dev and the compile tasks; found ${runners.length}`);
  for (const [name, cmd] of runners) {
    assert.equal(/--v8-flags=(\S+)/.exec(cmd)?.[1], benchFlags, `task "${name}"`);
  }
  assert.ok(readme.includes(`--v8-flags=${benchFlags}`), "README names the flags");
});
