/**
 * Whole-process reloads from the file: a change on disk is picked up by the watcher, a bad or deleted
 * file is refused while the old routes keep answering, SIGHUP rereads the file, and a long streamed
 * response started before a reload finishes on the snapshot it started with.
 */
import assert from "node:assert/strict";
import { fetchText, routeConfig, startBackend, startGateway } from "./harness.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls the admin status until `check` holds (bounded). */
async function waitForStatus(adminUrl: string, check: (status: Record<string, unknown>) => boolean) {
  let status: Record<string, unknown> = {};
  for (let i = 0; i < 100; i++) {
    status = await (await fetch(`${adminUrl}/api/config/status`)).json();
    if (check(status)) return status;
    await sleep(50);
  }
  throw new Error(`config status never matched: ${JSON.stringify(status)}`);
}

const lastReload = (s: Record<string, unknown>) =>
  s.last_reload as { result: string; trigger: string; at: string };

Deno.test("a long streamed response started before a reload completes, while new requests use the new config", async () => {
  const CHUNKS = 15;
  await using slow = startBackend(() => {
    let sent = 0;
    return new Response(
      new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (sent === CHUNKS) return controller.close();
          if (sent > 0) await sleep(100);
          controller.enqueue(new TextEncoder().encode(`chunk ${sent++}\n`));
        },
      }),
    );
  });
  await using other = startBackend(() => new Response("new config"));
  const admin = { enabled: true };
  await using gw = await startGateway(routeConfig([slow], {}, { admin }), { admin: true });

  const stream = await fetch(`${gw.url}/api/stream`);
  const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
  let received = (await reader.read()).value ?? "";
  assert.match(received, /^chunk 0/);

  const put = await fetchText(`${gw.adminUrl}/api/config`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(routeConfig([other], {}, { admin })),
  });
  assert.equal(put.status, 200, put.body);
  assert.equal((await fetchText(`${gw.url}/api/next`)).body, "new config");

  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    received += value;
  }
  assert.equal(received, Array.from({ length: CHUNKS }, (_, i) => `chunk ${i}\n`).join(""));
});

Deno.test("a bad or deleted config file is refused and the old routes keep answering; a good one is picked up", async () => {
  await using old = startBackend(() => new Response("old"));
  await using fresh = startBackend(() => new Response("fresh"));
  const admin = { enabled: true };
  await using gw = await startGateway(routeConfig([old], {}, { admin }), { admin: true });
  const answer = async () => (await fetchText(`${gw.url}/api/x`)).body;

  await Deno.writeTextFile(gw.configPath, '{"version": 1, "routers": [ garbage');
  let status = await waitForStatus(gw.adminUrl, (s) => lastReload(s).result === "failure");
  assert.equal(lastReload(status).trigger, "file");
  assert.match(JSON.stringify(status.last_reload), /Cannot parse JSON/);
  assert.equal(await answer(), "old");
  await gw.waitForOutput(/"msg":"config reload failed; keeping the running config"/);

  await Deno.writeTextFile(gw.configPath, JSON.stringify({ version: 1, routers: [] }));
  status = await waitForStatus(gw.adminUrl, (s) => JSON.stringify(s).includes("No routers configured"));
  await gw.waitForOutput(/"msg":"config problem","path":"routers"/);
  assert.equal(await answer(), "old");

  const failedAt = lastReload(status).at;
  await Deno.remove(gw.configPath);
  status = await waitForStatus(gw.adminUrl, (s) => lastReload(s).at !== failedAt);
  assert.match(JSON.stringify(status.last_reload), /not found/);
  assert.equal(await answer(), "old");
  assert.equal(status.version, 1);

  // An editor's save: write a swap file, then rename it over the config.
  await Deno.writeTextFile(`${gw.configPath}.swp`, JSON.stringify(routeConfig([fresh], {}, { admin })));
  await Deno.rename(`${gw.configPath}.swp`, gw.configPath);
  status = await waitForStatus(gw.adminUrl, (s) => s.version === 2);
  assert.deepEqual([lastReload(status).result, lastReload(status).trigger], ["success", "file"]);
  assert.equal(status.persisted, true);
  assert.equal(await answer(), "fresh");
  const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
  assert.match(metrics, /^kairos_config_reloads_total\{result="failure"\} 3$/m);
  assert.match(metrics, /^kairos_config_reloads_total\{result="success"\} 1$/m);
});

Deno.test("SIGHUP rereads the file through the same path and reports it in the status", async () => {
  await using one = startBackend(() => new Response("one"));
  await using two = startBackend(() => new Response("two"));
  const admin = { enabled: true };
  await using gw = await startGateway(routeConfig([one], {}, { admin }), {
    admin: true,
    env: { KAIROS_WATCH_CONFIG: "0" },
  });
  await Deno.writeTextFile(gw.configPath, JSON.stringify(routeConfig([two], {}, { admin })));
  await sleep(300);
  assert.equal(
    (await fetchText(`${gw.url}/api/x`)).body,
    "one",
    "no watcher: the file alone changes nothing",
  );
  gw.process.kill("SIGHUP");
  const status = await waitForStatus(gw.adminUrl, (s) => s.version === 2);
  assert.equal(lastReload(status).trigger, "signal");
  assert.equal((await fetchText(`${gw.url}/api/x`)).body, "two");
});
