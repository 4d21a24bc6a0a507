/**
 * The running gateway: owns the current Snapshot, the listener, upstream transport, health checks
 * and the signal handlers. Reload builds a new Snapshot and swaps one reference (no await between
 * the check and the swap); requests in flight finish on the snapshot they started with. The TLS files
 * are read again on every reload: a changed certificate gets a new listener, changed roots a new trust.
 */
import { type ConfigProblem, formatProblems } from "../config/problems.ts";
import type { Config, ServerConfig } from "../config/schema.ts";
import {
  readTlsFiles,
  readTlsFilesOrThrow,
  sameCaCerts,
  sameTlsFiles,
  type TlsFiles,
} from "../config/tls_files.ts";
import { createAccessLog } from "../observe/access_log.ts";
import { type AccessLogFile, openAccessLogFile } from "../observe/access_log_file.ts";
import { createGatewayMetrics, type GatewayMetrics } from "../observe/gateway_metrics.ts";
import type { Logger } from "../observe/logger.ts";
import { MetricsRegistry } from "../observe/metrics_registry.ts";
import { createJwksCache } from "../policy/jwks_cache.ts";
import { createMemoryRateLimitStore } from "../policy/rate_limit_store.ts";
import type { PolicyDeps } from "../policy/pipeline.ts";
import type { LogLevel } from "../observe/logger.ts";
import { BackendRegistry, type BackendState } from "../upstream/backend_state.ts";
import type { UpstreamClient } from "../upstream/client.ts";
import { createFetchClient } from "../upstream/fetch_client.ts";
import { createHttp1Client } from "../upstream/http1/http1_client.ts";
import { HealthChecker } from "../upstream/health_checker.ts";
import { createRequestHandler, type HandlerState } from "./request_handler.ts";
import { isLoggedBodyFailure } from "./request_record.ts";
import { createWebSocketProxy, type WebSocketProxy } from "../protocols/websocket/websocket_proxy.ts";
import { GatewayListener } from "./gateway_listener.ts";
import { buildSnapshot, type Snapshot } from "./snapshot.ts";
import type { WorkerStatus } from "./workers/worker_supervisor.ts";

export interface GatewayOptions {
  readonly config: Config;
  readonly host: string;
  readonly port: number;
  readonly logger: Logger;
  /** What SIGHUP runs: the config store, the one owner of reloads (file, SIGHUP, admin API). */
  readonly onReloadSignal?: () => Promise<unknown>;
  /** Bind with SO_REUSEPORT, so several worker processes share the port (server.workers > 1). */
  readonly reusePort?: boolean;
  /** What `/metrics` serves instead of this process's own series (every worker's, merged). */
  readonly metricsSource?: () => Promise<string>;
  /** Runs while this process drains (stops the other workers); awaited before exit. */
  readonly onShutdown?: () => Promise<void>;
  /** The other worker processes, for `/api/status`. */
  readonly workers?: () => readonly WorkerStatus[];
  /** What `config`'s TLS files hold, when the caller has read them already; otherwise they are read here. */
  readonly tlsFiles?: TlsFiles;
}

export interface ReloadOutcome {
  readonly ok: boolean;
  readonly version: number;
  readonly changed: boolean;
  readonly errors: ConfigProblem[];
}

export class Gateway {
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  readonly registry = new MetricsRegistry();
  readonly backends = new BackendRegistry();
  readonly startedAt = Date.now();
  readonly client: UpstreamClient;
  #snapshot: Snapshot;
  #listener: GatewayListener | undefined;
  #tlsFiles: TlsFiles;
  #draining = false;
  #accessLogFile: AccessLogFile | undefined;
  /** fetch's client for JWKS requests when `upstream_ca_files` adds roots; undefined: the default roots. */
  #jwksHttp: Deno.HttpClient | undefined;
  #options: GatewayOptions;
  #policy: PolicyDeps;
  #health: HealthChecker;
  #accessLog;
  #signals: Array<[Deno.Signal, () => void]> = [];
  #configText: string;
  #websockets: WebSocketProxy;

  constructor(options: GatewayOptions) {
    this.#options = options;
    this.logger = options.logger;
    this.#tlsFiles = options.tlsFiles ?? readTlsFilesOrThrow(options.config);
    this.metrics = createGatewayMetrics(this.registry);
    const caCerts = this.#tlsFiles.upstreamCaCerts?.slice();
    this.#jwksHttp = jwksHttpClient(caCerts);
    this.client = createUpstreamClient(options.config.server, caCerts);
    const logger = this.logger;
    this.#policy = {
      rateLimitStore: createMemoryRateLimitStore(),
      // A JWKS endpoint is an upstream too: an identity provider behind a private CA needs the same roots.
      jwks: createJwksCache((input, init) =>
        fetch(input, this.#jwksHttp === undefined ? init : { ...init, client: this.#jwksHttp })
      ),
      log: (level: LogLevel, msg: string, fields?: Record<string, unknown>) => logger[level](msg, fields),
    };
    const { access_log: accessLog, access_log_file: accessLogPath } = options.config.server;
    const file = this.#accessLogFile = accessLog && accessLogPath
      ? openAccessLogFile(accessLogPath)
      : undefined;
    this.#accessLog = !accessLog ? undefined : createAccessLog(
      file === undefined ? {} : {
        write: (text) => file.write(text),
        onError: (err) => logger.error("cannot write the access log; lines dropped", { error: String(err) }),
      },
    );
    this.#websockets = createWebSocketProxy({
      logger: this.logger,
      accessLog: this.#accessLog,
      metrics: this.metrics,
      registry: this.registry,
      caCerts: () => this.#tlsFiles.upstreamCaCerts,
    });
    this.#snapshot = buildSnapshot(options.config, 1, this.#snapshotDeps());
    this.#configText = JSON.stringify(options.config);
    this.#health = new HealthChecker({
      probe: (backend, timeoutMs, signal) => this.#probe(backend, timeoutMs, signal),
      onChange: (backend, healthy) =>
        logger[healthy ? "info" : "warn"](healthy ? "backend is healthy again" : "backend marked unhealthy", {
          backend: backend.key,
        }),
    });
    this.#updateHealthChecks();
  }

  /** The snapshot new requests use. */
  get snapshot(): Snapshot {
    return this.#snapshot;
  }

  get draining(): boolean {
    return this.#draining;
  }

  get addr(): Deno.NetAddr {
    if (!this.#listener) throw new Error("Cannot read the address: the gateway is not listening");
    return this.#listener.addr;
  }

  /** Starts listening and installs the signal handlers. */
  start(): void {
    const state: HandlerState = {
      snapshot: () => this.#snapshot,
      client: this.client,
      metrics: this.metrics,
      accessLog: this.#accessLog,
      logger: this.logger,
      draining: () => this.#draining,
      observeBackend: (backend, ok) => this.#health.observe(backend, ok),
      startedAt: this.startedAt,
      renderMetrics: () => this.renderAllMetrics(),
      websocket: (ctx, route) => this.#websockets.handle(ctx, route),
    };
    // Signals first: once "listening" is logged, a SIGHUP or SIGTERM must find its handler.
    this.#listen("SIGTERM", () => this.shutdown("SIGTERM"));
    this.#listen("SIGINT", () => this.shutdown("SIGINT"));
    if (Deno.build.os !== "windows") {
      const onSignal = this.#options.onReloadSignal;
      if (onSignal) this.#listen("SIGHUP", () => void onSignal());
      // nginx's USR1: after logrotate moved the file, the next lines go to a new one at the same path.
      const file = this.#accessLogFile;
      if (file) this.#listen("SIGUSR1", () => this.#reopenAccessLog(file));
    }
    this.#listener = new GatewayListener({
      hostname: this.#options.host,
      port: this.#options.port,
      shared: this.#options.reusePort ?? false,
      compression: this.#snapshot.config.server.compression,
      handler: createRequestHandler(state),
      logger: this.logger,
      describe: () => ({ routes: this.#snapshot.routes.length, upstream_client: this.client.name }),
      onError: (err) => {
        // A backend that fails mid-body reaches here through the response stream, already logged and counted.
        if (isLoggedBodyFailure(err)) this.logger.debug("response body cut", { error: String(err) });
        else this.logger.error("unhandled error in request handler", { error: String(err) });
        return new Response(JSON.stringify({ error: "Internal gateway error", type: "internal" }), {
          status: 500,
          headers: { "content-type": "application/json" },
        });
      },
    }, this.#tlsFiles.listener);
  }

  /** Prometheus text for the whole registry, with backend gauges refreshed from live state. */
  renderMetrics(): string {
    for (const backend of this.#snapshot.backends) {
      const rec = this.metrics.backendRecorder(backend.key);
      rec.breakerState(backend.breaker.state);
      rec.setUp(backend.healthy);
      rec.inFlight.set(backend.inFlight);
      rec.syncBreaker(backend.breaker.failures, backend.breaker.successes);
      const pool = this.client.stats?.(backend.key);
      if (pool !== undefined) rec.syncPool(pool);
    }
    return this.registry.render();
  }

  /** The other worker processes (empty with one worker). */
  workers(): readonly WorkerStatus[] {
    return this.#options.workers?.() ?? [];
  }

  /** What `/metrics` answers: every worker's series when there are several, else this process's. */
  renderAllMetrics(): string | Promise<string> {
    return this.#options.metricsSource?.() ?? this.renderMetrics();
  }

  /** Builds and swaps in a snapshot for an already validated config. */
  apply(config: Config): ReloadOutcome {
    const text = JSON.stringify(config);
    // Read on every reload, changed config or not: a SIGHUP after `certbot renew` is how a new pair arrives.
    const read = readTlsFiles(config);
    if (!read.ok) return this.#reloadFailed(read.errors);
    const files = read.files;
    if (text === this.#configText && sameTlsFiles(files, this.#tlsFiles)) {
      this.metrics.configReload("unchanged");
      return { ok: true, version: this.#snapshot.version, changed: false, errors: [] };
    }
    let snapshot: Snapshot;
    try {
      snapshot = buildSnapshot(config, this.#snapshot.version + 1, this.#snapshotDeps());
    } catch (err) {
      return this.#reloadFailed([{ path: "", message: (err as Error).message }]);
    }
    const pending = restartOnlyChanges(this.#snapshot.config, config);
    if (pending.length > 0) {
      this.logger.warn("these settings take effect at the next restart", { fields: pending });
    }
    // The steps that can still fail, before the swap, so the reload fails as a whole (old listener, old
    // roots, old config): new roots for connections to come, then a new listener for a new pair.
    const rootsChanged = !sameCaCerts(files.upstreamCaCerts, this.#tlsFiles.upstreamCaCerts);
    try {
      if (rootsChanged) this.#trustRoots(files.upstreamCaCerts);
    } catch (err) {
      return this.#reloadFailed([{
        path: "server.upstream_ca_files",
        message: `cannot trust the new roots: ${(err as Error).message}`,
      }]);
    }
    try {
      this.#listener?.replace(files.listener);
    } catch (err) {
      if (rootsChanged) this.#trustRoots(this.#tlsFiles.upstreamCaCerts);
      return this.#reloadFailed([{
        path: "server.tls",
        message: `cannot serve the new certificate: ${(err as Error).message}`,
      }]);
    }
    // The swap: one synchronous assignment. In-flight requests hold the old snapshot.
    const previous = this.#snapshot;
    this.#snapshot = snapshot;
    this.#configText = text;
    this.#tlsFiles = files;
    this.backends.retain(new Set(snapshot.backends.map((b) => b.key)));
    this.#updateHealthChecks();
    const kept = new Set(snapshot.routes.map((r) => r.id));
    for (const route of previous.routes) if (!kept.has(route.id)) this.metrics.removeRoute(route.id);
    const live = new Set(snapshot.backends.map((b) => b.key));
    this.metrics.reviveBackends(live);
    for (const backend of previous.backends) {
      if (!live.has(backend.key)) this.metrics.removeBackend(backend.key);
    }
    this.metrics.configReload("success");
    this.logger.info("config reloaded", { version: snapshot.version, routes: snapshot.routes.length });
    return { ok: true, version: snapshot.version, changed: true, errors: [] };
  }

  /**
   * Drains: after the drain delay (still serving, /ready 503), stop accepting, let in-flight requests finish
   * within the grace period, then exit.
   */
  async shutdown(reason: string): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    const { shutdown_grace_ms: grace, drain_delay_ms: delay } = this.#snapshot.config.server;
    this.logger.info("shutting down", { reason, delay_ms: delay, grace_ms: grace });
    // The other workers drain at the same time, each within its own delay and grace period.
    const others = this.#options.onShutdown?.();
    // Requests are still served, /ready answers 503: a load balancer that polls it stops sending before the
    // listener closes, instead of seeing refused connections (Traefik's requestAcceptGraceTimeout).
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const graceOver = new Promise<"timeout">((resolve) =>
      timer = setTimeout(() => resolve("timeout"), grace)
    );
    // server.shutdown() drops upgraded sockets without a close frame, so close WebSockets first, with
    // 1001 on both legs, while HTTP requests drain.
    const websockets = this.#websockets.closeAll(1001, "gateway shutting down");
    const result = await Promise.race([this.#listener?.shutdown().then(() => "drained" as const), graceOver]);
    clearTimeout(timer);
    if (result === "timeout") this.logger.warn("grace period over; closing remaining connections");
    await websockets;
    await others;
    // Signal handlers stay installed until exit: a second SIGTERM during shutdown is ignored, not fatal.
    this.#release();
    this.logger.info("stopped", { result });
    Deno.exit(0);
  }

  /** Upstream connections and JWKS fetches from now on trust `caCerts` besides the default roots. */
  #trustRoots(caCerts: readonly string[] | undefined): void {
    this.client.setCaCerts?.(caCerts?.slice());
    const previous = this.#jwksHttp;
    this.#jwksHttp = jwksHttpClient(caCerts?.slice());
    previous?.close();
  }

  /** Releases timers, sockets and signal handlers (tests call this instead of shutdown). */
  close(): void {
    this.#release();
    for (const [signal, handler] of this.#signals) Deno.removeSignalListener(signal, handler);
    this.#signals = [];
  }

  #release(): void {
    this.#health.stop();
    this.client.close();
    this.#policy.rateLimitStore.dispose?.();
    this.#policy.jwks.dispose();
    this.#jwksHttp?.close();
    this.#accessLog?.flush();
    this.#accessLogFile?.close();
    this.#accessLogFile = undefined;
  }

  #reopenAccessLog(file: AccessLogFile): void {
    this.#accessLog?.flush();
    try {
      file.reopen();
      this.logger.info("access log file reopened");
    } catch (err) {
      this.logger.error("cannot reopen the access log file; still writing to the old one", {
        error: (err as Error).message,
      });
    }
  }

  #snapshotDeps() {
    return {
      registry: this.backends,
      metrics: this.metrics,
      policy: this.#policy,
    };
  }

  #reloadFailed(errors: ConfigProblem[]): ReloadOutcome {
    this.metrics.configReload("failure");
    this.logger.error("config reload failed; keeping the running config", { errors: formatProblems(errors) });
    return { ok: false, version: this.#snapshot.version, changed: false, errors };
  }

  #updateHealthChecks(): void {
    const entries: Array<{ backend: BackendState; config: Config["routers"][number]["health_check"] }> = [];
    const seen = new Set<string>();
    for (const route of this.#snapshot.routes) {
      if (route.config.protocol !== "http" && route.config.protocol !== "websocket") continue;
      route.backends.forEach((backend, i) => {
        // The timings of the route that set the path (a backend shared by routes has one check).
        if (route.config.backends[i].health_check_path && !seen.has(backend.key)) {
          seen.add(backend.key);
          entries.push({ backend, config: route.config.health_check });
        }
      });
    }
    this.#health.update(entries);
  }

  async #probe(backend: BackendState, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    const headers = new Headers({ host: backend.target.authority, "user-agent": "kairos-health-check" });
    try {
      const response = await this.client.send(backend.target, {
        method: "GET",
        path: backend.healthCheckPath ?? "/",
        headers,
        body: null,
        connectTimeoutMs: timeoutMs,
        firstByteTimeoutMs: timeoutMs,
        idleTimeoutMs: timeoutMs,
        signal,
      });
      await response.body?.cancel();
      return response.status >= 200 && response.status < 400;
    } catch {
      return false;
    }
  }

  #listen(signal: Deno.Signal, handler: () => void): void {
    Deno.addSignalListener(signal, handler);
    this.#signals.push([signal, handler]);
  }
}

/** Settings a reload cannot change, because the listeners and processes they describe are already running. */
const RESTART_ONLY: ReadonlyArray<[string, (c: Config) => unknown]> = [
  ["server.host", (c) => c.server.host],
  ["server.port", (c) => c.server.port],
  ["server.workers", (c) => c.server.workers],
  ["server.upstream_client", (c) => c.server.upstream_client],
  ["server.upstream_pool", (c) => JSON.stringify(c.server.upstream_pool)],
  ["server.upstream_http2", (c) => c.server.upstream_http2],
  ["server.access_log", (c) => c.server.access_log],
  ["server.access_log_file", (c) => c.server.access_log_file],
  ["server.compression", (c) => c.server.compression],
  // Turning TLS on or off; a new certificate or key is served at once.
  ["server.tls", (c) => c.server.tls !== undefined],
  ["server.tls.redirect_http_port", (c) => c.server.tls?.redirect_http_port],
  ["server.tls.acme_webroot", (c) => c.server.tls?.acme_webroot],
  ["admin.enabled", (c) => c.admin.enabled],
  ["admin.host", (c) => c.admin.host],
  ["admin.port", (c) => c.admin.port],
];

/** The restart-only settings that differ between `before` and `after`, by config path. */
export function restartOnlyChanges(before: Config, after: Config): string[] {
  return RESTART_ONLY.filter(([, read]) => read(before) !== read(after)).map(([path]) => path);
}

/** The upstream transport `server.upstream_client` names, with its pool settings and extra roots. */
function createUpstreamClient(server: ServerConfig, caCerts: string[] | undefined): UpstreamClient {
  const pool = server.upstream_pool;
  if (server.upstream_client === "http1") {
    return createHttp1Client({
      caCerts,
      maxConnectionsPerBackend: pool.max_connections_per_backend,
      maxIdlePerBackend: pool.max_idle_per_backend,
      idleTimeoutMs: pool.idle_timeout_ms,
      maxConnectionAgeMs: pool.max_connection_age_ms,
    });
  }
  return createFetchClient({
    caCerts,
    maxIdlePerBackend: pool.max_idle_per_backend,
    idleTimeoutMs: pool.idle_timeout_ms,
    http2: server.upstream_http2,
  });
}

function jwksHttpClient(caCerts: string[] | undefined): Deno.HttpClient | undefined {
  return caCerts === undefined || caCerts.length === 0 ? undefined : Deno.createHttpClient({ caCerts });
}
