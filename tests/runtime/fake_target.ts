/** A ConfigTarget that records reload outcomes instead of running a gateway. */
import type { Config } from "../../src/config/schema.ts";
import type { ConfigTarget } from "../../src/runtime/config_store.ts";

export type FakeTarget = ConfigTarget & { readonly results: string[] };

export function fakeTarget(config: Config): FakeTarget {
  let snapshot = { version: 1, config };
  const results: string[] = [];
  const metrics = { configReload: (r: string) => void results.push(r) };
  return {
    results,
    metrics,
    get snapshot() {
      return snapshot;
    },
    apply(next: Config) {
      if (JSON.stringify(next) === JSON.stringify(snapshot.config)) {
        metrics.configReload("unchanged");
        return { ok: true, version: snapshot.version, changed: false, errors: [] };
      }
      snapshot = { version: snapshot.version + 1, config: next };
      metrics.configReload("success");
      return { ok: true, version: snapshot.version, changed: true, errors: [] };
    },
  };
}
