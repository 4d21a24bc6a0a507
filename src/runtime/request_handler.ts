/**
 * The HTTP entry point: built-in endpoints, route match (404/405), the route pipeline, the proxy
 * step, response stages, then metrics and the access log once the body has been sent.
 */
import type { AccessLog } from "../observe/access_log.ts";
import { type GatewayMetrics, NO_ROUTE } from "../observe/gateway_metrics.ts";
import type { Logger } from "../observe/logger.ts";
import { acceptRequestId } from "../observe/request_id.ts";
import { checkHeaderLimits, isPreflight } from "../policy/pipeline.ts";
import type { RequestContext } from "../proxy/context.ts";
import { buildUpstreamHeaderList, copyEndToEnd, type HeadSize } from "../proxy/forward_headers.ts";
import { ProxyContext } from "../proxy/proxy_context.ts";
import { errorResponse, GatewayError } from "../proxy/gateway_error.ts";
import { proxyRequest, type ProxyResult } from "../proxy/proxy_step.ts";
import { renderTemplate } from "../routing/path_template.ts";
import {
  canonicalPath,
  hasDotSegment,
  isValidHost,
  printable,
  splitUrl,
  upstreamQuery,
  type UrlParts,
} from "../routing/request_target.ts";
import type { BackendState } from "../upstream/backend_state.ts";
import type { UpstreamClient } from "../upstream/client.ts";
import { builtinResponse } from "./builtin_endpoints.ts";
import type { CompiledRoute, Snapshot } from "./snapshot.ts";
import { RequestRecord } from "./request_record.ts";

/** What the handler reads from the running gateway. */
export interface HandlerState {
  /** The current snapshot; read once per request. */
  snapshot(): Snapshot;
  readonly client: UpstreamClient;
  readonly metrics: GatewayMetrics;
  readonly accessLog: AccessLog | undefined;
  readonly logger: Logger;
  readonly draining: () => boolean;
  readonly startedAt: number;
  /** Prometheus text of the whole registry. */
  readonly renderMetrics: () => string | Promise<string>;
  /** Handles a WebSocket upgrade on a websocket route (issue: WebSocket proxying). */
  readonly websocket?: (ctx: RequestContext, route: CompiledRoute) => Promise<Response> | Response;
  /** Passive health: each upstream attempt's transport outcome (a response, or a connect error / timeout / reset). */
  readonly observeBackend?: (backend: BackendState, ok: boolean) => void;
}

// Scratch for the head measurement and the URL split; each request overwrites them before reading them,
// synchronously.
const headSize: HeadSize = { count: 0, bytes: 0 };
const urlParts: UrlParts = { pathStart: 0, queryStart: 0, end: 0 };

export type GatewayHandler = (
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Promise<Response>;

export function createRequestHandler(state: HandlerState): GatewayHandler {
  return async function handleRequest(request, info) {
    const startedAt = performance.now();
    const snapshot = state.snapshot();
    const url = request.url;
    splitUrl(url, urlParts);
    const { queryStart, end } = urlParts;
    const rawPath = url.slice(urlParts.pathStart, queryStart);
    // Routing, policies and the backend all see one spelling of the path; null means answer 400.
    const path = canonicalPath(rawPath);
    const method = request.method;

    if (path !== null && (path !== "/metrics" || snapshot.config.server.public_metrics)) {
      const builtin = builtinResponse(method, path, state);
      if (builtin) return builtin;
    }

    const requestId = acceptRequestId(request.headers.get("x-request-id"));
    const peerIp = info.remoteAddr.hostname;
    // A TLS listener's requests have `https://` URLs.
    const https = url.charCodeAt(4) === 115 /* s */;
    const hostField = request.headers.get("host");
    // HTTP/2 carries the authority in `:authority`, not Host (RFC 9113 §8.3.1); Deno puts it in the URL. On a
    // plain listener a request without Host is HTTP/1.0, whose URL holds Deno's stand-in (localhost and the
    // port), no name the client sent: only TLS listeners (where HTTP/2 is negotiated) read it.
    const authority = hostField === null && https ? url.slice(8, urlParts.pathStart) : undefined;
    const host = hostField ?? (authority || null);
    const address = snapshot.resolveClientIp(peerIp, request.headers.get("x-forwarded-for"));
    const record = new RequestRecord(
      state,
      request,
      requestId,
      address.clientIp,
      path ?? printable(rawPath),
      startedAt,
      snapshot.unroutedStages,
    );

    // One pass over the client's headers: copy them for upstream and measure the head for the 431 limits.
    const upstreamFields = buildUpstreamHeaderList(request.headers, {
      peerIp,
      peerTrusted: address.peerTrusted,
      requestId,
      preserveHost: false,
      proto: https ? "https" : "http",
      authority,
    }, headSize);
    const limitError = checkHeaderLimits(request, headSize, snapshot.config.server);
    if (limitError) return record.fail(limitError, NO_ROUTE);
    if (path === null) {
      return record.fail(
        new GatewayError(400, "bad_request", `Invalid request path: ${printable(rawPath)}`),
        NO_ROUTE,
      );
    }
    if (host !== null && !isValidHost(host)) {
      return record.fail(
        new GatewayError(400, "bad_request", `Invalid Host header: ${printable(host)}`),
        NO_ROUTE,
      );
    }

    const match = snapshot.table.match(host, method, path);
    let route: CompiledRoute;
    let params: Record<string, string>;
    if (match.kind === "found") {
      route = match.value;
      params = match.params;
    } else if (match.kind === "method_not_allowed" && method === "OPTIONS" && isPreflight(request)) {
      // A CORS preflight for a route that does not list OPTIONS: its CORS stage answers it.
      route = match.value;
      params = match.params;
    } else if (match.kind === "method_not_allowed") {
      return record.fail(
        new GatewayError(405, "method_not_allowed", `Method ${method} not allowed for path: ${path}`, {
          headers: { allow: match.allow },
        }),
        NO_ROUTE,
      );
    } else {
      return record.fail(
        new GatewayError(404, "route_not_found", `No route found for path: ${path}`),
        NO_ROUTE,
      );
    }

    const upstreamPath = renderTemplate(route.template, params);
    // Values captured inside a segment (`user-{id}` with id "..") can form a dot segment in the template.
    if (route.template.names.length > 0 && hasDotSegment(upstreamPath)) {
      return record.fail(
        new GatewayError(400, "bad_request", `Invalid request path: ${path}`),
        route.id,
        route,
      );
    }
    const config = route.config;
    if (config.preserve_host) upstreamFields.push("host", host ?? "");
    const query = queryStart === end ? "" : upstreamQuery(url.slice(queryStart, end));
    const ctx = new ProxyContext(
      request,
      requestId,
      peerIp,
      address.clientIp,
      path,
      query,
      config,
      route.id,
      params,
      startedAt,
      upstreamPath,
      upstreamFields,
    );
    record.context = ctx;
    record.enter(route);
    record.begin();
    // Set while the proxied exchange is ours to end: until finishProxied takes it over.
    let proxied: ProxyResult | undefined;
    let response: Response | undefined;
    try {
      const stages = route.pipeline.request;
      for (let i = 0; i < stages.length; i++) {
        let answer = stages[i](ctx);
        if (answer instanceof Promise) answer = await answer;
        if (answer) return record.finishLocal(answer, route, info);
      }
      if (config.protocol === "websocket") {
        if (!state.websocket) {
          throw new GatewayError(501, "internal", "WebSocket proxying is not available in this build");
        }
        return record.finishLocal(await state.websocket(ctx, route), route, info);
      }
      const result = proxied = await proxyRequest(ctx, route, state.client, record);
      ctx.backend = result.backend.key;
      const upstream = result.response;
      if (state.client.ownsResponses) {
        // Mutable headers without hop-by-hop fields: hand it on, keeping a small body's single buffer.
        response = upstream;
      } else {
        response = new Response(upstream.body, { status: upstream.status, statusText: upstream.statusText });
        copyEndToEnd(upstream.headers, response.headers, route.responseDefaults);
      }
      response.headers.set("x-request-id", requestId);
      const responseStages = route.responseStages;
      for (let i = 0; i < responseStages.length; i++) response = responseStages[i](ctx, response);
      proxied = undefined;
      return record.finishProxied(response, route, result.backend, result.attempts, info);
    } catch (err) {
      // A response stage failed after the backend answered: free its in-flight slot and its connection.
      if (proxied !== undefined) {
        proxied.backend.release();
        const body = response?.body ?? proxied.response.body;
        if (body && !body.locked) body.cancel().catch(() => {});
      }
      return record.fail(toGatewayError(err, state.logger, requestId), route.id, route);
    }
  };
}

function toGatewayError(err: unknown, logger: Logger, requestId: string): GatewayError {
  if (err instanceof GatewayError) return err;
  logger.error("request failed with an internal error", {
    request_id: requestId,
    error: err instanceof Error ? (err.stack ?? err.message) : String(err),
  });
  return new GatewayError(500, "internal", "Internal gateway error", { source: "internal", cause: err });
}

export { errorResponse };
