/**
 * Request head limits, checked by the runtime before routing: a request line that alone is over
 * `server.max_header_bytes` gets 414 (RFC 9110 §15.5.15, as nginx answers a line longer than its
 * `large_client_header_buffers`); too many or too large header fields get 431 (RFC 6585 §5). The `Headers`
 * object already joins repeated fields, so the count is of distinct names and the size is the joined size
 * (`name: value\r\n` per field plus the request line, whose URL here also holds the authority).
 */
import type { ServerConfig } from "../config/schema.ts";
import { GatewayError } from "../proxy/gateway_error.ts";
import { splitUrl } from "../routing/request_target.ts";

/**
 * A 414 error when the request line alone is over `server.max_header_bytes`, a 431 error when the whole
 * head is over it or over `max_header_count`. `size` is measured by the caller while it copies the
 * headers (one iteration per request).
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
  const url = request.url;
  const bytes = size.bytes + request.method.length + url.length + 11;
  if (bytes <= server.max_header_bytes) return undefined;
  // Over the limit (the rare path): was it the request line on its own?
  const parts = { pathStart: 0, queryStart: 0, end: 0 };
  splitUrl(url, parts);
  const lineBytes = request.method.length + 1 + (url.length - parts.pathStart) + 11;
  if (lineBytes > server.max_header_bytes) {
    return new GatewayError(
      414,
      "uri_too_long",
      `Request URI is too long: the request line takes ${lineBytes} bytes, more than the limit of ${server.max_header_bytes} (server.max_header_bytes)`,
    );
  }
  return new GatewayError(
    431,
    "headers_too_large",
    `Request headers take ${bytes} bytes, more than the limit of ${server.max_header_bytes}`,
  );
}
