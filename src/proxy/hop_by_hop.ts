/**
 * Connection-specific header fields a proxy must not forward (RFC 9110 §7.6.1): the fixed list, plus
 * the fields a message's own Connection header names.
 */

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** True for a lowercase field name that is hop-by-hop for every message. */
export function isHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name);
}

/** Adds the names listed in a Connection field value to `into` (close and keep-alive are options, not names). */
export function connectionTokens(value: string | null, into?: Set<string>): Set<string> | undefined {
  // Most backends send exactly one of these: skip the split.
  if (!value || value === "keep-alive" || value === "close") return into;
  for (const raw of value.split(",")) {
    const token = raw.trim().toLowerCase();
    if (token && token !== "close" && token !== "keep-alive") (into ??= new Set()).add(token);
  }
  return into;
}
