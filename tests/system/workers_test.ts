/**
 * `--workers N`: N processes share the port with SO_REUSEPORT. The first one hands every config to the
 * others (admin API edits included, before it answers), merges their metrics, restarts one that dies,
 * and stops them with itself; a worker whose first process was killed stops on its own.
 */
import assert from "node:assert/strict";
import { fetchText, routeConfig, startBackend, startGateway, workerPids } from "./harness.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const linuxOnly = { ignore: Deno.build.os !== "linux" };

/** `count` requests, each on a new connection, so the kernel spreads them over the workers. */
async function freshRequests(url: string, count: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) {
    const res = await fetchText(url, { headers: { connection: "close" } });
    statuses.push(res.status);
  }
  return statuses;
}

/** Requests per worker from the merged `kairos_requests_total{worker="N"}` samples. */
function requestsByWorker(metrics: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of metrics.matchAll(/^kairos_requests_total\{worker="(\d+)"\} (\d+)$/gm)) {
    counts.set(m[1], Number(m[2]));
  }
  return counts;
}

async function gone(pid: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    try {
      const status = await Deno.readTextFile(`/proc/${pid}/status`);
      if (/^State:\s+Z/m.test(status)) return true; // exited, waiting to be reaped
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

Deno.test({
  name: "two workers share the port, and /metrics on either one shows both",
  ...linuxOnly,
  fn: async () => {
    await using backend = startBackend(() => new Response("ok"));
    await using gw = await startGateway(routeConfig([backend]), { args: ["--workers", "2"] });
    await gw.waitForOutput(/"msg":"listening","worker":1/);
    const statuses = await freshRequests(`${gw.url}/api/x`, 40);
    assert.deepEqual(statuses, Array(40).fill(200));
    // Each scrape lands on either process; both answer with everyone's series.
    for (let i = 0; i < 4; i++) {
      const metrics = await fetchText(`${gw.url}/metrics`, { headers: { connection: "close" } });
      assert.equal(metrics.status, 200);
      const counts = requestsByWorker(metrics.body);
      assert.deepEqual([...counts.keys()].sort(), ["0", "1"], metrics.body.slice(0, 400));
      assert.ok([...counts.values()].every((n) => n > 0), `both workers served: ${[...counts]}`);
      // /metrics itself is not a proxied request, so the total stays at 40.
      assert.equal([...counts.values()].reduce((a, b) => a + b), 40, "each request counted once");
      assert.equal(metrics.body.match(/^# TYPE kairos_requests_total /gm)?.length, 1);
    }
    const [pid] = workerPids(gw.output());
    // `pkill -HUP kairos` reaches the workers too: they ignore it (worker 0 reloads and hands the config on).
    Deno.kill(pid, "SIGHUP");
    await gw.waitForOutput(/"msg":"SIGHUP ignored/);
    assert.equal(await gone(pid, 300), false, "a worker survives SIGHUP");
    assert.equal(await gw.stop(), 0);
    assert.ok(await gone(pid, 5000), "the worker stopped with the first process");
  },
});

Deno.test({
  name: "a route added through the admin API answers on every worker when the API replies",
  ...linuxOnly,
  fn: async () => {
    await using users = startBackend(() => new Response("users"));
    await using orders = startBackend(() => new Response("orders"));
    await using gw = await startGateway(routeConfig([users]), { admin: true, args: ["--workers", "3"] });
    await gw.waitForOutput(/"msg":"listening","worker":2/);
    await gw.waitForOutput(/"msg":"listening","worker":1/);
    const created = await fetchText(`${gw.adminUrl}/api/routes`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        external_path: "/orders/{id}",
        internal_path: "/orders/{id}",
        methods: ["GET"],
        backends: [{ host: orders.host, port: orders.port }],
      }),
    });
    assert.equal(created.status, 201, created.body);
    assert.deepEqual(await freshRequests(`${gw.url}/orders/1`, 30), Array(30).fill(200));
    const metrics = requestsByWorker((await fetchText(`${gw.url}/metrics`)).body);
    assert.deepEqual([...metrics.keys()].sort(), ["0", "1", "2"]);
    const status = JSON.parse((await fetchText(`${gw.adminUrl}/api/status`)).body);
    assert.deepEqual(status.workers.map((w: { id: number }) => w.id), [0, 1, 2]);
    assert.deepEqual(
      status.workers.slice(1).map((w: { pid: number }) => w.pid).sort(),
      workerPids(gw.output()).sort(),
    );
    assert.equal(await gw.stop(), 0);
  },
});

Deno.test({
  name: "a killed worker is restarted, and killing the first process stops the others",
  ...linuxOnly,
  fn: async () => {
    await using backend = startBackend(() => new Response("ok"));
    await using gw = await startGateway(routeConfig([backend]), { args: ["--workers", "2"] });
    await gw.waitForOutput(/"msg":"listening","worker":1/);
    const [first] = workerPids(gw.output());
    Deno.kill(first, "SIGKILL");
    await gw.waitForOutput(
      /"msg":"worker exited; restarting it","worker":1,"pid":\d+,"code":\d+,"signal":"SIGKILL"[\s\S]*"msg":"worker started"[\s\S]*"msg":"listening","worker":1/,
    );
    const [, second] = workerPids(gw.output());
    assert.ok(second !== undefined && second !== first);
    assert.deepEqual(await freshRequests(`${gw.url}/api/x`, 20), Array(20).fill(200));
    // The first process dies without a chance to clean up: the worker sees its stdin close and stops.
    gw.process.kill("SIGKILL");
    assert.ok(await gone(second, 10_000), "the orphaned worker stopped");
  },
});

Deno.test({
  name: "--workers is refused when it is out of range or workers cannot be started",
  ...linuxOnly,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const config = `${dir}/config.json`;
    await Deno.writeTextFile(
      config,
      JSON.stringify({ ...routeConfig([{ port: 9 }]), admin: { enabled: false } }),
    );
    const run = async (flags: string[], extra: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", ...flags, MAIN, "serve", "-c", config, "--host", "127.0.0.1", "--port", "0", ...extra],
        env: { RUST_BACKTRACE: "0", NO_COLOR: "1", KAIROS_WATCH_CONFIG: "0" },
        stdin: "null",
      }).output();
      return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
    };
    const zero = await run(["-A"], ["--workers", "0"]);
    assert.equal(zero.code, 1);
    assert.match(zero.stderr, /--workers must be a whole number 1-64: current value is "0"/);
    const noRun = await run(
      ["--allow-net", "--allow-read", "--allow-write", "--allow-env", "--allow-sys"],
      ["--workers", "2"],
    );
    assert.equal(noRun.code, 1);
    assert.match(noRun.stderr, /starting them needs --allow-run/);
    // The same imports without deno.json's `"unstable": ["net"]`: Deno would exit on reusePort, so refuse first.
    const project = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
    await Deno.writeTextFile(`${dir}/deno.json`, JSON.stringify({ imports: project.imports }));
    const noNet = await run(["--config", `${dir}/deno.json`, "--no-lock", "-A"], ["--workers", "2"]);
    assert.equal(noNet.code, 1, noNet.stderr);
    assert.match(noNet.stderr, /sharing the port needs --unstable-net/);
    await Deno.remove(dir, { recursive: true });
  },
});
