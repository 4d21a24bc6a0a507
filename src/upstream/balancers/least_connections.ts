/**
 * `least_connections`: the backend with the fewest in-flight requests per unit of weight. Ties are
 * broken by smooth weighted round robin among the tied backends, as nginx's least_conn does, so idle
 * backends share sequential traffic by weight (kairos-rs always took backend 0).
 */
import type { BackendState } from "../backend_state.ts";
import type { BackendChooser } from "../balancer.ts";

export function leastConnections(
  backends: readonly BackendState[],
  weights: readonly number[],
): BackendChooser {
  const n = backends.length;
  const current = new Float64Array(n);
  return function chooseLeastConnections(_clientIp, exclude) {
    let best = -1;
    let tied = 0;
    for (let i = 0; i < n; i++) {
      const backend = backends[i];
      if (backend === exclude || !backend.isAvailable()) continue;
      if (best === -1) {
        best = i;
        tied = 1;
        continue;
      }
      // inFlight/weight compared without division: a/wa < b/wb ⇔ a·wb < b·wa.
      const lhs = backend.inFlight * weights[best];
      const rhs = backends[best].inFlight * weights[i];
      if (lhs < rhs) {
        best = i;
        tied = 1;
      } else if (lhs === rhs) {
        tied++;
      }
    }
    if (tied <= 1) return best === -1 ? undefined : backends[best];
    // Every backend tied with `best` comes at or after it: `best` only moves on a strictly lower load.
    const load = backends[best].inFlight;
    const unit = weights[best];
    let total = 0;
    let chosen = -1;
    for (let i = best; i < n; i++) {
      const backend = backends[i];
      if (backend === exclude || !backend.isAvailable() || backend.inFlight * unit !== load * weights[i]) {
        continue;
      }
      current[i] += weights[i];
      total += weights[i];
      if (chosen === -1 || current[i] > current[chosen]) chosen = i;
    }
    current[chosen] -= total;
    return backends[chosen];
  };
}
