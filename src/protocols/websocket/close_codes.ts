/**
 * Close codes across the two legs of a proxied WebSocket (RFC 6455 §7.4). 1005 (no code), 1006
 * (abnormal) and 1015 (TLS) are reported locally and must never be sent (§7.4.1), so they are mapped;
 * everything a peer may legitimately send passes through unchanged, with its reason.
 */

/** Why the gateway itself ended a connection. */
export type GatewayCloseCause =
  | "client_message_too_big"
  | "backend_too_slow"
  | "backend_unresponsive"
  | "idle_timeout"
  | "shutdown";

/** What each leg is sent when the gateway ends a connection (undefined: no close frame, just drop). */
export interface GatewayClose {
  readonly client: number;
  readonly backend: number | undefined;
  readonly reason: string;
}

const GATEWAY_CLOSES: Readonly<Record<Exclude<GatewayCloseCause, "shutdown">, GatewayClose>> = {
  // §7.4.1: 1009 tells the sender its message was too big; the other side just sees the gateway leave.
  client_message_too_big: { client: 1009, backend: 1001, reason: "message too big" },
  // The client cannot be paused (the WebSocket API has no backpressure): past the limit it is cut off.
  backend_too_slow: { client: 1008, backend: 1001, reason: "backend is not reading fast enough" },
  backend_unresponsive: { client: 1011, backend: undefined, reason: "backend stopped responding" },
  idle_timeout: { client: 1001, backend: 1001, reason: "idle timeout" },
};

/** The close the gateway sends on both legs for `cause`; shutdown uses the caller's code and reason. */
export function gatewayClose(
  cause: GatewayCloseCause,
  code = 1001,
  reason = "gateway shutting down",
): GatewayClose {
  return cause === "shutdown" ? { client: code, backend: code, reason } : GATEWAY_CLOSES[cause];
}

/** Codes an endpoint may put in a close frame (§7.4.1, §7.4.2, and IANA's 1012-1014). */
export function isSendableCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/**
 * The code to forward to the client for a backend close (undefined: a close frame without a code).
 * Deno's server socket refuses 1014, so it becomes 1011 like every abnormal end (the issue: an abrupt
 * backend loss closes the client with 1011).
 */
export function codeForClient(code: number): number | undefined {
  if (code === 1005) return undefined;
  return code !== 1014 && isSendableCode(code) ? code : 1011;
}

/** The code to forward to the backend for a client close; a vanished client (1006 or 0) is "going away". */
export function codeForBackend(code: number): number | undefined {
  if (code === 1005) return undefined;
  if (isSendableCode(code)) return code;
  return code === 1006 || code === 0 ? 1001 : 1011;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** `reason` cut to the 123 bytes a close frame can carry (§5.5: control payloads ≤ 125), on a character boundary. */
export function closeReason(reason: string): string {
  if (reason.length <= 41) return reason; // 41 × 3 bytes fits whatever the characters are
  const bytes = encoder.encode(reason);
  if (bytes.length <= 123) return reason;
  let end = 123;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--; // do not split a UTF-8 sequence
  return decoder.decode(bytes.subarray(0, end));
}
