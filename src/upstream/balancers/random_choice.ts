/** `random`: uniform among the available backends, counted first so the draw needs no temporary array. */
import type { BackendState } from "../backend_state.ts";
import type { BackendChooser } from "../balancer.ts";

export function randomChoice(backends: readonly BackendState[], random: () => number): BackendChooser {
  const n = backends.length;
  return function chooseRandom(_clientIp, exclude) {
    let count = 0;
    for (let i = 0; i < n; i++) {
      const backend = backends[i];
      if (backend !== exclude && backend.isAvailable()) count++;
    }
    if (count === 0) return undefined;
    let skip = Math.min(Math.floor(random() * count), count - 1);
    for (let i = 0; i < n; i++) {
      const backend = backends[i];
      if (backend === exclude || !backend.isAvailable()) continue;
      if (skip-- === 0) return backend;
    }
    return undefined; // availability changed between the two passes (it cannot in one synchronous call)
  };
}
