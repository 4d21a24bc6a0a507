/**
 * Checks a client's opening handshake (RFC 6455 §4.2.1) before any backend is dialled, so a plain GET
 * or a malformed upgrade costs nothing upstream and gets a JSON error instead of Deno's bare one.
 */
import { GatewayError } from "../../proxy/gateway_error.ts";

// §4.2.1 item 5: the key is a base64-encoded 16-byte nonce (22 characters, the last of 4 bits, then "==").
const KEY = /^[A-Za-z0-9+/]{21}[AQgw]==$/;

/** Throws GatewayError 426 (not an upgrade, or an unsupported version) or 400 (a malformed upgrade). */
export function checkUpgradeRequest(request: Request): void {
  const headers = request.headers;
  if (request.method !== "GET" || !hasToken(headers.get("upgrade"), "websocket")) {
    // RFC 9110 §15.5.22: a 426 names the protocol to switch to.
    throw new GatewayError(
      426,
      "upgrade_required",
      "This route only accepts WebSocket upgrades (GET with Upgrade: websocket)",
      {
        headers: { upgrade: "websocket", "sec-websocket-version": "13" },
      },
    );
  }
  if (!hasToken(headers.get("connection"), "upgrade")) {
    throw new GatewayError(
      400,
      "bad_request",
      "Cannot upgrade as the Connection header must include 'upgrade'",
    );
  }
  const version = headers.get("sec-websocket-version");
  if (version?.trim() !== "13") {
    // §4.4: answer an unknown version with the versions we speak.
    throw new GatewayError(
      426,
      "upgrade_required",
      `Cannot upgrade as Sec-WebSocket-Version must be 13: got ${JSON.stringify(version)}`,
      { headers: { "sec-websocket-version": "13" } },
    );
  }
  const key = headers.get("sec-websocket-key");
  if (key === null || !KEY.test(key.trim())) {
    throw new GatewayError(
      400,
      "bad_request",
      `Cannot upgrade as Sec-WebSocket-Key must be 16 base64-encoded bytes: got ${JSON.stringify(key)}`,
    );
  }
}

/** Whether a comma-separated header value contains `token` (case-insensitive). */
export function hasToken(list: string | null | undefined, token: string): boolean {
  if (!list) return false;
  for (const part of list.split(",")) if (part.trim().toLowerCase() === token) return true;
  return false;
}
