/**
 * Browser-facing rules for WebSocket upgrades. Browsers apply no CORS to WebSockets, so the gateway
 * itself refuses an Origin the route's CORS policy did not grant (cross-site WebSocket hijacking); and
 * since a browser cannot set headers on a WebSocket, a route may take its Bearer token from the query.
 */
import type { RequestContext } from "../../proxy/context.ts";
import { GatewayError } from "../../proxy/gateway_error.ts";

// RFC 6750 §2.1 b64token: what a Bearer token may contain (and nothing that could break a header).
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const PARAM = "access_token=";

/**
 * Throws 403 when the route has a CORS policy and it did not grant the request's Origin. The CORS stage
 * marks every answer it shapes with `Vary: Origin` (or grants `*`) and grants an origin by adding
 * `Access-Control-Allow-Origin` to `ctx.responseHeaders`.
 */
export function checkOrigin(ctx: RequestContext): void {
  const origin = ctx.request.headers.get("origin");
  const shaped = ctx.responseHeaders;
  if (origin === null || shaped === undefined) return;
  let corsRan = false;
  for (const [name, value] of shaped) {
    if (name === "access-control-allow-origin") return;
    if (name === "vary" && value === "Origin") corsRan = true;
  }
  if (corsRan) {
    throw new GatewayError(
      403,
      "forbidden",
      `Cannot upgrade as origin ${origin} is not allowed by the route's CORS policy`,
    );
  }
}

/**
 * The `Authorization` value carried by an `access_token` query parameter (RFC 6750 §2.3), or null. For
 * the auth stage of a route with `websocket.access_token_query`.
 */
export function queryBearer(query: string): string | null {
  if (!query.includes(PARAM)) return null;
  for (const part of query.slice(1).split("&")) {
    if (!part.startsWith(PARAM)) continue;
    const token = decode(part.slice(PARAM.length));
    return token !== undefined && B64TOKEN.test(token) ? `Bearer ${token}` : null;
  }
  return null;
}

/**
 * Moves an `access_token` query parameter to the upstream `Authorization` header (unless the client sent
 * one or the route strips it), so the credential never reaches backend URLs and access logs.
 */
export function applyAccessToken(ctx: RequestContext): void {
  const query = ctx.upstreamQuery;
  const bearer = queryBearer(query);
  if (bearer === null) return;
  const kept = query.slice(1).split("&").filter((part) => part !== "" && !part.startsWith(PARAM));
  ctx.upstreamQuery = kept.length === 0 ? "" : `?${kept.join("&")}`;
  const headers = ctx.upstreamHeaders;
  if (!headers.has("authorization") && !ctx.route.auth?.strip_authorization) {
    headers.set("authorization", bearer);
  }
}

function decode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}
