/**
 * The V8 flags Kairos runs with are part of what it ships: every way of starting it carries the start task's
 * flags, and those keep allocation-site pretenuring off (bench/RESULTS.md: on the fetch client it filled the
 * old generation with requests' garbage, p99 7.1–8.2 ms against 4.6–5.1 ms without).
 */
import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url);
const read = (path: string) => Deno.readTextFile(new URL(path, root));
const flagsIn = (command: string) => /--v8-flags=([^\s`"]+)/.exec(command)?.[1];

Deno.test("the start task runs V8 without allocation-site pretenuring, and dev, compile and the README's bundle command carry the same flags", async () => {
  const tasks: Record<string, string> = JSON.parse(await read("deno.json")).tasks;
  const flags = flagsIn(tasks.start);
  assert.ok(flags?.split(",").includes("--no-allocation-site-pretenuring"), tasks.start);
  for (const [name, command] of Object.entries(tasks)) {
    if (!/\bmain\.ts\b/.test(command) || name === "bundle" || name === "test" || name === "check") continue;
    assert.equal(flagsIn(command), flags, `task ${name}`);
  }
  const bundleRun = (await read("README.md")).split("\n").find((line) =>
    /deno run --no-config .*kairos\.js/.test(line)
  );
  assert.equal(flagsIn(bundleRun ?? ""), flags, "the README's command for dist/kairos.js");
});

Deno.test("the benchmark and the profiler read the start task's V8 flags", async () => {
  const tasks: Record<string, string> = JSON.parse(await read("deno.json")).tasks;
  for (const script of ["bench/run.sh", "bench/profile.sh"]) {
    const line = (await read(script)).split("\n").find((l) => /^V8_FLAGS=/.test(l));
    assert.ok(line, `${script} sets V8_FLAGS`);
    const out = await new Deno.Command("bash", {
      args: ["-c", `unset V8_FLAGS\n${line}\nprintf %s "$V8_FLAGS"`],
      cwd: root,
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.equal(new TextDecoder().decode(out.stdout), flagsIn(tasks.start), script);
  }
});
