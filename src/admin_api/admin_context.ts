/**
 * What the admin API handlers share: the config store, a read-only view of the gateway, the metrics
 * history, plus the reply helpers every write uses (ETag, "applied and saved" wording, audit identity).
 */
import type { Context, Hono } from "hono";
import type { MetricsHistory } from "../observe/metrics_history.ts";
import type { BuiltinState } from "../runtime/builtin_endpoints.ts";
import type { ChangeApplied, ConfigStore } from "../runtime/config_store.ts";
import type { Snapshot } from "../runtime/snapshot.ts";
import type { AdminCaller } from "./admin_auth.ts";
import type { MetricsSockets } from "./metrics_socket.ts";
import type { WorkerStatus } from "../runtime/workers/worker_supervisor.ts";

/** The parts of the running Gateway the admin API reads. */
export interface AdminGatewayView {
  readonly snapshot: Snapshot;
  readonly startedAt: number;
  readonly draining: boolean;
  renderMetrics(): string;
  /** Every worker's series when there are several (see Gateway.renderAllMetrics). */
  renderAllMetrics(): string | Promise<string>;
  /** The other worker processes (server.workers > 1). */
  workers(): readonly WorkerStatus[];
}

/** Dependencies of the admin app. */
export interface AdminDeps {
  readonly store: ConfigStore;
  readonly gateway: AdminGatewayView;
  readonly history: MetricsHistory;
  readonly sockets: MetricsSockets;
  /** What `/health`, `/ready`, `/live` and `/metrics` read (the same endpoints as the gateway port). */
  readonly builtin: BuiltinState;
}

/** Hono env: the authenticated caller travels as a binding. */
export type AdminEnv = { Bindings: { caller: AdminCaller } };
export type AdminApp = Hono<AdminEnv>;
export type AdminContext = Context<AdminEnv>;

/** The ETag of a config version (RFC 9110 §8.8.3: a quoted opaque string). */
export function etag(version: number): string {
  return `"${version}"`;
}

/** The audit log's "who": token id and peer address. */
export function who(c: AdminContext): string {
  const caller = c.env.caller;
  return `${caller.id}@${caller.address}`;
}

/** The fields every successful write returns besides `success` and `message`. */
export function appliedFields(result: ChangeApplied) {
  return {
    applied: true,
    version: result.version,
    changed: result.changed,
    persisted: result.persisted,
    persist_error: result.persistError ?? null,
    hash: result.hash,
    duration_ms: result.durationMs,
    warnings: result.warnings,
  };
}

/** `"<what>: applied at once (config version N), saved to the config file"` or the in-memory variant. */
export function appliedMessage(what: string, result: ChangeApplied): string {
  const applied = result.changed
    ? `applied at once (config version ${result.version})`
    : `nothing to change (config version ${result.version})`;
  const saved = result.persisted
    ? "saved to the config file"
    : `applied in memory only, NOT saved (${result.persistError}); it is lost on restart`;
  return `${what}: ${applied}, ${saved}`;
}

/** A JSON reply carrying the config version as ETag. */
export function jsonWithEtag(c: AdminContext, status: 200 | 201, body: unknown, version: number): Response {
  return c.json(body, status, { etag: etag(version), "cache-control": "no-store" });
}
