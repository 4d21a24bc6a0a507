/**
 * `least_connections`: the backend with the fewest in-flight requests per unit of weight. Ties are
 * broken by a rotating start so idle equal backends share the load (kairos-rs always took backend 0).
 */
import type { BackendState } from "../backend_state.ts";
import type { BackendChooser } from "../balancer.ts";

export function leastConnections(
  backends: readonly BackendState[],
  weights: readonly number[],
): BackendChooser {
  const n = backends.length;
  let start = 0;
  return function chooseLeastConnections(_clientIp, exclude) {
    let best = -1;
    for (let i = 0; i < n; i++) {
      const idx = (start + i) % n;
      const backend = backends[idx];
      if (backend === exclude || !backend.isAvailable()) continue;
      // inFlight/weight compared without division: a/wa < b/wb ⇔ a·wb < b·wa.
      if (best === -1 || backend.inFlight * weights[best] < backends[best].inFlight * weights[idx]) {
        best = idx;
      }
    }
    if (best === -1) return undefined;
    start = (start + 1) % n;
    return backends[best];
  };
}
