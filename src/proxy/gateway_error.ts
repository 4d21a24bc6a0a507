/**
 * The one error type for a failed request. `source` says whose fault it is (it drives logging and
 * whether a retry makes sense); `type` is the machine code kairos-rs clients already parse.
 */
export type ErrorSource = "client" | "upstream" | "internal";

export type ErrorType =
  | "route_not_found"
  | "method_not_allowed"
  | "bad_request"
  | "upstream"
  | "timeout"
  | "circuit_open"
  | "no_healthy_upstream"
  | "authentication_error"
  | "authorization_error"
  | "rate_limit_error"
  | "payload_too_large"
  | "headers_too_large"
  | "uri_too_long"
  | "forbidden"
  | "upgrade_required"
  | "config"
  | "internal";

export class GatewayError extends Error {
  readonly status: number;
  readonly type: ErrorType;
  readonly source: ErrorSource;
  /** Extra response headers, e.g. `Allow` on a 405 or `Retry-After` on a 429. */
  readonly headers?: Record<string, string>;
  /** A short machine label for metrics, from a small fixed set (e.g. an auth failure's cause). */
  readonly reason?: string;

  constructor(
    status: number,
    type: ErrorType,
    message: string,
    options: { source?: ErrorSource; cause?: unknown; headers?: Record<string, string>; reason?: string } =
      {},
  ) {
    super(message, { cause: options.cause });
    this.name = "GatewayError";
    this.status = status;
    this.type = type;
    this.source = options.source ?? (status >= 500 ? "upstream" : "client");
    this.headers = options.headers;
    this.reason = options.reason;
  }
}

/** Turns a GatewayError into kairos-rs's JSON error body `{error, type, request_id, timestamp}`. */
export function errorResponse(err: GatewayError, requestId: string, head = false): Response {
  const body = JSON.stringify({
    error: err.message,
    type: err.type,
    request_id: requestId,
    timestamp: new Date().toISOString(),
  });
  const bytes = ENCODER.encode(body);
  const headers = new Headers(err.headers);
  headers.set("content-type", "application/json");
  // Set here so the access log and byte counters can read what the error body weighs.
  headers.set("content-length", String(bytes.length));
  headers.set("x-request-id", requestId);
  return new Response(head ? null : bytes, { status: err.status, headers });
}

const ENCODER = new TextEncoder();
