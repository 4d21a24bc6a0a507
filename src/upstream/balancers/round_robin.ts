/** `round_robin`: a rotating index that skips unavailable backends; the first request goes to backend 0. */
import type { BackendState } from "../backend_state.ts";
import type { BackendChooser } from "../balancer.ts";

export function roundRobin(backends: readonly BackendState[]): BackendChooser {
  const n = backends.length;
  let next = 0;
  return function chooseRoundRobin(_clientIp, exclude) {
    for (let i = 0; i < n; i++) {
      const idx = (next + i) % n;
      const backend = backends[idx];
      if (backend !== exclude && backend.isAvailable()) {
        next = (idx + 1) % n;
        return backend;
      }
    }
    return undefined;
  };
}
