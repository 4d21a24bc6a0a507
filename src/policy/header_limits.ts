/**
 * Request head limits (431, RFC 6585 §5), checked by the runtime before routing. The `Headers` object
 * already joins repeated fields, so the count is of distinct names and the size is the joined size
 * (`name: value\r\n` per field plus the request line, whose URL here also holds the authority).
 */
import type { ServerConfig } from "../config/schema.ts";
import { GatewayError } from "../proxy/gateway_error.ts";

/**
 * A 431 error when the request head is over `server.max_header_bytes` or `max_header_count`. `size` is
 * measured by the caller while it copies the headers (one iteration per request).
 */
export function checkHeaderLimits(
  request: Request,
  size: { readonly count: number; readonly bytes: number },
  server: ServerConfig,
): GatewayError | undefined {
  const count = size.count;
  if (count > server.max_header_count) {
    return new GatewayError(
      431,
      "headers_too_large",
      `Request has ${count} header fields, more than the limit of ${server.max_header_count}`,
    );
  }
  // The request line: method, target (the URL without scheme and authority) and " HTTP/1.1\r\n".
  const bytes = size.bytes + request.method.length + request.url.length + 11;
  if (bytes > server.max_header_bytes) {
    return new GatewayError(
      431,
      "headers_too_large",
      `Request headers take ${bytes} bytes, more than the limit of ${server.max_header_bytes}`,
    );
  }
  return undefined;
}
