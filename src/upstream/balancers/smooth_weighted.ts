/**
 * `weighted`: nginx's smooth weighted round robin. Each pick adds every candidate's weight to its
 * running score, takes the highest, and subtracts the candidates' total from it, so weights 5:1:1 give
 * a,a,b,a,c,a,a rather than a burst of five a's. Unavailable backends sit out without their score
 * moving, so the others keep their proportions.
 */
import type { BackendState } from "../backend_state.ts";
import type { BackendChooser } from "../balancer.ts";

export function smoothWeighted(
  backends: readonly BackendState[],
  weights: readonly number[],
): BackendChooser {
  const n = backends.length;
  const current = new Float64Array(n);
  return function chooseSmoothWeighted(_clientIp, exclude) {
    let total = 0;
    let best = -1;
    for (let i = 0; i < n; i++) {
      const backend = backends[i];
      if (backend === exclude || !backend.isAvailable()) continue;
      current[i] += weights[i];
      total += weights[i];
      if (best === -1 || current[i] > current[best]) best = i;
    }
    if (best === -1) return undefined;
    current[best] -= total;
    return backends[best];
  };
}
