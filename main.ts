/**
 * Kairos CLI: `serve` (default), `validate`, `schema`, `version`. Flags beat environment variables,
 * which beat the config file.
 */
import { configJsonSchema } from "./src/config/json_schema.ts";
import { loadConfigFile, type LoadResult } from "./src/config/load.ts";
import { locateProblems } from "./src/config/source_positions.ts";
import { readTlsFiles, type TlsFiles } from "./src/config/tls_files.ts";
import { formatProblems } from "./src/config/problems.ts";
import type { Config } from "./src/config/schema.ts";
import { summarizeConfig } from "./src/config/summary.ts";
import {
  createLogger,
  type LogFormat,
  type Logger,
  parseLogLevel,
  withFields,
} from "./src/observe/logger.ts";
import { ConfigStore } from "./src/runtime/config_store.ts";
import { createServiceNotifier, type ServiceNotifier } from "./src/runtime/service_notifier.ts";
import { startControlPlane } from "./src/runtime/control_plane.ts";
import { Gateway } from "./src/runtime/gateway.ts";
import { startHttpsRedirect } from "./src/runtime/https_redirect.ts";
import { formatListenAddress, parsePortText, parseWholeNumber } from "./src/runtime/listen_address.ts";
import { VERSION } from "./src/runtime/version.ts";
import { runWorker } from "./src/runtime/workers/worker_agent.ts";
import { WORKER_ENV } from "./src/runtime/workers/worker_socket.ts";
import { WorkerSupervisor } from "./src/runtime/workers/worker_supervisor.ts";

const USAGE = `Kairos ${VERSION}: a multi-protocol API gateway (drop-in for kairos-rs).

Usage:
  kairos [serve] [-c|--config FILE] [--host HOST] [--port PORT] [--workers N]
                                                                 run the gateway (default command)
  kairos validate [-c|--config FILE] [--strict]                  check a config; never binds a port
  kairos schema                                                  print the config's JSON Schema
  kairos version                                                 print the version
  kairos --help                                                  this text

Environment:
  KAIROS_CONFIG_PATH  config file (default ./config.json; JSON, or YAML by .yaml/.yml extension)
  KAIROS_HOST         listen address (default 0.0.0.0)      KAIROS_PORT  listen port (default 5900)
  KAIROS_WORKERS      processes sharing the port (default 1; Linux; also server.workers)
  KAIROS_LOG_LEVEL    debug|info|warn|error (default info; RUST_LOG is accepted as a fallback)
  KAIROS_LOG_FORMAT   json|pretty (default json)
  KAIROS_ADMIN_HOST   admin listener address (default 127.0.0.1)   KAIROS_ADMIN_PORT  (default 5901)
  KAIROS_ADMIN_TOKEN  admin API bearer token (required when the admin address is not loopback)
  KAIROS_WATCH_CONFIG 0 turns off reloading when the config file changes (SIGHUP and the API still reload)
  DENO_CERT           a PEM CA file trusted for every TLS connection (besides server.upstream_ca_files)
  DENO_TLS_CA_STORE   system: trust the operating system's CA store instead of the bundled roots
`;

interface CliArgs {
  command: "serve" | "validate" | "schema" | "version" | "help";
  config?: string;
  host?: string;
  port?: string;
  workers?: string;
  strict: boolean;
}

// Which options each command takes: an option another command takes is a mistake worth naming
// (`serve --strict` would check only the startup config, not reloads), not something to ignore.
const OPTIONS: Record<CliArgs["command"], readonly string[]> = {
  serve: ["-c", "--config", "--host", "--port", "--workers"],
  validate: ["-c", "--config", "--strict"],
  schema: [],
  version: [],
  help: [],
};
const TAKES_VALUE = new Set(["-c", "--config", "--host", "--port", "--workers"]);
const KNOWN = new Set([...TAKES_VALUE, "--strict", "-h", "--help", "-V", "--version"]);

/** Parses argv; throws TypeError with a message fit for the terminal. */
export function parseArgs(argv: readonly string[]): CliArgs {
  const args: CliArgs = { command: "serve", strict: false };
  let i = 0;
  const first = argv[0];
  if (first && !first.startsWith("-")) {
    if (
      first !== "serve" && first !== "validate" && first !== "schema" && first !== "version" &&
      first !== "help"
    ) {
      throw new TypeError(`Unknown command "${first}": expected serve, validate, schema or version`);
    }
    args.command = first;
    i = 1;
  }
  const used: string[] = [];
  let asked = false; // --help or --version anywhere: answer it whatever else is on the line
  for (; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.startsWith("-") ? arg.indexOf("=") : -1;
    const [flag, inline] = eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    if (!KNOWN.has(flag)) {
      throw new TypeError(
        arg.startsWith("-")
          ? `Unknown option "${arg}" (see --help)`
          : `Unexpected argument "${arg}": the config file goes after -c (see --help)`,
      );
    }
    if (!TAKES_VALUE.has(flag) && inline !== undefined) {
      throw new TypeError(`Option ${flag} takes no value: got "${arg}"`);
    }
    const value = () => {
      const v = inline ?? argv[++i];
      // `--port --host X` would otherwise take "--host" as the port and then reject "X".
      if (v === undefined || v === "" || (inline === undefined && KNOWN.has(v.split("=")[0]))) {
        throw new TypeError(`Option ${flag} needs a value`);
      }
      return v;
    };
    switch (flag) {
      case "-c":
      case "--config":
        args.config = value();
        break;
      case "--host":
        args.host = value();
        break;
      case "--port":
        args.port = value();
        break;
      case "--workers":
        args.workers = value();
        break;
      case "--strict":
        args.strict = true;
        break;
      case "-h":
      case "--help":
        args.command = "help";
        asked = true;
        break;
      case "-V":
      case "--version":
        args.command = "version";
        asked = true;
        break;
    }
    if (TAKES_VALUE.has(flag) || flag === "--strict") used.push(flag);
  }
  for (const flag of asked ? [] : used) {
    if (!OPTIONS[args.command].includes(flag)) {
      throw new TypeError(`Option ${flag} does not apply to "${args.command}" (see --help)`);
    }
  }
  return args;
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

/** Log level and format from the environment; throws TypeError naming the variable of a bad value. */
function logOptions(): { level: ReturnType<typeof parseLogLevel>; format: LogFormat } {
  const levelName = env("KAIROS_LOG_LEVEL") !== undefined ? "KAIROS_LOG_LEVEL" : "RUST_LOG";
  let level;
  try {
    level = parseLogLevel(env(levelName));
  } catch (err) {
    throw new TypeError(`${levelName} is invalid: ${(err as Error).message}`);
  }
  const format = (env("KAIROS_LOG_FORMAT") ?? "json").toLowerCase();
  if (format !== "json" && format !== "pretty") {
    throw new TypeError(
      `Cannot log as KAIROS_LOG_FORMAT must be json or pretty: current value is "${format}"`,
    );
  }
  return { level, format };
}

function parsePort(value: string, source: string): number {
  const port = parsePortText(value);
  if (port === undefined) {
    throw new TypeError(
      `Cannot listen as ${source} must be a port number 0-65535: current value is "${value}"`,
    );
  }
  return port;
}

function parseWorkers(value: string, source: string): number {
  const workers = parseWholeNumber(value, 64);
  if (workers === undefined || workers < 1) {
    throw new TypeError(
      `Cannot start workers as ${source} must be a whole number 1-64: current value is "${value}"`,
    );
  }
  return workers;
}

async function main(argv: readonly string[]): Promise<number> {
  let args: CliArgs;
  try {
    args = parseArgs(argv);
  } catch (err) {
    console.error(`kairos: ${(err as Error).message}`);
    return 2;
  }
  switch (args.command) {
    case "help":
      console.log(USAGE);
      return 0;
    case "version":
      console.log(`kairos ${VERSION}`);
      return 0;
    case "schema":
      console.log(JSON.stringify(configJsonSchema(), null, 2));
      return 0;
  }
  const workerId = env(WORKER_ENV.id);
  if (workerId !== undefined && args.command === "serve") {
    // A worker started by the first process: config, address and lifetime all come from it.
    runWorker({
      id: Number(workerId),
      dir: env(WORKER_ENV.dir) ?? "",
      host: env(WORKER_ENV.host) ?? "0.0.0.0",
      port: Number(env(WORKER_ENV.port)),
      logger: withFields(createLogger(logOptions()), { worker: Number(workerId) }),
    });
    return -1;
  }
  const configPath = args.config ?? env("KAIROS_CONFIG_PATH") ?? "./config.json";
  const loaded = await withTlsFiles(await loadConfigFile(configPath, { strict: args.strict }));
  if (args.command === "validate") {
    if (loaded.warnings.length > 0) console.error(`warnings:\n${formatProblems(loaded.warnings)}`);
    if (!loaded.ok) {
      console.error(`${configPath} is invalid:\n${formatProblems(loaded.errors)}`);
      return 1;
    }
    console.log(`${configPath} is valid.\n${summarizeConfig(loaded.config)}`);
    return 0;
  }

  let logger: Logger;
  try {
    logger = createLogger(logOptions());
  } catch (err) {
    console.error(`kairos: ${(err as Error).message}`);
    return 1;
  }
  for (const warning of loaded.warnings) {
    logger.warn("config warning", { path: warning.path, problem: warning.message });
  }
  if (!loaded.ok) {
    logger.error("config is invalid; not starting", {
      config: configPath,
      errors: formatProblems(loaded.errors),
    });
    console.error(`${configPath} is invalid:\n${formatProblems(loaded.errors)}`);
    return 1;
  }
  let host: string;
  let port: number;
  let workers: number;
  try {
    const workersText = args.workers ?? env("KAIROS_WORKERS");
    workers = workersText !== undefined
      ? parseWorkers(workersText, args.workers !== undefined ? "--workers" : "KAIROS_WORKERS")
      : loaded.config.server.workers ?? 1;
    host = args.host ?? env("KAIROS_HOST") ?? loaded.config.server.host ?? "0.0.0.0";
    const portText = args.port ?? env("KAIROS_PORT");
    port = portText !== undefined
      ? parsePort(portText, args.port !== undefined ? "--port" : "KAIROS_PORT")
      : loaded.config.server.port ?? 5900;
  } catch (err) {
    console.error(`kairos: ${(err as Error).message}`);
    return 1;
  }
  let notifier: ServiceNotifier | undefined;
  try {
    // Refuse what cannot work before anything binds.
    const workerCommand = workers > 1 ? await WorkerSupervisor.preflight(workers) : undefined;
    let supervisor: WorkerSupervisor | undefined;
    let redirect: Deno.HttpServer | undefined;
    const notify = notifier = createServiceNotifier(env, logger);
    const gateway: Gateway = new Gateway({
      config: loaded.config,
      host,
      port,
      logger,
      // Installed by start(), after `store` exists.
      onReloadSignal: async (): Promise<unknown> => {
        notify.reloading();
        try {
          return await store.reloadFromFile("signal");
        } finally {
          notify.ready(`serving ${gateway.snapshot.routes.length} routes`);
        }
      },
      reusePort: workers > 1,
      tlsFiles: loaded.tlsFiles,
      metricsSource: workers > 1
        ? () => supervisor?.renderMetrics() ?? Promise.resolve(gateway.renderMetrics())
        : undefined,
      workers: () => supervisor?.status() ?? [],
      onShutdown: async () => {
        notify.stopping();
        const { drain_delay_ms: delay, shutdown_grace_ms: grace } = gateway.snapshot.config.server;
        await Promise.all([
          supervisor?.stop(delay + grace + 2000),
          // The plain-HTTP port, like the TLS one, keeps answering through the drain delay.
          redirect && new Promise((resolve) => setTimeout(resolve, delay)).then(() => redirect?.shutdown()),
        ]);
        await notify.close();
      },
    });
    // The store owns the file from here on: SIGHUP, file changes and the admin API all go through it.
    // With several workers, every config it applies is handed on to the others.
    const target = workers > 1
      ? {
        get snapshot() {
          return gateway.snapshot;
        },
        metrics: gateway.metrics,
        apply: (config: Config) => gateway.apply(config),
        settled: () => supervisor?.broadcast() ?? Promise.resolve(),
      }
      : gateway;
    const store: ConfigStore = new ConfigStore({ path: configPath, loaded, target, logger });
    await startControlPlane({ gateway, store, logger, env });
    try {
      gateway.start();
    } catch (err) {
      // Deno's "Address already in use (os error 98)" does not say which address.
      throw new Error(`Cannot listen on ${formatListenAddress(host, port)}: ${(err as Error).message}`);
    }
    // One process answers the plain-HTTP port, as it runs the admin listener: the workers share only the TLS port.
    const tls = loaded.config.server.tls;
    if (tls?.redirect_http_port !== undefined) {
      try {
        redirect = startHttpsRedirect({
          hostname: host,
          port: tls.redirect_http_port,
          httpsPort: gateway.addr.port,
          acmeWebroot: tls.acme_webroot,
          logger,
        });
      } catch (err) {
        const address = formatListenAddress(host, tls.redirect_http_port);
        throw new Error(
          `Cannot listen on ${address} (server.tls.redirect_http_port): ${(err as Error).message}`,
        );
      }
    }
    if (workerCommand) {
      supervisor = await WorkerSupervisor.start({
        command: workerCommand,
        workers,
        host,
        port: gateway.addr.port,
        logger,
        ownMetrics: () => gateway.renderMetrics(),
        config: () => store.config,
      });
    }
    notify.ready(
      `serving ${gateway.snapshot.routes.length} routes on ${formatListenAddress(host, gateway.addr.port)}`,
    );
  } catch (err) {
    await notifier?.close(); // its socket (and temp directory) would outlive the exit
    logger.error("cannot start", { error: (err as Error).message });
    console.error(`kairos: cannot start: ${(err as Error).message}`);
    return 1;
  }
  return -1; // keep running; shutdown() exits the process
}

/**
 * Reads the TLS files a valid config names (`validate` and `serve` alike; nothing binds): a file that is
 * missing or holds no usable PEM makes the config invalid, its problem located like any other.
 */
async function withTlsFiles(
  loaded: LoadResult,
): Promise<(LoadResult & { ok: false }) | (LoadResult & { ok: true; tlsFiles: TlsFiles })> {
  if (!loaded.ok) return loaded;
  const read = readTlsFiles(loaded.config);
  if (read.ok) return { ...loaded, tlsFiles: read.files };
  return { ...loaded, ok: false, errors: await locateProblems(loaded.text, read.errors) };
}

if (import.meta.main) {
  const code = await main(Deno.args);
  if (code >= 0) Deno.exit(code);
}
