/**
 * `GET /api/status`: what is running right now: uptime, version, snapshot version, per-route and
 * per-backend state (health, circuit, requests in flight) read from the live snapshot, and the workers.
 */
import { VERSION } from "../runtime/version.ts";
import { type AdminApp, type AdminDeps, jsonWithEtag } from "./admin_context.ts";
import { redactSecrets } from "./redact_secrets.ts";

/** Mounts `/api/status` on `app`. */
export function mountStatusApi(app: AdminApp, deps: AdminDeps): void {
  const { gateway, store } = deps;
  app.get("/api/status", (c) => {
    const snapshot = gateway.snapshot;
    const now = Date.now();
    const routes = snapshot.routes.map((route) => ({
      path: route.id,
      protocol: route.config.protocol,
      methods: route.config.methods,
      strategy: route.config.load_balancing_strategy,
      backends: route.backends.map((b) => redactSecrets(b.key)),
      available_backends: route.backends.filter((b) => b.isAvailable(now)).length,
    }));
    const backends = snapshot.backends.map((backend) => ({
      key: redactSecrets(backend.key),
      healthy: backend.healthy,
      circuit: backend.breaker.state,
      available: backend.isAvailable(now),
      in_flight: backend.inFlight,
      health_check_path: backend.healthCheckPath,
      routes: snapshot.routes.filter((r) => r.backends.includes(backend)).map((r) => r.id),
    }));
    const status = store.status();
    return jsonWithEtag(c, 200, {
      success: true,
      status: gateway.draining ? "draining" : "running",
      version: VERSION,
      started_at: new Date(gateway.startedAt).toISOString(),
      uptime_seconds: Math.floor((now - gateway.startedAt) / 1000),
      snapshot_version: snapshot.version,
      config: {
        version: status.version,
        hash: status.hash,
        persisted: status.persisted,
        last_reload: status.last_reload.result,
      },
      routes,
      backends,
      // Worker 0 is this process; the others serve the same port (server.workers).
      workers: [
        { id: 0, pid: Deno.pid, restarts: 0, started_at: new Date(gateway.startedAt).toISOString() },
        ...gateway.workers(),
      ],
      timestamp: new Date(now).toISOString(),
    }, snapshot.version);
  });
}
