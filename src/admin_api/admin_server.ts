/**
 * The admin listener: a second `Deno.serve` (default 127.0.0.1:5901) for the management API, the
 * metrics stream, and `/metrics`, `/health`, `/ready`, `/live`. It refuses to start on a non-loopback
 * address without a token, like Caddy keeps its admin API on localhost:2019 by default.
 */
import type { AdminConfig } from "../config/schema.ts";
import type { Logger } from "../observe/logger.ts";
import type { MetricsHistory } from "../observe/metrics_history.ts";
import type { ConfigStore } from "../runtime/config_store.ts";
import { formatListenAddress, parsePortText } from "../runtime/listen_address.ts";
import { jsonResponse, refusalResponse } from "./api_error.ts";
import { createAdminApp } from "./admin_app.ts";
import { AdminAuth, isLoopbackHost } from "./admin_auth.ts";
import { type AdminCors, adminCors, withHeaders } from "./admin_cors.ts";
import type { AdminApp, AdminGatewayView } from "./admin_context.ts";
import { MetricsSockets } from "./metrics_socket.ts";

/** Where the admin listener binds and the token from the environment (which beats `admin.token`). */
export interface AdminListenPlan {
  readonly host: string;
  readonly port: number;
  readonly envToken: string | undefined;
}

/** Reads `admin` and the KAIROS_ADMIN_* variables; throws TypeError when the listener must not start. */
export function planAdminListener(
  admin: AdminConfig,
  env: (name: string) => string | undefined,
): AdminListenPlan {
  const host = env("KAIROS_ADMIN_HOST") ?? admin.host;
  const portText = env("KAIROS_ADMIN_PORT");
  const port = portText === undefined ? admin.port : parsePortText(portText);
  if (port === undefined) {
    throw new TypeError(
      `Cannot start the admin listener as KAIROS_ADMIN_PORT must be a port number 0-65535: ` +
        `current value is "${portText}"`,
    );
  }
  const envToken = env("KAIROS_ADMIN_TOKEN");
  if (envToken !== undefined && envToken.length < 16) {
    throw new TypeError(
      `Cannot start the admin listener as KAIROS_ADMIN_TOKEN must be at least 16 characters: got ${envToken.length}`,
    );
  }
  if (!isLoopbackHost(host) && (envToken ?? admin.token) === undefined) {
    const address = formatListenAddress(host, port);
    throw new TypeError(
      `Cannot start the admin listener on ${address} without a token: a non-loopback address would ` +
        `expose the management API to the network. Set admin.token or KAIROS_ADMIN_TOKEN, ` +
        `or set admin.host to 127.0.0.1`,
    );
  }
  return { host, port, envToken };
}

export interface AdminServerOptions {
  readonly plan: AdminListenPlan;
  readonly store: ConfigStore;
  readonly gateway: AdminGatewayView;
  readonly history: MetricsHistory;
  readonly logger: Logger;
}

/** The running admin listener; `close()` stops it and its metrics streams. */
export class AdminServer {
  readonly #options: AdminServerOptions;
  readonly #auth: AdminAuth;
  readonly #cors: AdminCors;
  readonly #sockets: MetricsSockets;
  readonly #app: AdminApp;
  #server: Deno.HttpServer<Deno.NetAddr> | undefined;

  constructor(options: AdminServerOptions) {
    this.#options = options;
    const { plan, store, gateway } = options;
    this.#auth = new AdminAuth({
      token: () => plan.envToken ?? store.config.admin.token,
      allowedOrigins: () => store.config.admin.allowed_origins,
      listenHost: plan.host,
    });
    this.#cors = adminCors({ allowedOrigins: () => store.config.admin.allowed_origins });
    this.#sockets = new MetricsSockets({ history: options.history });
    this.#app = createAdminApp(
      {
        store,
        gateway,
        history: options.history,
        sockets: this.#sockets,
        builtin: {
          startedAt: gateway.startedAt,
          draining: () => gateway.draining,
          renderMetrics: () => gateway.renderAllMetrics(),
        },
      },
      options.logger,
    );
  }

  get addr(): Deno.NetAddr {
    if (!this.#server) throw new Error("Cannot read the admin address: the admin listener is not running");
    return this.#server.addr;
  }

  /** Binds and serves; throws when the address cannot be bound. */
  start(): Deno.NetAddr {
    const { plan, logger } = this.#options;
    try {
      this.#server = this.#serve(plan, logger);
    } catch (err) {
      const reason = (err as Error).message;
      throw new Error(
        `Cannot start the admin listener on ${formatListenAddress(plan.host, plan.port)}: ${reason}`,
        {
          cause: err,
        },
      );
    }
    return this.#server.addr;
  }

  #serve(plan: AdminListenPlan, logger: Logger): Deno.HttpServer<Deno.NetAddr> {
    return Deno.serve({
      hostname: plan.host,
      port: plan.port,
      onListen: (addr) => {
        logger.info("admin listening", {
          address: formatListenAddress(addr.hostname, addr.port),
          auth: (plan.envToken ?? this.#options.store.config.admin.token) ? "token" : "none (loopback)",
        });
      },
      onError: (err) => {
        logger.error("unhandled error in admin handler", { error: String(err) });
        return jsonResponse(500, { success: false, message: "Internal admin API error" });
      },
    }, (request, info) => this.handle(request, info.remoteAddr.hostname));
  }

  /** Answers one request (exposed for in-process tests). */
  async handle(request: Request, address: string): Promise<Response> {
    return this.#finish(request, await this.#answer(request, address));
  }

  async #answer(request: Request, address: string): Promise<Response> {
    const url = new URL(request.url);
    const path = url.pathname;
    let caller;
    try {
      // A preflight carries no token; it is answered on the Origin alone and the same for every path.
      if (this.#cors.isPreflight(request)) {
        this.#auth.checkOrigin(request);
        return this.#cors.preflight(request);
      }
      // Browsers cannot set headers on a WebSocket, so the stream also takes ?access_token= (RFC 6750 §2.3).
      caller = await this.#auth.check(
        request,
        path,
        address,
        path === "/ws/metrics" ? url.searchParams.get("access_token") : null,
      );
    } catch (err) {
      await request.body?.cancel();
      const refusal = refusalResponse(err);
      if (refusal) return refusal;
      throw err;
    }
    return await this.#app.fetch(request, { caller });
  }

  /**
   * What every answer carries: `cache-control: no-store` (each one describes config or live state that a
   * cache must not replay, and may carry a token-protected body) and the CORS headers. A WebSocket
   * upgrade (101) is left alone.
   */
  #finish(request: Request, response: Response): Response {
    if (response.status === 101) return response;
    const stored = response.headers.has("cache-control")
      ? response
      : withHeaders(response, (headers) => headers.set("cache-control", "no-store"));
    return this.#cors.decorate(request, stored);
  }

  /** Stops accepting, closes the metrics streams and waits for requests in flight. */
  async close(): Promise<void> {
    this.#sockets.closeAll();
    await this.#server?.shutdown();
  }
}
