/**
 * A config compiled into a Snapshot the way the gateway builds one, with its own metrics registry and
 * in-memory policy stores: for tests that drive the request handler without starting a process.
 */
import { type Config, configSchema } from "../../src/config/schema.ts";
import { createGatewayMetrics, type GatewayMetrics } from "../../src/observe/gateway_metrics.ts";
import { MetricsRegistry } from "../../src/observe/metrics_registry.ts";
import { createJwksCache } from "../../src/policy/jwks_cache.ts";
import { createMemoryRateLimitStore } from "../../src/policy/rate_limit_store.ts";
import { buildSnapshot, type Snapshot } from "../../src/runtime/snapshot.ts";
import { BackendRegistry } from "../../src/upstream/backend_state.ts";

export interface SnapshotFixture {
  readonly config: Config;
  readonly registry: MetricsRegistry;
  readonly metrics: GatewayMetrics;
  readonly snapshot: Snapshot;
  /** Stops the policy stores' timers. */
  dispose(): void;
}

/** Parses `raw` with the config schema and builds its snapshot (version 1). */
export function compileSnapshot(raw: unknown): SnapshotFixture {
  const config = configSchema.parse(raw);
  const registry = new MetricsRegistry();
  const metrics = createGatewayMetrics(registry);
  const rateLimitStore = createMemoryRateLimitStore();
  const jwks = createJwksCache();
  const snapshot = buildSnapshot(config, 1, {
    registry: new BackendRegistry(),
    metrics,
    policy: { rateLimitStore, jwks, log: () => {} },
  });
  return {
    config,
    registry,
    metrics,
    snapshot,
    dispose() {
      rateLimitStore.dispose();
      jwks.dispose();
    },
  };
}
