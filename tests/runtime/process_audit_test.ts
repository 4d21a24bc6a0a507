/**
 * Process-level probes, one unit at a time: the CLI parser, sd_notify (MONOTONIC_USEC, nothing after
 * STOPPING, WATCHDOG), the config file watcher against editors, Kubernetes and deploy tools, the config
 * loader against bad files, and the worker supervisor against workers that crash or refuse a config
 * (fake workers, so every failure is on demand). Every process started here is killed in `finally`.
 */
import assert from "node:assert/strict";
import { fakeTarget } from "./fake_target.ts";
import { until } from "../system/harness.ts";
import { parseArgs } from "../../main.ts";
import { loadConfigFile, MAX_CONFIG_BYTES } from "../../src/config/load.ts";
import { validateConfig } from "../../src/config/validate.ts";
import { createLogger, type Logger } from "../../src/observe/logger.ts";
import { ConfigStore } from "../../src/runtime/config_store.ts";
import { ConfigWatcher } from "../../src/runtime/config_watcher.ts";
import { formatListenAddress, parsePortText } from "../../src/runtime/listen_address.ts";
import { createServiceNotifier, monotonicUsecField } from "../../src/runtime/service_notifier.ts";
import { WorkerSupervisor } from "../../src/runtime/workers/worker_supervisor.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const decoder = new TextDecoder();
const linux = { ignore: Deno.build.os !== "linux" };

/** A logger that keeps every line as parsed JSON. */
function memoryLogger(): Logger & { readonly lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return Object.assign(
    createLogger({ level: "debug", format: "json", write: (l) => lines.push(JSON.parse(l)) }),
    { lines },
  );
}

function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(Deno.readTextFileSync(`/proc/${pid}/status`));
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------
// CLI flags

Deno.test("parseArgs() names what is wrong with a command line instead of misreading it", async (t) => {
  const refused: Array<[string[], RegExp]> = [
    [["--bogus"], /Unknown option "--bogus"/],
    [["serve", "-x"], /Unknown option "-x"/],
    [["frobnicate"], /Unknown command "frobnicate"/],
    [["-c"], /Option -c needs a value/],
    [["serve", "--port"], /Option --port needs a value/],
    [["serve", "--port="], /Option --port needs a value/],
    // The next word is another option, not this one's value.
    [["serve", "--port", "--host", "127.0.0.1"], /Option --port needs a value/],
    [["serve", "-c", "--workers=2"], /Option -c needs a value/],
    [["validate", "--strict=false"], /Option --strict takes no value/],
    // Options of another command would be silently half-applied (serve --strict checked only the start).
    [["serve", "--strict"], /Option --strict does not apply to "serve"/],
    [["validate", "--port", "80"], /Option --port does not apply to "validate"/],
    [["schema", "-c", "x.json"], /Option -c does not apply to "schema"/],
    [["serve", "config.json"], /Unexpected argument "config\.json": the config file goes after -c/],
    [["version", "extra"], /Unexpected argument "extra"/],
  ];
  for (const [argv, message] of refused) {
    await t.step(argv.join(" ") || "(nothing)", () => {
      assert.throws(
        () => parseArgs(argv),
        (err: Error) => err instanceof TypeError && message.test(err.message),
      );
    });
  }
  await t.step("accepted forms", () => {
    assert.deepEqual(parseArgs([]), { command: "serve", strict: false });
    assert.deepEqual(parseArgs(["--config=a.json", "--port=0", "--host", "::"]), {
      command: "serve",
      strict: false,
      config: "a.json",
      port: "0",
      host: "::",
    });
    assert.deepEqual(parseArgs(["validate", "-c", "a.yaml", "--strict"]), {
      command: "validate",
      strict: true,
      config: "a.yaml",
    });
    // A path may hold "=" and may start with a dash; only a known option is refused as a value.
    assert.equal(parseArgs(["-c", "-odd=name.json"]).config, "-odd=name.json");
    // --help and --version answer whatever else is on the line.
    assert.equal(parseArgs(["serve", "-c", "x", "--help"]).command, "help");
    assert.equal(parseArgs(["validate", "--strict", "-V"]).command, "version");
  });
});

Deno.test("parsePortText() takes digits only, and formatListenAddress() brackets an IPv6 host", async (t) => {
  await t.step("ports", () => {
    assert.deepEqual(["0", "80", "0080", "65535"].map(parsePortText), [0, 80, 80, 65535]);
    for (const text of ["0x50", "1e3", " 80", "80 ", "+80", "-1", "8.0", "", "65536", "http"]) {
      assert.equal(parsePortText(text), undefined, text);
    }
  });
  await t.step("addresses, as the listening log lines show them", () => {
    const cases: [string, string][] = [
      ["0.0.0.0", "0.0.0.0:5900"],
      ["localhost", "localhost:5900"],
      ["::", "[::]:5900"],
      ["::1", "[::1]:5900"],
      ["fe80::1%eth0", "[fe80::1%eth0]:5900"],
      ["[::1]", "[::1]:5900"],
    ];
    for (const [host, address] of cases) assert.equal(formatListenAddress(host, 5900), address);
  });
});

// ---------------------------------------------------------------------------------------------------
// Loading a config file

Deno.test("loadConfigFile() refuses a missing, directory, empty, huge, binary or unreadable file by name", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    const cases: Array<[string, (path: string) => Promise<void>, RegExp]> = [
      ["missing", async () => {}, /Cannot read config file ".*missing": not found/],
      ["directory", (p) => Deno.mkdir(p), /Cannot read config file ".*directory": not a regular file/],
      ["empty", (p) => Deno.writeTextFile(p, ""), /it is empty/],
      ["whitespace", (p) => Deno.writeTextFile(p, " \n\t\n"), /it is empty/],
      [
        "huge",
        (p) => Deno.writeFile(p, new Uint8Array(MAX_CONFIG_BYTES + 1).fill(32)),
        /above the limit of 10485760 bytes \(10 MiB\)/,
      ],
      ["binary", (p) => Deno.writeFile(p, new Uint8Array([0xff, 0xfe, 0x7b, 0x7d])), /not valid UTF-8/],
    ];
    for (const [name, make, message] of cases) {
      await t.step(name, async () => {
        const path = `${dir}/${name}`;
        await make(path);
        const loaded = await loadConfigFile(path);
        assert.equal(loaded.ok, false);
        assert.match(loaded.ok ? "" : loaded.errors.map((e) => e.message).join("\n"), message);
      });
    }
    await t.step({
      name: "unreadable (not as root, who reads anything)",
      ignore: Deno.build.os === "windows" || Deno.uid() === 0,
      fn: async () => {
        const path = `${dir}/unreadable.json`;
        await Deno.writeTextFile(path, "{}");
        await Deno.chmod(path, 0o000);
        const loaded = await loadConfigFile(path);
        assert.match(loaded.ok ? "" : loaded.errors.map((e) => e.message).join("\n"), /permission denied/);
      },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------------
// sd_notify

async function notifySocket() {
  const dir = await Deno.makeTempDir({ prefix: "kairos-notify-test-" });
  const path = `${dir}/notify.sock`;
  const socket = Deno.listenDatagram({ transport: "unixpacket", path });
  const received: string[] = [];
  const pump = (async () => {
    try {
      for (;;) received.push(decoder.decode((await socket.receive())[0]));
    } catch { /* closed */ }
  })();
  return {
    dir,
    path,
    received,
    async [Symbol.asyncDispose]() {
      socket.close();
      await pump;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test({
  name:
    "sd_notify: back-to-back messages all arrive, RELOADING=1 carries MONOTONIC_USEC, nothing follows STOPPING=1",
  ...linux,
  fn: async () => {
    await using systemd = await notifySocket();
    const logger = memoryLogger();
    const notifier = createServiceNotifier(
      envOf({ NOTIFY_SOCKET: systemd.path, RUNTIME_DIRECTORY: systemd.dir }),
      logger,
    );
    try {
      const uptimeUsec = () => Number(Deno.readTextFileSync("/proc/uptime").split(" ")[0]) * 1e6;
      const before = uptimeUsec();
      notifier.reloading();
      const after = uptimeUsec();
      // Sent while the first is still pending: Deno refuses a concurrent send on one socket.
      notifier.ready("serving 1 routes");
      notifier.stopping();
      // A reload that ends while draining, and a second SIGTERM, say nothing more.
      notifier.ready("serving 1 routes");
      notifier.reloading();
      notifier.stopping();
      await until(() => systemd.received.length >= 3, 2000, "three messages");
      await sleep(100);
      assert.equal(systemd.received.length, 3, systemd.received.join("|"));
      const [reloading, ready, stopping] = systemd.received;
      assert.match(reloading, /^RELOADING=1\nMONOTONIC_USEC=\d+\n/);
      const usec = Number(/MONOTONIC_USEC=(\d+)/.exec(reloading)![1]);
      // Never before the moment it was sent (systemd compares it with the reload's start).
      assert.ok(usec >= before && usec <= after + 20_000, `${before} <= ${usec} <= ${after}`);
      assert.match(ready, /^READY=1$/m);
      assert.match(stopping, /^STOPPING=1$/m);
      assert.deepEqual(logger.lines, []);
    } finally {
      await notifier.close();
    }
  },
});

Deno.test({
  name:
    "with WatchdogSec= (WATCHDOG_USEC) the notifier pings WATCHDOG=1 at half the interval, for its own pid only",
  ...linux,
  fn: async () => {
    await using systemd = await notifySocket();
    const logger = memoryLogger();
    const base = { NOTIFY_SOCKET: systemd.path, RUNTIME_DIRECTORY: systemd.dir, WATCHDOG_USEC: "200000" };
    const other = createServiceNotifier(envOf({ ...base, WATCHDOG_PID: String(Deno.pid + 1) }), logger);
    const own = createServiceNotifier(envOf({ ...base, WATCHDOG_PID: String(Deno.pid) }), logger);
    try {
      await sleep(560);
      const pings = systemd.received.filter((m) => m === "WATCHDOG=1\n").length;
      // Every 100 ms from one notifier; none from the one the watchdog is not meant for.
      assert.ok(pings >= 2 && pings <= 7, `${pings} pings: ${systemd.received.join("|")}`);
    } finally {
      await own.close();
      await other.close();
    }
    const count = systemd.received.length;
    await sleep(250);
    assert.equal(systemd.received.length, count, "close() stops the pings");
    assert.equal(monotonicUsecField().startsWith("MONOTONIC_USEC="), true);
  },
});

// ---------------------------------------------------------------------------------------------------
// The config file watcher

async function watched(debounceMs = 50) {
  const root = await Deno.makeTempDir({ prefix: "kairos-watch-" });
  const dir = `${root}/etc`;
  await Deno.mkdir(dir);
  const path = `${dir}/config.json`;
  await Deno.writeTextFile(path, "v1");
  const seen: string[] = [];
  const errors: string[] = [];
  const watcher = new ConfigWatcher({
    path,
    debounceMs,
    missingRetries: 2,
    rewatchMs: 100,
    onChange: async () => void seen.push(await Deno.readTextFile(path).catch(() => "(missing)")),
    onError: (err) => void errors.push(err.message),
  });
  watcher.start();
  await sleep(50);
  return {
    root,
    dir,
    path,
    seen,
    errors,
    /** Waits for `n` reloads, then a little longer to catch any extra one. */
    async settle(n: number) {
      await until(() => seen.length >= n, 5000, `${n} reloads (seen ${seen})`);
      await sleep(250);
    },
    async [Symbol.asyncDispose]() {
      await watcher.close();
      await Deno.remove(root, { recursive: true });
    },
  };
}

Deno.test("ConfigWatcher follows a Kubernetes ConfigMap update (the ..data symlink swap) with one reload", async () => {
  const root = await Deno.makeTempDir({ prefix: "kairos-k8s-" });
  const seen: string[] = [];
  const path = `${root}/config.json`;
  await Deno.mkdir(`${root}/..2026_01_01_v1`);
  await Deno.writeTextFile(`${root}/..2026_01_01_v1/config.json`, "v1");
  await Deno.symlink("..2026_01_01_v1", `${root}/..data`);
  await Deno.symlink("..data/config.json", path);
  const watcher = new ConfigWatcher({
    path,
    debounceMs: 50,
    onChange: async () => void seen.push(await Deno.readTextFile(path)),
  });
  try {
    watcher.start();
    await sleep(50);
    // What kubelet's AtomicWriter does: new timestamped dir, ..data_tmp symlink, rename over ..data.
    await Deno.mkdir(`${root}/..2026_01_02_v2`);
    await Deno.writeTextFile(`${root}/..2026_01_02_v2/config.json`, "v2");
    await Deno.symlink("..2026_01_02_v2", `${root}/..data_tmp`);
    await Deno.rename(`${root}/..data_tmp`, `${root}/..data`);
    await Deno.remove(`${root}/..2026_01_01_v1`, { recursive: true });
    await until(() => seen.length >= 1, 3000, "a reload");
    await sleep(250);
    assert.deepEqual(seen, ["v2"]);
  } finally {
    await watcher.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("ConfigWatcher: delete then recreate within the grace is one reload of the new file", async () => {
  await using t = await watched();
  await Deno.remove(t.path);
  await sleep(60); // longer than the debounce: the file is seen missing once before it is back
  await Deno.writeTextFile(t.path, "v2");
  await t.settle(1);
  assert.deepEqual(t.seen, ["v2"]);
});

Deno.test("ConfigWatcher watches again when its directory is deleted or moved aside and comes back", async (t) => {
  for (const how of ["deleted", "moved aside"] as const) {
    await t.step(how, async () => {
      await using w = await watched();
      if (how === "deleted") await Deno.remove(w.dir, { recursive: true });
      else await Deno.rename(w.dir, `${w.root}/etc.old`);
      // The file is gone: one reload that fails (the running config stays), and a warning that says why.
      await w.settle(1);
      assert.deepEqual(w.seen, ["(missing)"]);
      assert.match(w.errors.join("\n"), /was removed or moved; watching it again once it is back/);
      // A deploy puts a new directory in place: it is picked up, and so are later edits in it.
      await Deno.mkdir(w.dir);
      await Deno.writeTextFile(w.path, "v2");
      await w.settle(2);
      assert.equal(w.seen.at(-1), "v2");
      await Deno.writeTextFile(w.path, "v3");
      await until(() => w.seen.at(-1) === "v3", 3000, "the edit after the swap");
    });
  }
});

Deno.test("a chmod of the config file (an attribute event) reloads nothing and reports no failure", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/config.json`;
  const config = {
    version: 1,
    routers: [{
      external_path: "/a",
      internal_path: "/a",
      methods: ["GET"],
      backends: [{ host: "http://127.0.0.1", port: 9 }],
    }],
  };
  await Deno.writeTextFile(path, JSON.stringify(config));
  const loaded = await loadConfigFile(path);
  assert.ok(loaded.ok);
  const target = fakeTarget(loaded.config);
  const logger = memoryLogger();
  const store = new ConfigStore({ path, loaded, target, logger });
  let reloads = 0;
  const watcher = new ConfigWatcher({
    path,
    debounceMs: 50,
    onChange: async () => {
      reloads++;
      await store.reloadFromFile("file");
    },
  });
  try {
    watcher.start();
    await sleep(50);
    await Deno.chmod(path, 0o600);
    await until(() => reloads >= 1, 3000, "the watcher to react");
    await sleep(100);
    assert.deepEqual(target.results, [], "same bytes: skipped, not re-applied");
    assert.equal(store.status().last_reload.result, "success");
    assert.equal(store.status().last_reload.trigger, "startup");
    assert.equal(store.version, 1);
  } finally {
    await watcher.close();
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------------
// The worker supervisor, with fake workers

/** A stand-in worker: serves the worker socket like worker_agent.ts, and stops when stdin closes. */
const FAKE_WORKER = `
const [mode, out] = Deno.args;
if (mode === "crash") Deno.exit(3);
const path = Deno.env.get("KAIROS_WORKER_DIR") + "/worker-" + Deno.env.get("KAIROS_WORKER_ID") + ".sock";
try { Deno.removeSync(path); } catch { /* not there */ }
let puts = 0;
Deno.serve({ path, onListen() {} }, async (request) => {
  const body = await request.text();
  puts++;
  if (out) await Deno.writeTextFile(out + "/put-" + Deno.pid + "-" + puts + ".json", body);
  const ok = mode === "accept" || (mode === "refuse-later" && puts === 1);
  return new Response(ok ? null : "cannot apply this config", { status: ok ? 204 : 422 });
});
const buf = new Uint8Array(16);
while ((await Deno.stdin.read(buf)) !== null) { /* nothing is sent */ }
Deno.exit(0);
`;

const SUPERVISED_CONFIG = (() => {
  const result = validateConfig({
    version: 1,
    routers: [{
      external_path: "/a",
      internal_path: "/a",
      methods: ["GET"],
      backends: [{ host: "http://127.0.0.1", port: 9 }],
      // `$${...}` is a literal `${...}`: every worker must serve these bytes, never an env value.
      response_transformation: {
        headers: [{ action: "set", name: "x-literal", value: "$${HOME} and $${KAIROS_SURELY_UNSET}" }],
      },
    }],
  });
  assert.ok(result.ok);
  return result.config;
})();

async function supervise(mode: "crash" | "accept" | "refuse-first" | "refuse-later", workers = 2) {
  const dir = await Deno.makeTempDir({ prefix: "kairos-fake-workers-" });
  const script = `${dir}/fake_worker.ts`;
  await Deno.writeTextFile(script, FAKE_WORKER);
  const logger = memoryLogger();
  const supervisor = await WorkerSupervisor.start({
    workers,
    host: "127.0.0.1",
    port: 1,
    logger,
    ownMetrics: () => "",
    config: () => SUPERVISED_CONFIG,
    command: { program: Deno.execPath(), args: ["run", "-A", "--no-config", script, mode, dir] },
  });
  const pids = new Set<number>();
  const track = () => {
    for (const w of supervisor.status()) if (w.pid !== null) pids.add(w.pid);
  };
  const tracker = setInterval(track, 10);
  return {
    dir,
    logger,
    supervisor,
    pids,
    logged: (msg: string) => logger.lines.filter((l) => l.msg === msg),
    async [Symbol.asyncDispose]() {
      clearInterval(tracker);
      track();
      await supervisor.stop(2000);
      for (const pid of pids) assert.equal(alive(pid), false, `worker ${pid} outlived stop()`);
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test({
  name: "a worker that keeps crashing is restarted with a growing delay, not in a tight loop",
  ...linux,
  fn: async () => {
    await using s = await supervise("crash");
    await sleep(1500);
    const exits = s.logged("worker exited; restarting it");
    // 250, 500, 1000 ms: three or four deaths in 1.5 s (a tight loop would make dozens).
    assert.ok(exits.length >= 2 && exits.length <= 4, `${exits.length} restarts`);
    assert.deepEqual(exits.map((l) => l.restart_in_ms), [250, 500, 1000, 2000].slice(0, exits.length));
    assert.equal(s.supervisor.status()[0].restarts, exits.length);
  },
});

Deno.test({
  name: "a worker that refuses its first config is restarted, not left running without listening",
  ...linux,
  fn: async () => {
    await using s = await supervise("refuse-first");
    await until(() => s.logged("worker exited; restarting it").length >= 2, 8000, "two restarts");
    const refused = s.logged("worker refused the config; restarting it");
    assert.ok(refused.length >= 2);
    assert.match(String(refused[0].error), /cannot apply this config/);
    assert.equal(s.logged("worker exited; restarting it")[0].signal, "SIGKILL");
  },
});

Deno.test({
  name: "a worker that cannot take a reloaded config is restarted on it, so no worker serves the old one",
  ...linux,
  fn: async () => {
    await using s = await supervise("refuse-later", 3);
    await until(
      () => s.pids.size >= 2 && s.supervisor.status().every((w) => w.pid !== null),
      5000,
      "workers",
    );
    // Both took their first config.
    await until(
      () => [...Deno.readDirSync(s.dir)].filter((e) => e.name.startsWith("put-")).length >= 2,
      8000,
      "the first configs",
    );
    const before = s.supervisor.status().map((w) => w.pid);
    await s.supervisor.broadcast();
    const failed = s.logged("worker did not take the new config; restarting it");
    assert.deepEqual(failed.map((l) => l.worker).sort(), [1, 2]);
    await until(
      () => s.supervisor.status().every((w, i) => w.pid !== null && w.pid !== before[i]),
      8000,
      "the restarted workers",
    );
    // The restarted ones get the current config at start (and take it: it is their first).
    await until(
      () => [...Deno.readDirSync(s.dir)].filter((e) => e.name.startsWith("put-")).length >= 6,
      8000,
      "the configs of the restarted workers",
    );
  },
});

Deno.test({
  name: "the config handed to a worker validates there to exactly what the first process runs",
  ...linux,
  fn: async () => {
    await using s = await supervise("accept");
    await until(() => [...Deno.readDirSync(s.dir)].some((e) => e.name.startsWith("put-")), 8000, "a config");
    const name = [...Deno.readDirSync(s.dir)].find((e) => e.name.startsWith("put-"))!.name;
    const body = await Deno.readTextFile(`${s.dir}/${name}`);
    // What worker_agent.ts does with it.
    const again = validateConfig(JSON.parse(body));
    assert.ok(again.ok, JSON.stringify(again.ok ? [] : again.errors));
    assert.deepEqual(again.config, SUPERVISED_CONFIG);
    assert.equal(
      again.config.routers[0].response_transformation?.headers[0].value,
      "${HOME} and ${KAIROS_SURELY_UNSET}",
    );
  },
});
