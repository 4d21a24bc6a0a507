/**
 * server.access_log_file: lines are appended to the file instead of stdout, SIGUSR1 reopens it after
 * logrotate moved it away, and a path that cannot be opened stops the start with a message naming it.
 */
import assert from "node:assert/strict";
import { fetchText, routeConfig, runKairos, startBackend, startGateway, until } from "./harness.ts";

function linesOf(path: string): Array<{ path: string }> {
  try {
    return Deno.readTextFileSync(path).split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
  } catch {
    return [];
  }
}

Deno.test("the access log goes to access_log_file, and SIGUSR1 reopens it after a rotation", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kairos-access-" });
  try {
    const path = `${dir}/access.log`;
    await using backend = startBackend(() => new Response("ok"));
    await using gw = await startGateway(routeConfig([backend], {}, { server: { access_log_file: path } }));
    assert.equal((await fetchText(`${gw.url}/api/first`)).status, 200);
    await until(() => linesOf(path).some((l) => l.path === "/api/first"), 5000, "the first line in the file");
    assert.doesNotMatch(gw.output(), /"path":"\/api\/first"/, "not on stdout");
    // logrotate: move the file away, then tell Kairos.
    await Deno.rename(path, `${path}.1`);
    gw.process.kill("SIGUSR1");
    await gw.waitForOutput('"msg":"access log file reopened"');
    assert.equal((await fetchText(`${gw.url}/api/second`)).status, 200);
    await until(
      () => linesOf(path).some((l) => l.path === "/api/second"),
      5000,
      "the second line in the new file",
    );
    assert.deepEqual(linesOf(`${path}.1`).map((l) => l.path), ["/api/first"]);
    assert.deepEqual(linesOf(path).map((l) => l.path), ["/api/second"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an access_log_file that cannot be opened stops the start, naming the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kairos-access-" });
  try {
    const config = `${dir}/config.json`;
    const missing = `${dir}/no/such/dir/access.log`;
    await Deno.writeTextFile(
      config,
      JSON.stringify({
        ...routeConfig([{ port: 9 }], {}, { server: { access_log_file: missing } }),
        admin: { enabled: false },
      }),
    );
    const out = await runKairos(["serve", "-c", config, "--host", "127.0.0.1", "--port", "0"]);
    const text = out.stdout + out.stderr;
    assert.equal(out.code, 1, text);
    assert.ok(text.includes(`Cannot open the access log file ${JSON.stringify(missing)}`), text);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
