/**
 * The single-artifact path: `deno bundle --platform deno` makes one JS file that validates and serves
 * with `deno run --no-config` (no deno.json, no import map), as the compiled binary would.
 */
import assert from "node:assert/strict";
import { fetchText, freePort } from "./harness.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("the bundled gateway validates and serves the bundled config on its own", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kairos-bundle-" });
  try {
    const out = `${dir}/kairos.js`;
    const bundle = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--platform", "deno", "-o", out, `${ROOT}main.ts`],
      cwd: ROOT,
      env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
      stdin: "null",
    }).output();
    assert.equal(bundle.code, 0, new TextDecoder().decode(bundle.stderr));

    const run = (args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "--no-config", "--unstable-net", "--unstable-no-legacy-abort", "-A", out, ...args],
        cwd: dir,
        env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      });
    const validate = await run(["validate", "-c", `${ROOT}config.json`]).output();
    assert.equal(validate.code, 0, new TextDecoder().decode(validate.stderr));

    const port = freePort();
    const config = JSON.parse(await Deno.readTextFile(`${ROOT}config.json`));
    config.admin = { enabled: false };
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
    const server = run(["serve", "-c", `${dir}/config.json`, "--host", "127.0.0.1", "--port", String(port)])
      .spawn();
    try {
      let health: { status: number; body: string } | undefined;
      for (let i = 0; i < 100 && !health; i++) {
        health = await fetchText(`http://127.0.0.1:${port}/health`).catch(() => undefined);
        if (!health) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(health?.status, 200);
      assert.equal(JSON.parse(health!.body).status, "healthy");
    } finally {
      server.kill("SIGTERM");
      await server.output();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
