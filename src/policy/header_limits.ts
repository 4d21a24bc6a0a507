/**
 * Request head limits (431, RFC 6585 §5), checked by the runtime before routing. The `Headers` object
 * already joins repeated fields, so the count is of distinct names and the size is the joined size
 * (`name: value\r\n` per field plus the request line): close to, never above, the bytes on the wire.
 */
import type { ServerConfig } from "../config/schema.ts";
import { GatewayError } from "../proxy/gateway_error.ts";

/** A 431 error when the request head is over `server.max_header_bytes` or `max_header_count`. */
export function checkHeaderLimits(request: Request, server: ServerConfig): GatewayError | undefined {
  let count = 0;
  let bytes = request.method.length + request.url.length + 11; // " " + " HTTP/1.1\r\n"
  for (const [name, value] of request.headers) {
    count++;
    bytes += name.length + value.length + 4;
  }
  if (count > server.max_header_count) {
    return new GatewayError(
      431,
      "headers_too_large",
      `Request has ${count} header fields, more than the limit of ${server.max_header_count}`,
    );
  }
  if (bytes > server.max_header_bytes) {
    return new GatewayError(
      431,
      "headers_too_large",
      `Request headers take ${bytes} bytes, more than the limit of ${server.max_header_bytes}`,
    );
  }
  return undefined;
}
