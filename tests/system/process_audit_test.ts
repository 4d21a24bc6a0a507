/**
 * Whole-process probes of an operator's bad day: command lines and environment that are wrong in every
 * way, a port already taken, config files swapped by Kubernetes or by a deploy that replaces the whole
 * directory, SIGHUP storms, SIGTERM in the middle of a reload, and workers that die or are orphaned.
 * Every process is killed in `finally`, and each test checks (a `pgrep -f` over /proc) that none outlives it.
 */
import assert from "node:assert/strict";
import {
  fetchText,
  freePort,
  routeConfig,
  runKairos,
  startBackend,
  startGateway,
  until,
  workerPids,
} from "./harness.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const decoder = new TextDecoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const linux = { ignore: Deno.build.os !== "linux" };
const BASE_ENV = { RUST_BACKTRACE: "0", NO_COLOR: "1" };
const STACK_FRAME = /^\s+at /m;

/** Pids of live processes whose command line contains `tag` (what `pgrep -f` does), zombies excluded. */
function pgrep(tag: string): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid) || pid === Deno.pid) continue;
    try {
      if (!Deno.readTextFileSync(`/proc/${pid}/cmdline`).replaceAll("\0", " ").includes(tag)) continue;
      if (!/^State:\s+Z/m.test(Deno.readTextFileSync(`/proc/${pid}/status`))) pids.push(pid);
    } catch { /* exited meanwhile */ }
  }
  return pids;
}

async function assertNoOrphans(tag: string) {
  await until(() => pgrep(tag).length === 0, 10_000, `no process left running with ${tag}`);
}

/** Runs a command that must end by itself (killed after `timeoutMs` if it does not). */
function run(args: string[], env: Record<string, string> = {}, timeoutMs = 10_000) {
  return runKairos(args, env, timeoutMs);
}

/** A long-running kairos with any command line; killed (SIGKILL) on dispose if still running. */
function spawn(args: string[], env: Record<string, string> = {}) {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: { ...BASE_ENV, ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
  };
  const pumps = Promise.all([pump(process.stdout), pump(process.stderr)]);
  let code: number | undefined;
  const exited = process.status.then((s) => code = s.code);
  return {
    process,
    output: () => output,
    async waitFor(pattern: RegExp, timeoutMs = 10_000) {
      await until(() => pattern.test(output) || code !== undefined, timeoutMs, `${pattern} in:\n${output}`);
      if (!pattern.test(output)) throw new Error(`exited with ${code} before ${pattern}:\n${output}`);
    },
    async stop(signal: Deno.Signal = "SIGTERM") {
      if (code === undefined) {
        try {
          process.kill(signal);
        } catch { /* gone */ }
      }
      await exited;
      await pumps;
      return code!;
    },
    async [Symbol.asyncDispose]() {
      if (code === undefined) {
        try {
          process.kill("SIGKILL");
        } catch { /* gone */ }
      }
      await exited;
      await pumps;
    },
  };
}

async function tempConfig(config: unknown, name = "config.json") {
  const dir = await Deno.makeTempDir({ prefix: "kairos-audit-" });
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, JSON.stringify(config, null, 2));
  return {
    dir,
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const ONE_ROUTE = { ...routeConfig([{ port: 9 }]), admin: { enabled: false } };

// ---------------------------------------------------------------------------------------------------
// Command line and environment

Deno.test("one-shot commands: exit codes, answers on stdout, problems on stderr, never a stack trace", async (t) => {
  await using good = await tempConfig(ONE_ROUTE);
  await using unknownKey = await tempConfig({ ...ONE_ROUTE, timeout_msec: 5 });
  await using empty = await tempConfig("");
  await Deno.writeTextFile(empty.path, "");
  const huge = `${empty.dir}/huge.json`;
  await Deno.writeFile(huge, new Uint8Array(10 * 1024 * 1024 + 1).fill(32));
  const cases: Array<{ args: string[]; code: number; stdout?: RegExp; stderr?: RegExp }> = [
    { args: ["version"], code: 0, stdout: /^kairos \d+\.\d+\.\d+\n$/ },
    { args: ["--version"], code: 0, stdout: /^kairos \d+\.\d+\.\d+\n$/ },
    { args: ["help"], code: 0, stdout: /kairos validate/ },
    { args: ["validate", "-c", good.path], code: 0, stdout: /is valid\.\n1 route/ },
    // An unknown key warns (stderr) and still validates; --strict makes it an error.
    {
      args: ["validate", "-c", unknownKey.path],
      code: 0,
      stdout: /is valid/,
      stderr: /warnings:[\s\S]*timeout_msec/,
    },
    {
      args: ["validate", "--strict", "-c", unknownKey.path],
      code: 1,
      stderr: /is invalid:[\s\S]*timeout_msec/,
    },
    { args: ["validate", "-c", `${good.dir}/missing.json`], code: 1, stderr: /missing\.json": not found/ },
    { args: ["validate", "-c", good.dir], code: 1, stderr: /not a regular file/ },
    { args: ["validate", "-c", empty.path], code: 1, stderr: /it is empty/ },
    { args: ["validate", "-c", huge], code: 1, stderr: /above the limit of 10485760 bytes/ },
    { args: ["serve", "-c", `${good.dir}/missing.json`], code: 1, stderr: /missing\.json": not found/ },
    // Usage errors: 2, before anything is read.
    { args: ["--bogus"], code: 2, stderr: /^kairos: Unknown option "--bogus" \(see --help\)\n$/ },
    { args: ["serve", "-c", good.path, "--port"], code: 2, stderr: /Option --port needs a value/ },
    { args: ["serve", "--port", "--host", "127.0.0.1"], code: 2, stderr: /Option --port needs a value/ },
    { args: ["serve", "-c", good.path, "--strict"], code: 2, stderr: /--strict does not apply to "serve"/ },
    // Values: 1, with the rule and the value.
    {
      args: ["serve", "-c", good.path, "--port", "abc"],
      code: 1,
      stderr: /--port must be a port number 0-65535: current value is "abc"/,
    },
    // Number() would have bound port 1000 and port 80.
    { args: ["serve", "-c", good.path, "--port", "1e3"], code: 1, stderr: /current value is "1e3"/ },
    { args: ["serve", "-c", good.path, "--port", "0x50"], code: 1, stderr: /current value is "0x50"/ },
    {
      args: ["serve", "-c", good.path, "--workers", "0x2"],
      code: 1,
      stderr: /--workers must be a whole number/,
    },
  ];
  const results = await Promise.all(cases.map((c) => run(c.args, { KAIROS_WATCH_CONFIG: "0" })));
  for (const [i, c] of cases.entries()) {
    await t.step(c.args.join(" ").replaceAll(/\/tmp\/kairos-audit-[^/ ]+/g, "DIR"), () => {
      const out = results[i];
      const detail = `stdout: ${out.stdout.slice(0, 300)}\nstderr: ${out.stderr.slice(0, 300)}`;
      assert.equal(out.code, c.code, detail);
      if (c.stdout) assert.match(out.stdout, c.stdout, detail);
      if (c.stderr) assert.match(out.stderr, c.stderr, detail);
      // Success answers on stdout only; a failure says nothing on stdout.
      if (c.code === 0 && !c.stderr) assert.equal(out.stderr, "", detail);
      if (c.code !== 0) assert.equal(out.stdout, "", detail);
      assert.doesNotMatch(out.stderr, STACK_FRAME, detail);
    });
  }
});

Deno.test("kairos schema prints a well-formed JSON Schema (2020-12) that describes the config", async () => {
  const out = await run(["schema"]);
  assert.equal(out.code, 0);
  assert.equal(out.stderr, "");
  const schema = JSON.parse(out.stdout);
  assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
  const TYPES = new Set(["object", "array", "string", "number", "integer", "boolean", "null"]);
  // Walk every subschema: the keywords a validator would choke on are well-typed.
  const walk = (node: unknown, path: string): void => {
    if (typeof node === "boolean") return;
    assert.ok(node !== null && typeof node === "object" && !Array.isArray(node), `${path} is a schema`);
    const s = node as Record<string, unknown>;
    for (const type of [s.type ?? []].flat()) assert.ok(TYPES.has(type as string), `${path}.type ${type}`);
    if (s.required !== undefined) {
      assert.ok(
        Array.isArray(s.required) && s.required.every((k) => typeof k === "string"),
        `${path}.required`,
      );
      if (s.properties) {
        for (const key of s.required as string[]) {
          assert.ok(key in (s.properties as object), `${path} ${key}`);
        }
      }
    }
    for (const [key, sub] of Object.entries((s.properties ?? {}) as Record<string, unknown>)) {
      walk(sub, `${path}.${key}`);
    }
    for (const key of ["items", "additionalProperties", "not", "propertyNames"]) {
      if (s[key] !== undefined) walk(s[key], `${path}/${key}`);
    }
    for (const key of ["anyOf", "oneOf", "allOf", "prefixItems"]) {
      if (s[key] !== undefined) {
        assert.ok(Array.isArray(s[key]), `${path}/${key}`);
        (s[key] as unknown[]).forEach((sub, i) => walk(sub, `${path}/${key}/${i}`));
      }
    }
    for (const [key, sub] of Object.entries((s.$defs ?? {}) as Record<string, unknown>)) {
      walk(sub, `$defs.${key}`);
    }
    if (typeof s.$ref === "string") assert.match(s.$ref, /^#/, `${path}.$ref is local`);
  };
  walk(schema, "#");
  assert.ok(schema.properties.routers && schema.properties.server);
});

Deno.test("invalid environment values stop the start with exit 1 and name the variable", async (t) => {
  await using config = await tempConfig(ONE_ROUTE);
  const port = String(freePort());
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ KAIROS_PORT: "http" }, /KAIROS_PORT must be a port number 0-65535: current value is "http"/],
    [{ KAIROS_PORT: " 80" }, /KAIROS_PORT must be a port number 0-65535: current value is " 80"/],
    [{ KAIROS_WORKERS: "two" }, /KAIROS_WORKERS must be a whole number 1-64: current value is "two"/],
    [{ KAIROS_LOG_LEVEL: "verbose" }, /KAIROS_LOG_LEVEL is invalid: .*current value is "verbose"/],
    [{ RUST_LOG: "verbose" }, /RUST_LOG is invalid: .*current value is "verbose"/],
    [{ KAIROS_LOG_FORMAT: "xml" }, /KAIROS_LOG_FORMAT must be json or pretty: current value is "xml"/],
    [{ KAIROS_WATCH_CONFIG: "maybe" }, /KAIROS_WATCH_CONFIG must be .*: current value is "maybe"/],
  ];
  const portless = (env: Record<string, string>) => "KAIROS_PORT" in env ? [] : ["--port", port];
  const results = await Promise.all(
    cases.map(([env]) => run(["serve", "-c", config.path, "--host", "127.0.0.1", ...portless(env)], env)),
  );
  for (const [i, [env, message]] of cases.entries()) {
    await t.step(JSON.stringify(env), () => {
      const out = results[i];
      assert.equal(out.code, 1, out.stderr);
      assert.match(out.stderr, message);
      assert.doesNotMatch(out.stderr, STACK_FRAME, out.stderr);
      assert.doesNotMatch(out.stderr, /"msg":"listening"/);
    });
  }
  await assertNoOrphans(config.path);
});

Deno.test("flags beat environment variables, which beat the config file, for host and port", async () => {
  const [p1, p2, p3] = [freePort(), freePort(), freePort()];
  await using config = await tempConfig({ ...ONE_ROUTE, server: { host: "127.0.0.2", port: p1 } });
  const env = { KAIROS_WATCH_CONFIG: "0" };
  const setups: Array<[string[], Record<string, string>, string]> = [
    [[], env, `127.0.0.2:${p1}`],
    [[], { ...env, KAIROS_HOST: "127.0.0.3", KAIROS_PORT: String(p2) }, `127.0.0.3:${p2}`],
    [
      ["--host", "127.0.0.1", "--port", String(p3)],
      { ...env, KAIROS_HOST: "127.0.0.3", KAIROS_PORT: "http" },
      `127.0.0.1:${p3}`,
    ],
  ];
  for (const [flags, vars, address] of setups) {
    await using gw = spawn(["serve", "-c", config.path, ...flags], vars);
    await gw.waitFor(/"msg":"listening"/);
    assert.match(gw.output(), new RegExp(`"msg":"listening","address":"${address.replaceAll(".", "\\.")}"`));
    assert.equal((await fetchText(`http://${address}/health`)).status, 200);
    assert.equal(await gw.stop(), 0);
  }
  await assertNoOrphans(config.path);
});

Deno.test("a port already in use: exit 1, the address named, no stack trace; --port 0 and --host :: work", async () => {
  await using config = await tempConfig(ONE_ROUTE);
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (taken.addr as Deno.NetAddr).port;
    const out = await run(["serve", "-c", config.path, "--host", "127.0.0.1", "--port", String(port)]);
    assert.equal(out.code, 1);
    assert.match(out.stderr, new RegExp(`Cannot listen on 127\\.0\\.0\\.1:${port}: Address already in use`));
    assert.doesNotMatch(out.stderr, STACK_FRAME);
  } finally {
    taken.close();
  }
  // Port 0: the kernel picks one, and the log says which.
  await using any = spawn(["serve", "-c", config.path, "--host", "::", "--port", "0"], {
    KAIROS_WATCH_CONFIG: "0",
  });
  await any.waitFor(/"msg":"listening"/);
  // The IPv6 host in brackets, as in a URL: "[::]:P", not ":::P".
  const port = Number(/"address":"\[::\]:(\d+)"/.exec(any.output())?.[1]);
  assert.ok(port > 0, any.output());
  assert.equal((await fetchText(`http://[::1]:${port}/health`)).status, 200);
  assert.equal(await any.stop(), 0);
  await assertNoOrphans(config.path);
});

// ---------------------------------------------------------------------------------------------------
// Config file edits

Deno.test({
  name: "a Kubernetes ConfigMap update (..data symlink swap) reloads the gateway",
  ...linux,
  fn: async () => {
    await using v1 = startBackend(() => new Response("v1"));
    await using v2 = startBackend(() => new Response("v2"));
    const dir = await Deno.makeTempDir({ prefix: "kairos-configmap-" });
    try {
      const write = async (version: string, backend: { port: number }) => {
        await Deno.mkdir(`${dir}/..${version}`);
        await Deno.writeTextFile(
          `${dir}/..${version}/config.json`,
          JSON.stringify({ ...routeConfig([backend]), admin: { enabled: false } }),
        );
      };
      await write("2026_01_01", v1);
      await Deno.symlink("..2026_01_01", `${dir}/..data`);
      await Deno.symlink("..data/config.json", `${dir}/config.json`);
      {
        await using gw = await startGateway(undefined, { configPath: `${dir}/config.json` });
        assert.equal((await fetchText(`${gw.url}/api/x`)).body, "v1");
        await write("2026_01_02", v2);
        await Deno.symlink("..2026_01_02", `${dir}/..data_tmp`);
        await Deno.rename(`${dir}/..data_tmp`, `${dir}/..data`);
        await Deno.remove(`${dir}/..2026_01_01`, { recursive: true });
        await until(async () => (await fetchText(`${gw.url}/api/x`)).body === "v2", 5000, "the new config");
      }
      await assertNoOrphans(dir);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "a deploy that replaces the config directory: the gateway keeps serving, says so, and reloads the new one",
  ...linux,
  fn: async () => {
    await using v1 = startBackend(() => new Response("v1"));
    await using v2 = startBackend(() => new Response("v2"));
    await using v3 = startBackend(() => new Response("v3"));
    const root = await Deno.makeTempDir({ prefix: "kairos-deploy-" });
    try {
      await Deno.mkdir(`${root}/etc`);
      const path = `${root}/etc/config.json`;
      const config = (b: { port: number }) =>
        JSON.stringify({ ...routeConfig([b]), admin: { enabled: false } });
      await Deno.writeTextFile(path, config(v1));
      {
        await using gw = await startGateway(undefined, { configPath: path });
        const answer = async () => (await fetchText(`${gw.url}/api/x`)).body;
        // The whole directory goes away (rm -rf, or moved aside by the deploy tool).
        await Deno.rename(`${root}/etc`, `${root}/etc.old`);
        await gw.waitForOutput(/was removed or moved; watching it again once it is back/);
        await gw.waitForOutput(/"msg":"config reload failed; keeping the running config"/);
        assert.equal(await answer(), "v1");
        await Deno.mkdir(`${root}/etc`);
        await Deno.writeTextFile(path, config(v2));
        await until(async () => (await answer()) === "v2", 5000, "the config in the new directory");
        // And later edits in the new directory are seen too.
        await Deno.writeTextFile(path, config(v3));
        await until(async () => (await answer()) === "v3", 5000, "an edit in the new directory");
      }
      await assertNoOrphans(root);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

// ---------------------------------------------------------------------------------------------------
// Signals and sd_notify

async function systemdSocket() {
  const dir = await Deno.makeTempDir({ prefix: "kairos-systemd-" });
  const path = `${dir}/notify.sock`;
  const socket = Deno.listenDatagram({ transport: "unixpacket", path });
  const messages: string[] = [];
  const pump = (async () => {
    try {
      for (;;) messages.push(decoder.decode((await socket.receive())[0]));
    } catch { /* closed */ }
  })();
  return {
    dir,
    path,
    /** Everything but the watchdog pings. */
    states: () => messages.filter((m) => m !== "WATCHDOG=1\n"),
    pings: () => messages.filter((m) => m === "WATCHDOG=1\n").length,
    async [Symbol.asyncDispose]() {
      socket.close();
      await pump;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test({
  name:
    "a SIGHUP storm: the gateway survives, every RELOADING=1 (with MONOTONIC_USEC) gets its READY=1, WATCHDOG=1 keeps coming",
  ...linux,
  fn: async () => {
    await using systemd = await systemdSocket();
    await using backend = startBackend(() => new Response("ok"));
    let tag = "";
    {
      await using gw = await startGateway(routeConfig([backend]), {
        env: { NOTIFY_SOCKET: systemd.path, RUNTIME_DIRECTORY: systemd.dir, WATCHDOG_USEC: "300000" },
      });
      tag = gw.configPath;
      await until(() => systemd.states().length >= 1, 5000, "READY=1");
      for (let i = 0; i < 40; i++) {
        gw.process.kill("SIGHUP");
        if (i % 5 === 0) await sleep(1);
      }
      await until(
        () => {
          const s = systemd.states();
          return s.length > 2 && /^READY=1$/m.test(s.at(-1)!) &&
            s.filter((m) => m.startsWith("RELOADING=1")).length ===
              s.filter((m) => /^READY=1$/m.test(m)).length - 1;
        },
        8000,
        "every reload to end",
      );
      const reloading = systemd.states().filter((m) => m.startsWith("RELOADING=1"));
      assert.ok(reloading.length >= 1);
      for (const m of reloading) assert.match(m, /^RELOADING=1\nMONOTONIC_USEC=\d+\n/);
      assert.equal((await fetchText(`${gw.url}/api/x`)).status, 200);
      // Every 150 ms (half of WATCHDOG_USEC), through the storm and after it.
      await until(() => systemd.pings() >= 3, 3000, "WATCHDOG=1 pings");
      assert.equal(await gw.stop("SIGTERM"), 0);
      assert.match(systemd.states().at(-1)!, /^STOPPING=1$/m);
      assert.doesNotMatch(gw.output(), /cannot notify systemd/);
    }
    await assertNoOrphans(tag);
  },
});

Deno.test("a request in flight across a SIGHUP reload finishes on the old config; the next one uses the new", async () => {
  await using old = startBackend(async () => {
    await sleep(700);
    return new Response("old");
  });
  await using fresh = startBackend(() => new Response("new"));
  let tag = "";
  {
    await using gw = await startGateway(routeConfig([old]), { env: { KAIROS_WATCH_CONFIG: "0" } });
    tag = gw.configPath;
    const inFlight = fetchText(`${gw.url}/api/slow`);
    await sleep(150);
    await Deno.writeTextFile(
      gw.configPath,
      JSON.stringify({ ...routeConfig([fresh]), admin: { enabled: false } }),
    );
    gw.process.kill("SIGHUP");
    await gw.waitForOutput(/"msg":"config reloaded"/);
    assert.equal((await fetchText(`${gw.url}/api/next`)).body, "new");
    assert.deepEqual([(await inFlight).status, (await inFlight).body], [200, "old"]);
  }
  await assertNoOrphans(tag);
});

Deno.test({
  name: "SIGTERM in the middle of a reload with workers: exit 0, no READY=1 after STOPPING=1, no worker left",
  ...linux,
  fn: async () => {
    await using systemd = await systemdSocket();
    await using one = startBackend(() => new Response("one"));
    await using two = startBackend(() => new Response("two"));
    let tag = "";
    {
      await using gw = await startGateway(routeConfig([one]), {
        args: ["--workers", "2"],
        env: { NOTIFY_SOCKET: systemd.path, RUNTIME_DIRECTORY: systemd.dir, KAIROS_WATCH_CONFIG: "0" },
      });
      tag = gw.configPath;
      await gw.waitForOutput(/"msg":"listening","worker":1/);
      await until(() => systemd.states().length >= 1, 5000, "READY=1");
      await Deno.writeTextFile(
        gw.configPath,
        JSON.stringify({ ...routeConfig([two]), admin: { enabled: false } }),
      );
      gw.process.kill("SIGHUP");
      gw.process.kill("SIGTERM");
      assert.equal(await gw.stop(), 0, gw.output());
      const states = systemd.states();
      const stopping = states.findIndex((m) => /^STOPPING=1$/m.test(m));
      assert.ok(stopping > 0, states.join("|"));
      assert.deepEqual(states.slice(stopping + 1), [], "nothing after STOPPING=1");
    }
    await assertNoOrphans(tag);
  },
});

// ---------------------------------------------------------------------------------------------------
// Workers

/** `count` requests on fresh connections (spread over the workers); the x-literal header of each. */
async function headersOnEveryWorker(url: string, count: number): Promise<Set<string | null>> {
  const seen = new Set<string | null>();
  for (let i = 0; i < count; i++) {
    const res = await fetchText(url, { headers: { connection: "close" } });
    assert.equal(res.status, 200);
    seen.add(res.headers.get("x-literal"));
  }
  return seen;
}

Deno.test({
  name:
    "every worker serves a literal ${VAR} as written (never the env value), and a file reload reaches them all",
  ...linux,
  fn: async () => {
    await using backend = startBackend(() => new Response("ok"));
    const withHeader = (value: string) =>
      routeConfig([backend], {
        response_transformation: { headers: [{ action: "set", name: "x-literal", value }] },
      });
    let tag = "";
    {
      await using gw = await startGateway(withHeader("$${KAIROS_AUDIT_SECRET}"), {
        args: ["--workers", "2"],
        env: { KAIROS_AUDIT_SECRET: "leaked" },
      });
      tag = gw.configPath;
      await gw.waitForOutput(/"msg":"listening","worker":1/);
      assert.deepEqual(
        await headersOnEveryWorker(`${gw.url}/api/x`, 30),
        new Set(["${KAIROS_AUDIT_SECRET}"]),
      );
      await Deno.writeTextFile(
        gw.configPath,
        JSON.stringify({ ...withHeader("v2"), admin: { enabled: false } }),
      );
      await gw.waitForOutput(/"msg":"config reloaded","worker":1/);
      assert.deepEqual(await headersOnEveryWorker(`${gw.url}/api/x`, 30), new Set(["v2"]));
      assert.doesNotMatch(gw.output(), /did not take the new config|refused the config/);
    }
    await assertNoOrphans(tag);
  },
});

Deno.test({
  name:
    "a worker killed again and again comes back after 250, 500, 1000 ms; SIGKILL of worker 0 stops every other worker",
  ...linux,
  fn: async () => {
    await using backend = startBackend(() => new Response("ok"));
    let tag = "";
    let socketDir = "";
    {
      await using gw = await startGateway(routeConfig([backend]), { args: ["--workers", "3"] });
      tag = gw.configPath;
      await gw.waitForOutput(/"msg":"listening","worker":2/);
      await gw.waitForOutput(/"msg":"listening","worker":1/);
      for (let i = 0; i < 3; i++) {
        const pids = workerPids(gw.output());
        Deno.kill(pids.at(-1)!, "SIGKILL");
        await until(() => workerPids(gw.output()).length > pids.length, 5000, "the restart");
      }
      const delays = [...gw.output().matchAll(/"msg":"worker exited; restarting it".*"restart_in_ms":(\d+)/g)]
        .map((m) => Number(m[1]));
      assert.deepEqual(delays, [250, 500, 1000]);
      // Two at start, and the last restart (the others were killed before they listened).
      await gw.waitForOutput(/("msg":"listening","worker":\d[\s\S]*){3}/);
      const workers = pgrep(tag).filter((pid) => pid !== gw.process.pid);
      assert.equal(workers.length, 2, `two workers besides worker 0: ${workers}`);
      socketDir = /KAIROS_WORKER_DIR=([^\0]+)/.exec(Deno.readTextFileSync(`/proc/${workers[0]}/environ`))![1];
      gw.process.kill("SIGKILL");
      await gw.stop();
    }
    // Orphaned, each worker sees its stdin close and stops, and the socket directory goes with them.
    await assertNoOrphans(tag);
    await assert.rejects(Deno.stat(socketDir), Deno.errors.NotFound);
  },
});
