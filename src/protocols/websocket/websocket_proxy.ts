/**
 * WebSocket proxying for `protocol: "websocket"` routes (placeholder until the WebSocket issue lands:
 * it answers 501 so a websocket route never silently falls through to HTTP proxying).
 */
import type { RequestContext } from "../../proxy/context.ts";
import { GatewayError } from "../../proxy/gateway_error.ts";
import type { Logger } from "../../observe/logger.ts";
import type { GatewayMetrics } from "../../observe/gateway_metrics.ts";
import type { CompiledRoute } from "../../runtime/snapshot.ts";

export interface WebSocketProxyDeps {
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
}

export interface WebSocketProxy {
  /** Upgrades the client after dialling a backend of `route`; the pipeline has already run. */
  handle(ctx: RequestContext, route: CompiledRoute): Promise<Response>;
  /** Open proxied connections (both legs). */
  readonly openCount: number;
  /** Closes every open connection (shutdown: 1001) and resolves when they are closed. */
  closeAll(code: number, reason: string): Promise<void>;
}

export function createWebSocketProxy(_deps: WebSocketProxyDeps): WebSocketProxy {
  return {
    handle() {
      return Promise.reject(new GatewayError(501, "internal", "WebSocket proxying is not implemented yet"));
    },
    openCount: 0,
    closeAll: () => Promise.resolve(),
  };
}
