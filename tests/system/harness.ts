/**
 * Whole-process test harness: starts the real gateway (`main.ts serve`) as a subprocess on a
 * free port with a config written to a temp file, and real backends on 127.0.0.1.
 */
import { stringify as toYaml } from "yaml";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const decoder = new TextDecoder();

export interface Gateway {
  /** `http://127.0.0.1:<port>` of the main listener. */
  readonly url: string;
  readonly port: number;
  /** `http://127.0.0.1:<port>` of the admin listener ("" when disabled). */
  readonly adminUrl: string;
  readonly configPath: string;
  readonly process: Deno.ChildProcess;
  /** Everything the gateway printed so far (stdout + stderr). */
  output(): string;
  /** Resolves when the output contains `text` (or throws after `timeoutMs`). */
  waitForOutput(text: string | RegExp, timeoutMs?: number): Promise<void>;
  /** Sends a signal and waits for the exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface GatewayOptions {
  format?: "json" | "yaml";
  env?: Record<string, string>;
  /** Extra CLI arguments after `serve -c FILE`. */
  args?: string[];
  /** Start the admin listener on a free port (default: disabled unless the config enables it). */
  admin?: boolean;
  /** Use an existing config file instead of writing `config`. */
  configPath?: string;
}

/** What `runKairos()` collected from a finished process. */
export interface KairosRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `kairos <args>` (main.ts with every permission) to its end, killed after `timeoutMs`. */
export async function runKairos(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 20_000,
): Promise<KairosRun> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1", ...env },
    stdin: "null",
    signal: AbortSignal.timeout(timeoutMs),
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Ports freePort() handed out in this process: the kernel may offer a just-closed one again. */
const handedOut = new Set<number>();

/**
 * Asks the kernel for a free TCP port on 127.0.0.1, never one this process was given before: a gateway's
 * port and its admin port came back equal once (CI, 2026-11-28), and the second listener failed.
 */
export function freePort(): number {
  for (;;) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const { port } = listener.addr as Deno.NetAddr;
    listener.close();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

export async function startGateway(config: unknown, options: GatewayOptions = {}): Promise<Gateway> {
  const format = options.format ?? "json";
  let configPath = options.configPath;
  if (!configPath) {
    const dir = await Deno.makeTempDir({ prefix: "kairos-test-" });
    configPath = `${dir}/config.${format}`;
    const withAdmin = withAdminDefaults(config, options.admin ?? false);
    await Deno.writeTextFile(
      configPath,
      format === "yaml" ? toYaml(withAdmin) : JSON.stringify(withAdmin, null, 2),
    );
  }
  const port = freePort();
  const adminPort = options.admin ? freePort() : 0;
  const env: Record<string, string> = {
    RUST_BACKTRACE: "0",
    NO_COLOR: "1",
    KAIROS_LOG_LEVEL: "debug",
    ...(options.admin ? { KAIROS_ADMIN_PORT: String(adminPort) } : {}),
    ...options.env,
  };
  const command = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN,
      "serve",
      "-c",
      configPath,
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      ...(options.args ?? []),
    ],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  const process = command.spawn();
  let output = "";
  const waiters = new Set<() => void>();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) {
      output += decoder.decode(chunk, { stream: true });
      for (const wake of waiters) wake();
    }
  };
  const pumps = Promise.all([pump(process.stdout), pump(process.stderr)]);
  let exitCode: number | undefined;
  const exited = process.status.then((s) => {
    exitCode = s.code;
    for (const wake of waiters) wake();
    return s.code;
  });

  const waitForOutput = (text: string | RegExp, timeoutMs = 15000) =>
    new Promise<void>((resolve, reject) => {
      const test = () => (typeof text === "string" ? output.includes(text) : text.test(output));
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`Gateway did not print ${text} within ${timeoutMs} ms. Output:\n${output}`));
      }, timeoutMs);
      const check = () => {
        if (test()) {
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        } else if (exitCode !== undefined) {
          clearTimeout(timer);
          waiters.delete(check);
          reject(new Error(`Gateway exited with ${exitCode} before printing ${text}. Output:\n${output}`));
        }
      };
      waiters.add(check);
      check();
    });

  let stopped = false;
  const stop = async (signal: Deno.Signal = "SIGTERM") => {
    if (!stopped) {
      stopped = true;
      if (exitCode === undefined) {
        try {
          process.kill(signal);
        } catch { /* already gone */ }
      }
    }
    const code = await exited;
    await pumps;
    return code;
  };

  const gateway: Gateway = {
    url: `http://127.0.0.1:${port}`,
    port,
    adminUrl: options.admin ? `http://127.0.0.1:${adminPort}` : "",
    configPath,
    process,
    output: () => output,
    waitForOutput,
    stop,
    async [Symbol.asyncDispose]() {
      await stop("SIGKILL");
    },
  };
  try {
    await waitForOutput('"msg":"listening"', 20000);
  } catch (err) {
    await stop("SIGKILL");
    throw err;
  }
  return gateway;
}

function withAdminDefaults(config: unknown, admin: boolean): unknown {
  if (typeof config !== "object" || config === null || Array.isArray(config)) return config;
  const c = config as Record<string, unknown>;
  if (c.admin !== undefined) return c;
  return { ...c, admin: { enabled: admin } };
}

export interface Backend {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Always `http://127.0.0.1` (the value for a route backend's `host`). */
  readonly host: string;
  readonly port: number;
  /** Requests received so far. */
  readonly requests: number;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A real HTTP backend on 127.0.0.1 (random port, or `port` to restart one on a known port). */
export function startBackend(
  handler: (request: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) => Response | Promise<Response>,
  options: { port?: number } = {},
): Backend {
  let requests = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: options.port ?? 0, onListen() {} },
    (request, info) => {
      requests++;
      return handler(request, info);
    },
  );
  const port = server.addr.port;
  let closed: Promise<void> | undefined;
  const close = () => closed ??= server.shutdown();
  return {
    url: `http://127.0.0.1:${port}`,
    host: "http://127.0.0.1",
    port,
    get requests() {
      return requests;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** A minimal one-route config pointing at the given backends. */
export function routeConfig(
  backends: Array<{ port: number; weight?: number; health_check_path?: string }>,
  route: Record<string, unknown> = {},
  top: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    version: 1,
    ...top,
    routers: [{
      external_path: "/api/{*rest}",
      internal_path: "/{rest}",
      methods: ["GET", "POST", "PUT", "DELETE", "PATCH"],
      backends: backends.map((b) => ({ host: "http://127.0.0.1", weight: 1, ...b })),
      ...route,
    }],
  };
}

/** Reads a response body to text (so no resource leaks), returning status and body. */
export async function fetchText(
  url: string,
  init?: RequestInit,
): Promise<{ status: number; headers: Headers; body: string }> {
  const res = await fetch(url, init);
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** The value of one Prometheus series (`name{labels}` exactly as rendered), or undefined if absent. */
export function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Polls `check` every 20 ms until it holds; throws `timed out waiting for <what>` after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Pids of the workers a supervisor's JSON log reports as started, in order. */
export function workerPids(output: string): number[] {
  return [...output.matchAll(/"msg":"worker started","worker":\d+,"pid":(\d+)/g)].map((m) => Number(m[1]));
}

export interface RawResponse {
  status: number;
  head: string;
  body: string;
}

/** Sends `head` byte for byte (each char one byte) with `Connection: close` and reads the whole answer. */
export async function rawRequest(
  port: number,
  requestLine: string,
  fields = "Host: gw.example\r\n",
): Promise<RawResponse> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), 5000);
  try {
    const text = `${requestLine}\r\n${fields}Connection: close\r\n\r\n`;
    await conn.write(Uint8Array.from(text, (c) => c.charCodeAt(0)));
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(65536);
    while (true) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    const all = new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
    const split = all.indexOf("\r\n\r\n");
    return {
      status: Number(all.slice(9, 12)),
      head: all.slice(0, split),
      body: all.slice(split + 4),
    };
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
}
