/**
 * CORS for the admin listener (Fetch standard §3.2), driven by `admin.allowed_origins`. A listed origin's
 * preflight is answered 204 without the token (browsers never send credentials on one) and identically for
 * every path, so it reveals nothing; its actual responses carry Access-Control-Allow-Origin. Other origins
 * get no CORS headers: AdminAuth refuses them with 403 (CSRF), preflights included. The listener's own
 * origin needs none (same-origin requests are not CORS).
 */

export interface AdminCorsOptions {
  /** The current `admin.allowed_origins` (read per request, so a reload applies at once). */
  readonly allowedOrigins: () => readonly string[];
  /** How long a browser may cache a preflight (default 600 s; Chromium caps it at 7200). */
  readonly maxAgeSeconds?: number;
}

/** The admin listener's CORS steps; see `adminCors`. */
export interface AdminCors {
  /** Whether `request` is a CORS preflight: OPTIONS with Origin and Access-Control-Request-Method. */
  isPreflight(request: Request): boolean;
  /**
   * The 204 answer to a preflight whose origin AdminAuth accepted; CORS headers only for a listed origin
   * (`decorate` adds Vary).
   */
  preflight(request: Request): Response;
  /** Adds `Vary: Origin`, and for a listed origin Allow-Origin and Expose-Headers, to `response`. */
  decorate(request: Request, response: Response): Response;
}

// Every method and request header the management API uses (If-Match carries the ETag back on writes).
const ALLOW_METHODS = "GET, HEAD, POST, PUT, DELETE";
const ALLOW_HEADERS = "Authorization, Content-Type, If-Match";
// Response headers a page needs beyond the CORS-safelisted ones: the config version, a 405's methods, a
// 401's scheme.
const EXPOSE_HEADERS = "ETag, Allow, WWW-Authenticate";

/** Builds the CORS steps; the fixed header values are computed once here. */
export function adminCors(options: AdminCorsOptions): AdminCors {
  const maxAge = String(options.maxAgeSeconds ?? 600);
  const listed = (request: Request): string | undefined => {
    const origin = request.headers.get("origin");
    return origin !== null && options.allowedOrigins().includes(origin) ? origin : undefined;
  };

  return {
    isPreflight(request) {
      return request.method === "OPTIONS" && request.headers.has("origin") &&
        request.headers.has("access-control-request-method");
    },

    preflight(request) {
      const headers = new Headers();
      const origin = listed(request);
      if (origin !== undefined) {
        headers.set("access-control-allow-origin", origin);
        headers.set("access-control-allow-methods", ALLOW_METHODS);
        headers.set("access-control-allow-headers", ALLOW_HEADERS);
        headers.set("access-control-max-age", maxAge);
      }
      return new Response(null, { status: 204, headers });
    },

    decorate(request, response) {
      // A preflight's own headers come from preflight(); what a page may read matters only on the others.
      const origin = this.isPreflight(request) ? undefined : listed(request);
      return withHeaders(response, (headers) => {
        headers.append("vary", "Origin");
        if (origin === undefined) return;
        headers.set("access-control-allow-origin", origin);
        headers.set("access-control-expose-headers", EXPOSE_HEADERS);
      });
    },
  };
}

/** Edits `response`'s headers in place, or on a copy when they are immutable. */
export function withHeaders(response: Response, edit: (headers: Headers) => void): Response {
  try {
    edit(response.headers);
    return response;
  } catch {
    const copy = new Response(response.body, response);
    edit(copy.headers);
    return copy;
  }
}
