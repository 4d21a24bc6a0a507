/**
 * The admin API's error: a status and a message, answered as kairos-rs's management shape
 * `{success: false, message, ...extra}`. ConfigChangeError (from the store) is answered the same way.
 */
import { ConfigChangeError } from "../runtime/config_change_error.ts";

/** A request the admin API refuses; `extra` fields are merged into the JSON body. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const JSON_TYPE = "application/json";

/** A JSON response with `cache-control: no-store` (admin answers are never cacheable). */
export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": JSON_TYPE, "cache-control": "no-store", ...headers },
  });
}

/** The response for an error thrown by a handler; undefined for anything that is not a refusal. */
export function refusalResponse(err: unknown): Response | undefined {
  if (err instanceof ApiError) {
    return jsonResponse(err.status, { success: false, message: err.message, ...err.extra }, err.headers);
  }
  if (err instanceof ConfigChangeError) {
    return jsonResponse(err.status, { success: false, message: err.message, errors: err.errors });
  }
  return undefined;
}
