/**
 * The first process's side of `server.workers > 1`: it starts the other workers (the same command line,
 * marked by KAIROS_WORKER_ID), hands each the config it runs, restarts one that dies, merges everyone's
 * metrics, and stops them when it stops. Every worker binds the gateway port with SO_REUSEPORT, so the
 * kernel spreads client connections over them; the admin listener and the config file stay here.
 */
import type { Config } from "../../config/schema.ts";
import type { Logger } from "../../observe/logger.ts";
import { mergeWorkerMetrics } from "../../observe/metrics_merge.ts";
import { PROMETHEUS_CONTENT_TYPE } from "../../observe/metrics_registry.ts";
import { workerCommand } from "./child_command.ts";
import {
  primarySocketPath,
  socketCall,
  socketClient,
  WORKER_ENV,
  workerSocketPath,
} from "./worker_socket.ts";

export interface SupervisorOptions {
  /** Workers in all, this process included. */
  readonly workers: number;
  /** The address this process bound; the workers bind the same. */
  readonly host: string;
  readonly port: number;
  readonly logger: Logger;
  /** This process's own Prometheus text. */
  readonly ownMetrics: () => string;
  /** The config the workers must run (the config store's current one). */
  readonly config: () => Config;
  /** How to start a worker (from `preflight`). */
  readonly command: { program: string; args: string[] };
}

/** One worker as `/api/status` shows it (worker 0, this process, is not listed). */
export interface WorkerStatus {
  readonly id: number;
  /** Its process id, or null while it is being restarted. */
  readonly pid: number | null;
  /** Restarts since it last ran for a minute. */
  readonly restarts: number;
  readonly started_at: string | null;
}

interface Worker {
  readonly id: number;
  readonly client: Deno.HttpClient;
  process: Deno.ChildProcess | undefined;
  startedAt: number;
  restarts: number;
  restartTimer: ReturnType<typeof setTimeout> | undefined;
  /** It took a config since it last started: from then on, failing to take one leaves it diverged. */
  configured: boolean;
  /** Config pushes to this worker, one at a time, so an older config never lands after a newer one. */
  pushes: Promise<unknown>;
}

const CALL_TIMEOUT_MS = 2000;
const READY_TIMEOUT_MS = 30_000;
// A worker that ran this long before dying restarts at once; one that keeps dying waits longer each time.
const STABLE_MS = 60_000;
const MAX_RESTART_DELAY_MS = 30_000;

export class WorkerSupervisor {
  readonly #options: SupervisorOptions;
  readonly #dir: string;
  readonly #workers: Worker[] = [];
  readonly #server: Deno.HttpServer;
  #stopping = false;

  private constructor(options: SupervisorOptions, dir: string) {
    this.#options = options;
    this.#dir = dir;
    this.#server = Deno.serve({ path: primarySocketPath(dir), onListen() {} }, async (request) => {
      if (request.method === "GET" && new URL(request.url).pathname === "/metrics") {
        return new Response(await this.renderMetrics(), {
          headers: { "content-type": PROMETHEUS_CONTENT_TYPE },
        });
      }
      return new Response("not found\n", { status: 404 });
    });
    for (let id = 1; id < options.workers; id++) {
      this.#workers.push({
        id,
        client: socketClient(workerSocketPath(dir, id)),
        process: undefined,
        startedAt: 0,
        restarts: 0,
        restartTimer: undefined,
        configured: false,
        pushes: Promise.resolve(),
      });
    }
  }

  /**
   * Checks, before anything binds, that `workers` processes can run here; returns how to start one.
   * Throws TypeError with the reason (not Linux, no --allow-run, no --unstable-net, no /proc/self/cmdline).
   */
  static async preflight(workers: number): Promise<{ program: string; args: string[] }> {
    if (Deno.build.os !== "linux") {
      throw new TypeError(
        `Cannot run ${workers} workers on ${Deno.build.os}: sharing the port needs Linux's SO_REUSEPORT; ` +
          "set server.workers to 1",
      );
    }
    const run = await Deno.permissions.query({ name: "run" });
    if (run.state !== "granted") {
      throw new TypeError(
        `Cannot run ${workers} workers: starting them needs --allow-run (or set server.workers to 1)`,
      );
    }
    // Without --unstable-net, Deno exits the process on `reusePort` instead of throwing; the unstable
    // `Deno.listenDatagram` is defined exactly when that flag is on.
    if (typeof (Deno as { listenDatagram?: unknown }).listenDatagram !== "function") {
      throw new TypeError(
        `Cannot run ${workers} workers: sharing the port needs --unstable-net (the deno.json tasks and the compiled binaries have it)`,
      );
    }
    return workerCommand();
  }

  /** Starts the other workers (after `preflight`, once this process listens). */
  static async start(options: SupervisorOptions): Promise<WorkerSupervisor> {
    const dir = await Deno.makeTempDir({ prefix: "kairos-workers-" });
    await Deno.chmod(dir, 0o700);
    const supervisor = new WorkerSupervisor(options, dir);
    for (const worker of supervisor.#workers) supervisor.#spawn(worker);
    return supervisor;
  }

  /** The other workers, for `/api/status`. */
  status(): WorkerStatus[] {
    return this.#workers.map((w) => ({
      id: w.id,
      pid: w.process?.pid ?? null,
      restarts: w.restarts,
      started_at: w.process ? new Date(w.startedAt).toISOString() : null,
    }));
  }

  /**
   * Resolves when every running worker runs the current config (called after each reload here). A worker
   * that cannot take it would keep serving the old one beside workers on the new: it is restarted (it
   * drains, then starts on the current config, with the usual backoff if it keeps failing).
   */
  async broadcast(): Promise<void> {
    await Promise.all(this.#workers.map(async (worker) => {
      const process = worker.process;
      if (!process) return;
      try {
        const answer = await this.#push(worker);
        if (answer.status !== 204) throw new Error(`status ${answer.status}: ${answer.text}`);
      } catch (err) {
        // One still starting gets the current config when its socket answers (#handOver).
        if (!worker.configured || worker.process !== process || this.#stopping) return;
        this.#options.logger.error("worker did not take the new config; restarting it", {
          worker: worker.id,
          pid: process.pid,
          error: (err as Error).message,
        });
        signal(process, "SIGTERM");
      }
    }));
  }

  /** Sends the current config (read when the push runs, not when it was queued) to `worker`. */
  #push(worker: Worker): Promise<{ status: number; text: string }> {
    const push = worker.pushes.then(() =>
      socketCall(
        worker.client,
        "PUT",
        "/config",
        CALL_TIMEOUT_MS,
        JSON.stringify(this.#options.config(), escapePlaceholders),
      )
    );
    worker.pushes = push.catch(() => {});
    return push;
  }

  /** Every worker's series, labelled `worker="N"` (0 is this process); a silent worker is left out. */
  async renderMetrics(): Promise<string> {
    const others = await Promise.all(this.#workers.map(async (worker) => {
      if (!worker.process) return undefined;
      try {
        const answer = await socketCall(worker.client, "GET", "/metrics", CALL_TIMEOUT_MS);
        return answer.status === 200 ? { worker: String(worker.id), text: answer.text } : undefined;
      } catch {
        return undefined;
      }
    }));
    return mergeWorkerMetrics([
      { worker: "0", text: this.#options.ownMetrics() },
      ...others.filter((m) => m !== undefined),
    ]);
  }

  /** SIGTERM to every worker (each drains within its grace period), then waits; SIGKILL after `waitMs`. */
  async stop(waitMs: number): Promise<void> {
    this.#stopping = true;
    const running = this.#workers.flatMap((w) => {
      clearTimeout(w.restartTimer);
      return w.process ? [w.process] : [];
    });
    for (const process of running) signal(process, "SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => timer = setTimeout(resolve, waitMs));
    await Promise.race([Promise.all(running.map((p) => p.status)), late]);
    clearTimeout(timer);
    for (const process of running) signal(process, "SIGKILL");
    await Promise.all(running.map((p) => p.status));
    for (const worker of this.#workers) worker.client.close();
    await this.#server.shutdown();
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }

  #spawn(worker: Worker): void {
    const { host, port, logger } = this.#options;
    const { command } = this.#options;
    const process = new Deno.Command(command.program, {
      args: command.args,
      env: {
        [WORKER_ENV.id]: String(worker.id),
        [WORKER_ENV.dir]: this.#dir,
        [WORKER_ENV.host]: host,
        [WORKER_ENV.port]: String(port),
      },
      // stdin stays open and silent: when this process dies, the worker reads EOF and stops.
      stdin: "piped",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    worker.process = process;
    worker.configured = false;
    worker.startedAt = Date.now();
    logger.info("worker started", { worker: worker.id, pid: process.pid });
    process.status.then((status) => this.#exited(worker, process, status));
    void this.#handOver(worker, process);
  }

  /** Gives a new worker its config as soon as its socket answers; it listens once it has one. */
  async #handOver(worker: Worker, process: Deno.ChildProcess): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (worker.process === process && !this.#stopping && Date.now() < deadline) {
      try {
        const answer = await this.#push(worker);
        if (answer.status === 204) {
          worker.configured = true;
          return;
        }
        // Left alone it would sit there never listening; restarted, it retries with the usual backoff.
        this.#options.logger.error("worker refused the config; restarting it", {
          worker: worker.id,
          pid: process.pid,
          error: answer.text,
        });
        if (worker.process === process && !this.#stopping) signal(process, "SIGKILL");
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    if (worker.process === process && !this.#stopping) {
      this.#options.logger.error("worker did not come up; stopping it", {
        worker: worker.id,
        pid: process.pid,
      });
      signal(process, "SIGKILL");
    }
  }

  #exited(worker: Worker, process: Deno.ChildProcess, status: Deno.CommandStatus): void {
    if (worker.process !== process) return;
    worker.process = undefined;
    if (this.#stopping) return;
    worker.restarts = Date.now() - worker.startedAt >= STABLE_MS ? 0 : worker.restarts + 1;
    const delay = restartDelay(worker.restarts);
    this.#options.logger.error("worker exited; restarting it", {
      worker: worker.id,
      pid: process.pid,
      code: status.code,
      signal: status.signal,
      restart_in_ms: delay,
    });
    worker.restartTimer = setTimeout(() => {
      worker.restartTimer = undefined;
      if (!this.#stopping) this.#spawn(worker);
    }, delay);
  }
}

/**
 * The config sent is already expanded, and a worker validates it again, expanding `${NAME}` once more:
 * a literal `${X}` (written `$${X}` in the file) would become the worker's $X, or fail as unset.
 * Escaping every `${` as `$${` makes the second expansion give back exactly this process's values.
 */
function escapePlaceholders(_key: string, value: unknown): unknown {
  // A function, because "$$" in a replacement string is itself an escape for "$".
  return typeof value === "string" ? value.replaceAll("${", () => "$${") : value;
}

/** Sends `sig` to `process`, which may already have exited. */
function signal(process: Deno.ChildProcess, sig: Deno.Signal): void {
  try {
    process.kill(sig);
  } catch { /* already gone */ }
}

/** Wait before a restart: none after a stable run, then 250 ms doubling per quick death, at most 30 s. */
export function restartDelay(quickRestarts: number): number {
  return quickRestarts === 0 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 250 * 2 ** (quickRestarts - 1));
}
