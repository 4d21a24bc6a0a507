/**
 * Who is the client? The socket peer, unless the peer is a trusted proxy: then the right-most
 * X-Forwarded-For entry that is not itself trusted (walking right to left, as nginx's
 * real_ip_recursive does). Untrusted peers cannot spoof their address through headers.
 */
import { cidrContains, parseCidr } from "../config/cidr.ts";

export interface ClientAddress {
  readonly clientIp: string;
  readonly peerTrusted: boolean;
}

export type ClientIpResolver = (peerIp: string, forwardedFor: string | null) => ClientAddress;

export function createClientIpResolver(trustedProxies: readonly string[]): ClientIpResolver {
  const cidrs = trustedProxies.map((entry) => {
    const cidr = parseCidr(entry);
    if (!cidr) throw new TypeError(`Cannot trust proxy "${entry}": not an IP address or CIDR`);
    return cidr;
  });
  if (cidrs.length === 0) return untrustedOnly;
  const isTrusted = (ip: string) => cidrs.some((cidr) => cidrContains(cidr, ip));
  return function resolveClientIp(peerIp, forwardedFor) {
    if (!isTrusted(peerIp)) return { clientIp: peerIp, peerTrusted: false };
    if (!forwardedFor) return { clientIp: peerIp, peerTrusted: true };
    const hops = forwardedFor.split(",");
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i].trim();
      if (hop && !isTrusted(hop)) return { clientIp: hop, peerTrusted: true };
    }
    return { clientIp: hops[0].trim() || peerIp, peerTrusted: true };
  };
}

function untrustedOnly(peerIp: string): ClientAddress {
  return { clientIp: peerIp, peerTrusted: false };
}
