/**
 * A worker process (`KAIROS_WORKER_ID` set): it runs the data plane only. Its config comes from the first
 * process over the worker socket, never from the file, so every worker runs exactly what the first one
 * runs, failed reloads and unpersisted API edits included. It listens once the first config arrives,
 * serves `/metrics` with everyone's series (asked of the first process), and stops when its stdin closes,
 * which happens when the first process dies.
 */
import { formatProblems } from "../../config/problems.ts";
import { readTlsFiles } from "../../config/tls_files.ts";
import { validateConfig } from "../../config/validate.ts";
import type { Logger } from "../../observe/logger.ts";
import { PROMETHEUS_CONTENT_TYPE } from "../../observe/metrics_registry.ts";
import { Gateway } from "../gateway.ts";
import { primarySocketPath, socketCall, socketClient, workerSocketPath } from "./worker_socket.ts";

export interface WorkerAgentOptions {
  readonly id: number;
  readonly dir: string;
  readonly host: string;
  readonly port: number;
  readonly logger: Logger;
}

const METRICS_TIMEOUT_MS = 5000;

/** Serves the worker socket and waits for the first config; the gateway starts when it arrives. */
export function runWorker(options: WorkerAgentOptions): void {
  const { id, dir, host, port, logger } = options;
  const primary = socketClient(primarySocketPath(dir));
  let gateway: Gateway | undefined;

  const take = async (request: Request): Promise<Response> => {
    let raw: unknown;
    try {
      raw = JSON.parse(await request.text());
    } catch (err) {
      return new Response(`Cannot parse the config: ${(err as Error).message}`, { status: 400 });
    }
    const result = validateConfig(raw);
    if (!result.ok) return new Response(formatProblems(result.errors), { status: 422 });
    if (gateway) {
      // Reads the TLS files itself, so it serves the same certificate as the first worker.
      const outcome = gateway.apply(result.config);
      return outcome.ok ? new Response(null, { status: 204 }) : new Response(formatProblems(outcome.errors), {
        status: 422,
      });
    }
    const read = readTlsFiles(result.config);
    if (!read.ok) return new Response(formatProblems(read.errors), { status: 422 });
    gateway = new Gateway({
      config: result.config,
      host,
      port,
      logger,
      reusePort: true,
      tlsFiles: read.files,
      metricsSource: async () => {
        const answer = await socketCall(primary, "GET", "/metrics", METRICS_TIMEOUT_MS);
        if (answer.status !== 200) throw new Error(`the first worker answered ${answer.status}`);
        return answer.text;
      },
    });
    gateway.start();
    return new Response(null, { status: 204 });
  };

  const path = workerSocketPath(dir, id);
  try {
    Deno.removeSync(path); // left behind by this worker's previous run
  } catch { /* not there */ }
  Deno.serve({ path, onListen() {} }, (request) => {
    const route = `${request.method} ${new URL(request.url).pathname}`;
    if (route === "PUT /config") return take(request);
    if (route === "GET /metrics") {
      return gateway
        ? new Response(gateway.renderMetrics(), { headers: { "content-type": PROMETHEUS_CONTENT_TYPE } })
        : new Response("not started\n", { status: 503 });
    }
    return new Response("not found\n", { status: 404 });
  });

  // A SIGHUP sent to every process (pkill -HUP kairos) reloads worker 0, which hands the result on; by
  // default it would kill this one.
  Deno.addSignalListener(
    "SIGHUP",
    () => logger.debug("SIGHUP ignored: worker 0 reloads and hands the config on"),
  );

  void watchLifeline(() => {
    logger.warn("the first worker is gone; stopping");
    // A killed first process cannot remove its socket directory; the workers it leaves behind do.
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch { /* another worker did */ }
    if (gateway) void gateway.shutdown("first worker gone");
    else Deno.exit(0);
  });
}

/** Calls `gone` when stdin (a pipe from the first process, never written to) reaches EOF. */
async function watchLifeline(gone: () => void): Promise<void> {
  const buf = new Uint8Array(64);
  try {
    while ((await Deno.stdin.read(buf)) !== null) { /* nothing is ever sent */ }
  } catch { /* closed */ }
  gone();
}
