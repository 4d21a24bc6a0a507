/**
 * Who is the client? The socket peer, unless the peer is a trusted proxy: then the right-most
 * X-Forwarded-For entry that is not itself trusted (walking right to left, as nginx's
 * real_ip_recursive does). Untrusted peers cannot spoof their address through headers. A hop may carry
 * a port (`1.2.3.4:5678`, `[2001:db8::1]:443`); the client is always the bare address. A hop that is not
 * an address ends the walk, as in nginx: the client is then the trusted hop to its right (or the peer).
 */
import { type Cidr, cidrContains, type IpAddress, parseCidr, parseIp } from "../config/cidr.ts";

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
  return function resolveClientIp(peerIp, forwardedFor) {
    const peer = parseIp(peerIp);
    if (!peer || !isTrusted(cidrs, peer)) return { clientIp: peerIp, peerTrusted: false };
    let clientIp = peerIp;
    if (!forwardedFor) return { clientIp, peerTrusted: true };
    // Right to left over the comma-separated hops, without splitting the header into an array.
    let end = forwardedFor.length;
    while (end > 0) {
      const comma = forwardedFor.lastIndexOf(",", end - 1);
      const hop = forwardedFor.slice(comma + 1, end).trim();
      end = comma < 0 ? 0 : comma;
      if (hop === "") continue;
      const hopIp = parseHop(hop);
      if (!hopIp) break;
      clientIp = hopIp.text;
      if (!isTrusted(cidrs, hopIp.ip)) break;
    }
    return { clientIp, peerTrusted: true };
  };
}

/** A parsed X-Forwarded-For hop: the bare address text and its bytes. */
type Hop = { text: string; ip: IpAddress };

/**
 * Parses a hop: `addr`, `v4addr:port`, `[v6addr]` or `[v6addr]:port` (the forms nginx's
 * `ngx_parse_addr_port` reads); undefined for anything else.
 */
export function parseHop(hop: string): Hop | undefined {
  const plain = parseIp(hop);
  if (plain) return { text: hop, ip: plain };
  let text: string;
  if (hop.charCodeAt(0) === 0x5b /* [ */) {
    const close = hop.indexOf("]");
    if (close < 0 || (close + 1 < hop.length && !isPort(hop, close + 1))) return undefined;
    text = hop.slice(1, close);
    const ip = parseIp(text);
    return ip?.family === 6 ? { text, ip } : undefined;
  }
  const colon = hop.indexOf(":");
  if (colon < 0 || !isPort(hop, colon)) return undefined;
  text = hop.slice(0, colon);
  const ip = parseIp(text);
  return ip?.family === 4 ? { text, ip } : undefined;
}

/** True when `text` from `colon` on is `:` and a port number 1-65535. */
function isPort(text: string, colon: number): boolean {
  if (text.charCodeAt(colon) !== 0x3a /* : */) return false;
  const digits = text.length - colon - 1;
  if (digits < 1 || digits > 5) return false;
  let port = 0;
  for (let i = colon + 1; i < text.length; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return false;
    port = port * 10 + d;
  }
  return port >= 1 && port <= 65535;
}

function isTrusted(cidrs: readonly Cidr[], ip: IpAddress): boolean {
  for (const cidr of cidrs) if (cidrContains(cidr, ip)) return true;
  return false;
}

function untrustedOnly(peerIp: string): ClientAddress {
  return { clientIp: peerIp, peerTrusted: false };
}
