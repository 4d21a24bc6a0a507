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
    const start = ringIndex(ring, hash32(clientIp, mappedIpv4Offset(clientIp)));
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

/**
 * Where the IPv4 address starts in an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, RFC 4291 §2.5.5.2),
 * else 0. A dual-stack listener reports IPv4 peers in that form while X-Forwarded-For has the plain
 * address; hashing only the IPv4 part keeps such a client on one backend either way, without a slice.
 */
function mappedIpv4Offset(ip: string): number {
  if (ip.length < 14 || ip.charCodeAt(0) !== 58 || ip.charCodeAt(1) !== 58 || ip.charCodeAt(6) !== 58) {
    return 0;
  }
  for (let i = 2; i < 6; i++) if ((ip.charCodeAt(i) | 0x20) !== 102) return 0; // "ffff", any case
  return ip.indexOf(".", 7) > 7 ? 7 : 0;
}
