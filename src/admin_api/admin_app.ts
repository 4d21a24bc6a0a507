/**
 * The management API as one Hono app (auth happens before it, in the admin server). Unknown paths are a
 * JSON 404; refusals (ApiError, ConfigChangeError) become `{success: false, message}`; anything else is a
 * logged 500 that does not leak the error.
 */
import { Hono } from "hono";
import type { Logger } from "../observe/logger.ts";
import { jsonResponse, refusalResponse } from "./api_error.ts";
import type { AdminApp, AdminDeps } from "./admin_context.ts";
import { mountConfigApi } from "./config_api.ts";
import { mountMetricsApi } from "./metrics_api.ts";
import { mountRoutesApi } from "./routes_api.ts";
import { mountStatusApi } from "./status_api.ts";

/** Builds the app; call `app.fetch(request, { caller })`. */
export function createAdminApp(deps: AdminDeps, logger: Logger): AdminApp {
  const app: AdminApp = new Hono();
  mountRoutesApi(app, deps);
  mountConfigApi(app, deps);
  mountStatusApi(app, deps);
  mountMetricsApi(app, deps);
  app.get("/ws/metrics", (c) => deps.sockets.handle(c.req.raw));
  app.notFound((c) =>
    jsonResponse(404, {
      success: false,
      message: `No admin endpoint for ${c.req.method} ${new URL(c.req.url).pathname}`,
    })
  );
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
