/**
 * IP addresses and CIDR blocks for `trusted_proxies` and `ip_filter`: strict parsing (RFC 4291 §2.2 text
 * forms for IPv6, dotted quads for IPv4) and prefix containment. Families are kept apart as nginx keeps
 * them (`ngx_cidr_match`): an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, RFC 4291 §2.5.5.2) is the IPv4
 * client it carries, so a dual-stack listener still matches IPv4 blocks, and an IPv6 block matches IPv4
 * clients only when it is written inside `::ffff:0:0/96` (`::/0` is every IPv6 client, no IPv4 one).
 */

/** A parsed block: network bytes (host bits cleared) and prefix length. A bare address has a full prefix. */
export type Cidr = { family: 4 | 6; bytes: Uint8Array; prefix: number };

/** A parsed address. */
export type IpAddress = { family: 4 | 6; bytes: Uint8Array };

/** Parses an IPv4 or IPv6 address (no zone id, no brackets); undefined when invalid. */
export function parseIp(text: string): IpAddress | undefined {
  if (text.includes(":")) {
    const bytes = parseIpv6(text);
    return bytes && { family: 6, bytes };
  }
  const bytes = parseIpv4(text);
  return bytes && { family: 4, bytes };
}

/** Parses `addr` or `addr/prefix`; undefined when invalid. Host bits past the prefix are cleared. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf("/");
  const ip = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!ip) return undefined;
  const max = ip.family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const digits = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(digits)) return undefined;
    prefix = Number(digits);
    if (prefix > max) return undefined;
  }
  const bytes = ip.bytes;
  for (let bit = prefix; bit < max; bit++) bytes[bit >> 3] &= ~(0x80 >> (bit & 7));
  return { family: ip.family, bytes, prefix };
}

/**
 * True when `ip` (a string or parsed address) lies inside `cidr`; an invalid address is never inside.
 * IPv4 clients (mapped ones included) match IPv4 blocks and IPv4-mapped IPv6 blocks only.
 */
export function cidrContains(cidr: Cidr, ip: string | IpAddress): boolean {
  const address = typeof ip === "string" ? parseIp(ip) : ip;
  if (!address) return false;
  const bytes = address.bytes;
  // Where the client's IPv4 address starts in `bytes`; -1 for a (non-mapped) IPv6 client.
  const v4 = address.family === 4 ? 0 : isIpv4Mapped(bytes) ? 12 : -1;
  if (cidr.family === 4) return v4 >= 0 && prefixEqual(bytes, v4, cidr.bytes, 0, cidr.prefix);
  if (v4 < 0) return prefixEqual(bytes, 0, cidr.bytes, 0, cidr.prefix);
  return cidr.prefix >= 96 && isIpv4Mapped(cidr.bytes) &&
    prefixEqual(bytes, v4, cidr.bytes, 12, cidr.prefix - 96);
}

/** True when the first `bits` bits of `a` from byte `aStart` equal those of `b` from byte `bStart`. */
function prefixEqual(a: Uint8Array, aStart: number, b: Uint8Array, bStart: number, bits: number): boolean {
  const full = bits >> 3;
  for (let i = 0; i < full; i++) if (a[aStart + i] !== b[bStart + i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[aStart + full] & mask) === (b[bStart + full] & mask);
}

/** True for the 16 bytes of `::ffff:a.b.c.d` (the first 96 bits are `::ffff`). */
function isIpv4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    // Leading zeros are rejected: some stacks read "010" as octal, so its meaning is ambiguous.
    if (!/^(0|[1-9]\d{0,2})$/.test(parts[i])) return undefined;
    const n = Number(parts[i]);
    if (n > 255) return undefined;
    bytes[i] = n;
  }
  return bytes;
}

function parseIpv6(text: string): Uint8Array | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const head = parseGroups(halves[0], halves.length === 1);
  const tail = halves.length === 2 ? parseGroups(halves[1], true) : [];
  if (!head || !tail) return undefined;
  // Without "::" all 8 groups are spelled out; with it, "::" stands for at least one zero group.
  if (halves.length === 1 ? head.length !== 8 : head.length + tail.length > 7) return undefined;
  const bytes = new Uint8Array(16);
  head.forEach((group, i) => writeGroup(bytes, i, group));
  tail.forEach((group, i) => writeGroup(bytes, 8 - tail.length + i, group));
  return bytes;
}

/** Parses colon-separated hex groups; an IPv4 dotted quad may end them (RFC 4291 §2.2 form 3). */
function parseGroups(text: string, allowIpv4Tail: boolean): number[] | undefined {
  if (text === "") return [];
  const parts = text.split(":");
  const groups: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (allowIpv4Tail && i === parts.length - 1 && part.includes(".")) {
      const v4 = parseIpv4(part);
      if (!v4) return undefined;
      groups.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
    } else if (/^[0-9A-Fa-f]{1,4}$/.test(part)) groups.push(parseInt(part, 16));
    else return undefined;
  }
  return groups;
}

function writeGroup(bytes: Uint8Array, index: number, group: number): void {
  bytes[index * 2] = group >> 8;
  bytes[index * 2 + 1] = group & 0xff;
}
