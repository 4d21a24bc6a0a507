/**
 * The request body limit: a declared Content-Length over the limit is refused at once; any other body
 * (chunked, or HTTP/2 without a length) is counted while it streams upstream and the stream errors
 * with GatewayError 413 (also left in `ctx.bodyError`) as soon as the limit is crossed, so nothing over
 * the limit is ever buffered.
 */
import type { RequestContext, RequestStage } from "../proxy/context.ts";
import { GatewayError } from "../proxy/gateway_error.ts";

/** Compiles the stage for a limit in bytes (undefined: no limit). */
export function compileBodyLimit(limit: number | undefined): RequestStage | undefined {
  if (limit === undefined) return undefined;
  const message = `Request body exceeds the limit of ${limit} bytes`;

  return function limitBody(ctx: RequestContext) {
    const body = ctx.upstreamBody;
    if (body === null) return undefined;
    const declared = ctx.request.headers.get("content-length");
    if (declared !== null) {
      if (Number(declared) > limit) throw new GatewayError(413, "payload_too_large", message);
      // The HTTP server enforces the declared length (RFC 9112 §6.3: a message cannot run past it),
      // so a body within it needs no counting, unless chunked framing overrides it (§6.1).
      if (/^\d+$/.test(declared) && !ctx.request.headers.has("transfer-encoding")) return undefined;
    }
    let seen = 0;
    ctx.upstreamBody = body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          seen += chunk.byteLength;
          if (seen <= limit) return controller.enqueue(chunk);
          // The proxy sees only a failed upload; bodyError tells it the client is at fault.
          const err = new GatewayError(413, "payload_too_large", message);
          // Read from the client but never passed on, so no reader downstream counts this chunk.
          ctx.requestBodyBytes += chunk.byteLength;
          ctx.bodyError = err;
          controller.error(err);
        },
      }),
    );
    return undefined;
  };
}
