/**
 * WebSocket proxying for `protocol: "websocket"` routes. The route pipeline (IP filter, CORS, auth, rate
 * limit) has already run; this checks the upgrade, dials a backend and completes its handshake first, and
 * only then upgrades the client, so a dead or refusing backend yields a JSON error instead of a 101 and
 * an immediate close. Sessions live outside the snapshot: a reload never touches them.
 */
import { type WebSocketConfig, websocketSchema } from "../../config/schema.ts";
import type { GatewayMetrics } from "../../observe/gateway_metrics.ts";
import type { AccessLog } from "../../observe/access_log.ts";
import type { Logger } from "../../observe/logger.ts";
import { MetricsRegistry } from "../../observe/metrics_registry.ts";
import type { RequestContext } from "../../proxy/context.ts";
import { GatewayError } from "../../proxy/gateway_error.ts";
import type { CompiledRoute } from "../../runtime/snapshot.ts";
import { applyAccessToken, checkOrigin } from "./access_rules.ts";
import { dialWebSocketBackend } from "./backend_dial.ts";
import { checkUpgradeRequest } from "./upgrade_request.ts";
import { WebSocketMetrics } from "./websocket_metrics.ts";
import { WebSocketSession } from "./websocket_session.ts";

export interface WebSocketProxyDeps {
  readonly logger: Logger;
  /** Gets one line per connection, when it closes. */
  readonly accessLog?: AccessLog;
  readonly metrics: GatewayMetrics;
  /** Where the WebSocket series are registered (the gateway's registry; a private one when absent). */
  readonly registry?: MetricsRegistry;
  /** The extra roots (PEM) trusted for wss:// backends right now (server.upstream_ca_files). */
  readonly caCerts?: () => readonly string[] | undefined;
}

export interface WebSocketProxy {
  /** Upgrades the client after dialling a backend of `route`; the pipeline has already run. */
  handle(ctx: RequestContext, route: CompiledRoute): Promise<Response>;
  /** Open proxied connections (both legs). */
  readonly openCount: number;
  /** Closes every open connection (shutdown: 1001) and resolves when they are closed. */
  closeAll(code: number, reason: string): Promise<void>;
}

/** The options a route without a `websocket` section gets: the schema's defaults. */
export const DEFAULT_WEBSOCKET_OPTIONS: WebSocketConfig = Object.freeze(websocketSchema.parse({}));

// The sweep's period: the granularity of idle timeouts and backend pings.
const SWEEP_MS = 250;
// How long closeAll waits for closing handshakes before dropping what is left.
const CLOSE_ALL_WAIT_MS = 3000;

/** Creates the proxy that owns every open WebSocket session. */
export function createWebSocketProxy(deps: WebSocketProxyDeps): WebSocketProxy {
  const sessions = new Set<WebSocketSession>();
  const wsMetrics = new WebSocketMetrics(deps.registry ?? new MetricsRegistry());
  let sweep: ReturnType<typeof setInterval> | undefined;

  const ended = (session: WebSocketSession) => {
    sessions.delete(session);
    if (sessions.size === 0 && sweep !== undefined) {
      clearInterval(sweep);
      sweep = undefined;
    }
  };
  const tickAll = () => {
    for (const session of sessions) session.tick(SWEEP_MS);
  };

  return {
    async handle(ctx, route) {
      checkUpgradeRequest(ctx.request);
      checkOrigin(ctx);
      const options = route.config.websocket ?? DEFAULT_WEBSOCKET_OPTIONS;
      if (options.access_token_query) applyAccessToken(ctx);
      const dialed = await dialWebSocketBackend(route, {
        path: ctx.upstreamPath + ctx.upstreamQuery,
        headers: ctx.upstreamHeaders,
        protocols: ctx.request.headers.get("sec-websocket-protocol"),
        clientIp: ctx.clientIp,
        signal: ctx.request.signal,
        caCerts: deps.caCerts?.(),
      }, deps.metrics);
      let upgrade: Deno.WebSocketUpgrade;
      try {
        upgrade = Deno.upgradeWebSocket(offering(ctx.request, dialed.protocol), {
          protocol: dialed.protocol || undefined,
          // Deno pings after half of idleTimeout without a frame and closes after the other half.
          idleTimeout: (options.ping_interval_ms * 2) / 1000,
        });
      } catch (err) {
        dialed.conn.close();
        dialed.backend.release();
        throw new GatewayError(
          400,
          "bad_request",
          `Cannot upgrade the connection: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      ctx.backend = dialed.backend.key;
      const session = new WebSocketSession(upgrade.socket, dialed, {
        routeId: route.id,
        requestId: ctx.requestId,
        clientIp: ctx.clientIp,
        options,
        series: wsMetrics.route(route.id),
        logger: deps.logger,
        accessLog: deps.accessLog,
        path: ctx.path,
        attempts: dialed.attempts,
        userAgent: ctx.request.headers.get("user-agent"),
        referer: ctx.request.headers.get("referer"),
        ended,
      });
      sessions.add(session);
      sweep ??= setInterval(tickAll, SWEEP_MS);
      return upgrade.response;
    },

    get openCount() {
      return sessions.size;
    },

    async closeAll(code, reason) {
      if (sessions.size === 0) return;
      const all = [...sessions];
      for (const session of all) session.shutdown(code, reason);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const waited = new Promise<void>((resolve) => timer = setTimeout(resolve, CLOSE_ALL_WAIT_MS));
      await Promise.race([Promise.all(all.map((s) => s.done)), waited]);
      clearTimeout(timer);
      // Clients that never answered the close: drop their backends and account for them.
      const left = [...sessions];
      for (const session of left) session.abandon();
      await Promise.all(left.map((s) => s.done));
    },
  };
}

/**
 * The request to upgrade, its offer reduced to `protocol` when needed. Deno.upgradeWebSocket looks for
 * `protocol` in the offer split on ", " exactly, but the list may be written "a,b" (RFC 9110 §5.6.1;
 * Node's ws does): a view of the request with that one header replaced keeps the upgrade hook (Deno
 * finds its internal request through the prototype; were that to change, the upgrade fails with 400).
 */
function offering(request: Request, protocol: string): Request {
  const offer = request.headers.get("sec-websocket-protocol");
  if (protocol === "" || offer === null || offer.split(", ").includes(protocol)) return request;
  const headers = new Headers(request.headers);
  headers.set("sec-websocket-protocol", protocol);
  return Object.create(request, { headers: { value: headers } });
}
