/**
 * `ip_hash`: consistent hashing of the client IP onto a ring of the pool's backends (built once).
 * When the owning backend is unavailable the next distinct backend clockwise takes the client, which
 * is exactly where it would land if that backend were removed from the config.
 */
import type { BackendState } from "../backend_state.ts";
import type { BackendChooser } from "../balancer.ts";
import { buildHashRing, hash32, ringIndex } from "../hash_ring.ts";

export function ipHash(backends: readonly BackendState[], weights: readonly number[]): BackendChooser {
  const ring = buildHashRing(backends.map((b) => b.key), weights);
  const { owners } = ring;
  const size = owners.length;
  return function chooseIpHash(clientIp, exclude) {
    // Walking the whole ring to find nobody is avoidable: check once that someone is available.
    let any = false;
    for (let i = 0; i < backends.length; i++) {
      if (backends[i] !== exclude && backends[i].isAvailable()) {
        any = true;
        break;
      }
    }
    if (!any) return undefined;
    const start = ringIndex(ring, hash32(clientIp));
    let previous = -1;
    for (let i = 0; i < size; i++) {
      const owner = owners[(start + i) % size];
      if (owner === previous) continue;
      previous = owner;
      const backend = backends[owner];
      if (backend !== exclude && backend.isAvailable()) return backend;
    }
    return undefined;
  };
}
