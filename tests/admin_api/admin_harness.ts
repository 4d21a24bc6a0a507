/**
 * In-process admin API fixture: a real Gateway (not listening), a ConfigStore on a temp file and the
 * AdminServer's request handler, called directly with `Request`s.
 */
import assert from "node:assert/strict";
import { type AdminListenPlan, AdminServer } from "../../src/admin_api/admin_server.ts";
import { loadConfigFile } from "../../src/config/load.ts";
import { createLogger } from "../../src/observe/logger.ts";
import { gatewayHistorySeries, MetricsHistory } from "../../src/observe/metrics_history.ts";
import { ConfigStore } from "../../src/runtime/config_store.ts";
import { Gateway } from "../../src/runtime/gateway.ts";

export const JWT_SECRET = "jwt-secret-0123456789-0123456789-abcdef";
export const API_KEY_HASH = "ab".repeat(32);

/** A config with secrets, comments and two routes. */
export function baseConfig(): Record<string, unknown> {
  return {
    _comment: "top comment",
    version: 1,
    admin: { enabled: true },
    jwt: { secret: JWT_SECRET },
    routers: [
      {
        _comment: "users",
        external_path: "/users/{id}",
        internal_path: "/v1/users/{id}",
        methods: ["GET", "PUT"],
        backends: [{ host: "http://127.0.0.1", port: 9001 }],
        auth: { api_keys: { keys: [{ id: "ci", sha256: API_KEY_HASH }] } },
      },
      {
        external_path: "/static/{*path}",
        internal_path: "/{path}",
        methods: ["GET"],
        backends: [{ host: "http://127.0.0.1", port: 9002 }],
      },
    ],
  };
}

export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  // deno-lint-ignore no-explicit-any
  readonly json: any;
}

export interface AdminFixture {
  readonly path: string;
  readonly gateway: Gateway;
  readonly store: ConfigStore;
  readonly history: MetricsHistory;
  readonly logs: string[];
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Reply>;
  raw(request: Request): Promise<Response>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts the fixture on a temp JSON (or YAML) file holding `config`. */
export async function adminFixture(
  config: unknown = baseConfig(),
  options: { token?: string; file?: string; text?: string } = {},
): Promise<AdminFixture> {
  const dir = await Deno.makeTempDir({ prefix: "kairos-admin-" });
  const path = `${dir}/${options.file ?? "config.json"}`;
  await Deno.writeTextFile(path, options.text ?? JSON.stringify(config, null, 2));
  const loaded = await loadConfigFile(path);
  assert.ok(loaded.ok, JSON.stringify(!loaded.ok && loaded.errors));
  const logs: string[] = [];
  const logger = createLogger({ level: "debug", format: "json", write: (line) => logs.push(line) });
  const gateway = new Gateway({ config: loaded.config, host: "127.0.0.1", port: 0, logger });
  const store = new ConfigStore({ path, loaded, target: gateway, logger });
  const history = new MetricsHistory(gatewayHistorySeries(gateway.metrics));
  history.sample();
  const plan: AdminListenPlan = { host: "127.0.0.1", port: 0, envToken: options.token };
  const admin = new AdminServer({ plan, store, gateway, history, logger });
  const raw = (request: Request) => admin.handle(request, "127.0.0.1");
  return {
    path,
    gateway,
    store,
    history,
    logs,
    raw,
    async call(method, url, body, headers = {}) {
      const init: RequestInit = { method, headers: { host: "127.0.0.1:5901", ...headers } };
      if (body !== undefined) {
        init.body = typeof body === "string" ? body : JSON.stringify(body);
        (init.headers as Record<string, string>)["content-type"] ??= "application/json";
      }
      const response = await raw(new Request(`http://127.0.0.1:5901${url}`, init));
      const text = await response.text();
      return {
        status: response.status,
        headers: response.headers,
        json: text === "" ? undefined : JSON.parse(text),
      };
    },
    async [Symbol.asyncDispose]() {
      gateway.close();
      history.stop();
      await Deno.chmod(path, 0o644).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    },
  };
}
