/**
 * A consistent-hash ring for `ip_hash`. Each node places `VNODES_PER_WEIGHT × weight` points whose
 * positions depend only on the node's key, so removing one node of N moves only the ~1/N of clients
 * that hashed onto it; everyone else keeps their node.
 */

/** Points per unit of weight; 160 keeps the load spread within a few percent (ketama's choice). */
export const VNODES_PER_WEIGHT = 160;
/** Weights above this are capped on the ring to bound its size (16,000 points per node). */
export const MAX_RING_WEIGHT = 100;

/** Sorted point positions and, for each, the index of the node that owns it. */
export interface HashRing {
  readonly points: Uint32Array;
  readonly owners: Uint32Array;
  readonly nodeCount: number;
}

/**
 * 32-bit FNV-1a of the string's UTF-16 code units from `start` on, followed by murmur3's fmix32
 * finalizer: FNV alone scatters near-identical inputs ("10.0.0.1", "10.0.0.2") poorly across the ring.
 */
export function hash32(input: string, start = 0): number {
  let h = 0x811c9dc5;
  for (let i = start; i < input.length; i++) {
    h ^= input.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Builds a ring over nodes identified by `keys` (stable identities such as backend URLs). */
export function buildHashRing(keys: readonly string[], weights: readonly number[]): HashRing {
  if (weights.length !== keys.length) {
    throw new RangeError(
      `Cannot build hash ring as every node needs a weight: got ${keys.length} nodes and ${weights.length} weights`,
    );
  }
  let total = 0;
  const counts = keys.map((_, i) => VNODES_PER_WEIGHT * Math.min(weights[i], MAX_RING_WEIGHT));
  for (const count of counts) total += count;
  const positions = new Float64Array(total);
  let n = 0;
  for (let node = 0; node < keys.length; node++) {
    for (let v = 0; v < counts[node]; v++) {
      // Position in the high 32 bits, owner in the low ones: one numeric sort orders both, and equal
      // positions (rare collisions) resolve by node index, deterministically.
      positions[n++] = hash32(`${keys[node]}#${v}`) * 2 ** 20 + node;
    }
  }
  positions.sort();
  const points = new Uint32Array(total);
  const owners = new Uint32Array(total);
  for (let i = 0; i < total; i++) {
    points[i] = Math.floor(positions[i] / 2 ** 20);
    owners[i] = positions[i] % 2 ** 20;
  }
  return { points, owners, nodeCount: keys.length };
}

/** Index of the first point at or clockwise after `hash` (wrapping to 0); -1 on an empty ring. */
export function ringIndex(ring: HashRing, hash: number): number {
  const points = ring.points;
  if (points.length === 0) return -1;
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid] < hash) lo = mid + 1;
    else hi = mid;
  }
  return lo === points.length ? 0 : lo;
}
