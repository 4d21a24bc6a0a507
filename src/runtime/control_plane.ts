/**
 * Everything around the data plane that changes or reports its config: the metrics history sampler, the
 * admin listener and the config file watcher, started together (after the config store) and closed
 * together. Startup refusals (a non-loopback admin address without a token) throw TypeError.
 */
import type { AdminServer } from "../admin_api/admin_server.ts";
import type { Logger } from "../observe/logger.ts";
import { gatewayHistorySeries, MetricsHistory } from "../observe/metrics_history.ts";
import type { ConfigStore } from "./config_store.ts";
import { ConfigWatcher } from "./config_watcher.ts";
import type { Gateway } from "./gateway.ts";

export interface ControlPlaneOptions {
  readonly gateway: Gateway;
  readonly store: ConfigStore;
  readonly logger: Logger;
  /** Environment lookup (KAIROS_ADMIN_*, KAIROS_WATCH_CONFIG). */
  readonly env: (name: string) => string | undefined;
}

/** The started parts; `close()` stops them in reverse order. */
export interface ControlPlane {
  readonly admin: AdminServer | undefined;
  readonly history: MetricsHistory;
  readonly watcher: ConfigWatcher | undefined;
  close(): Promise<void>;
}

const WATCH_ON = /^(1|true|on|yes)$/i;
const WATCH_OFF = /^(0|false|off|no)$/i;

/** Starts history, admin listener (when `admin.enabled`) and file watcher (unless KAIROS_WATCH_CONFIG=0). */
export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const { gateway, store, logger, env } = options;
  const watch = env("KAIROS_WATCH_CONFIG") ?? "1";
  // A typo ("flase") must not leave the watcher on while the operator believes it is off, or the reverse.
  const watchFile = WATCH_ON.test(watch);
  if (!watchFile && !WATCH_OFF.test(watch)) {
    throw new TypeError(
      `Cannot watch the config file as KAIROS_WATCH_CONFIG must be 1/true/on/yes or 0/false/off/no: current value is "${watch}"`,
    );
  }
  const config = store.config;
  // Loaded only when enabled: the admin app (Hono and the API routes) is a few MiB a closed admin never needs.
  const adminModule = config.admin.enabled ? await import("../admin_api/admin_server.ts") : undefined;
  // Refuse before anything binds, so a refused start leaves nothing half-open.
  const plan = adminModule?.planAdminListener(config.admin, env);
  const history = new MetricsHistory(gatewayHistorySeries(gateway.metrics));
  let admin: AdminServer | undefined;
  let watcher: ConfigWatcher | undefined;
  const close = async () => {
    await watcher?.close();
    await admin?.close();
    history.stop();
  };
  try {
    history.start();
    if (adminModule && plan) {
      admin = new adminModule.AdminServer({ plan, store, gateway, history, logger });
      admin.start();
    }
    if (watchFile) {
      watcher = new ConfigWatcher({
        path: store.path,
        onChange: () => store.reloadFromFile("file"),
        onError: (err) => logger.warn("config file watch failed", { file: store.path, error: err.message }),
      });
      try {
        watcher.start();
      } catch (err) {
        // Reloads still work through SIGHUP and the API.
        logger.warn("cannot watch the config file; reload with SIGHUP or the admin API", {
          file: store.path,
          error: (err as Error).message,
        });
        watcher = undefined;
      }
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { admin, history, watcher, close };
}
