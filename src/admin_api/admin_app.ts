/**
 * The management API as one Hono app (auth happens before it, in the admin server). A path the app does
 * not know is a JSON 404; a known path asked with another method is a 405 naming the methods in `Allow`
 * (RFC 9110 §15.5.6), and a plain OPTIONS on it is a 204 with `Allow` (§9.3.7). Refusals (ApiError,
 * ConfigChangeError) become `{success: false, message}`; anything else is a logged 500 that does not leak
 * the error.
 */
import { Hono } from "hono";
import type { Logger } from "../observe/logger.ts";
import { BUILTIN_PATHS, builtinResponse } from "../runtime/builtin_endpoints.ts";
import { jsonResponse, refusalResponse } from "./api_error.ts";
import type { AdminApp, AdminDeps } from "./admin_context.ts";
import { mountConfigApi } from "./config_api.ts";
import { mountMetricsApi } from "./metrics_api.ts";
import { mountRoutesApi } from "./routes_api.ts";
import { mountStatusApi } from "./status_api.ts";

// HEAD is answered wherever GET is (Hono runs the GET handler), OPTIONS wherever the path is known.
const ROUTED_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"] as const;

/** Builds the app; call `app.fetch(request, { caller })`. */
export function createAdminApp(deps: AdminDeps, logger: Logger): AdminApp {
  const app: AdminApp = new Hono();
  mountRoutesApi(app, deps);
  mountConfigApi(app, deps);
  mountStatusApi(app, deps);
  mountMetricsApi(app, deps);
  app.get("/ws/metrics", (c) => deps.sockets.handle(c.req.raw));
  for (const path of BUILTIN_PATHS) {
    app.get(path, (c) => builtinResponse(c.req.method, path, deps.builtin)!);
  }
  app.notFound((c) => {
    const path = new URL(c.req.url).pathname;
    const allowed = allowedMethods(app, c.req.path);
    if (allowed.length === 0) {
      return jsonResponse(404, { success: false, message: `No admin endpoint for ${c.req.method} ${path}` });
    }
    const allow = allowed.join(", ");
    if (c.req.method === "OPTIONS") {
      return new Response(null, { status: 204, headers: { allow, "cache-control": "no-store" } });
    }
    return jsonResponse(405, {
      success: false,
      message: `Method ${c.req.method} not allowed for ${path}: it allows ${allow}`,
    }, { allow });
  });
  app.onError((err, c) => {
    const refusal = refusalResponse(err);
    if (refusal) return refusal;
    logger.error("admin API request failed", {
      method: c.req.method,
      path: new URL(c.req.url).pathname,
      error: err instanceof Error ? (err.stack ?? err.message) : String(err),
    });
    return jsonResponse(500, { success: false, message: "Internal admin API error (see the gateway log)" });
  });
  return app;
}

/**
 * The methods `path` answers, asked of the app's own router so the list cannot drift from the handlers
 * (the app registers no catch-all middleware, which would match every method). Empty for an unknown path.
 */
function allowedMethods(app: AdminApp, path: string): string[] {
  const methods: string[] = ROUTED_METHODS.filter((method) => app.router.match(method, path)[0].length > 0);
  if (methods.length === 0) return [];
  if (methods.includes("GET")) methods.splice(1, 0, "HEAD");
  return [...methods, "OPTIONS"];
}
