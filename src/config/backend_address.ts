/**
 * Backend `host` strings by route protocol: which schemes each protocol accepts, and the split into
 * scheme, hostname and port that the runtime uses to build upstream targets.
 */
import type { Protocol } from "./schema.ts";
import { parseIp } from "./cidr.ts";

/** A checked backend address. `hostname` has no IPv6 brackets; `authority` is `host:port` ready for a URL. */
export type BackendAddress = { scheme: string; hostname: string; port: number; authority: string };

type SchemeRule = { schemes: readonly string[]; bare?: string };

// kairos-rs lets http routes use only http(s) for the legacy host; ws:// makes no sense for a plain proxy.
// FTP and DNS backends are often written bare (config_multi_protocol.json uses "8.8.8.8").
const RULES: Record<Protocol, SchemeRule> = {
  http: { schemes: ["http", "https"] },
  websocket: { schemes: ["ws", "wss", "http", "https"] },
  ftp: { schemes: ["ftp", "ftps"], bare: "ftp" },
  dns: { schemes: ["dns", "udp", "tcp"], bare: "dns" },
};

const SCHEME_PREFIX = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;
const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/**
 * Checks `host` for a route of `protocol` and splits it; returns an error message on failure.
 * A port inside `host` is accepted only when it equals `port` (it is then just redundant).
 */
export function parseBackendHost(host: string, port: number, protocol: Protocol): BackendAddress | string {
  const rule = RULES[protocol];
  const expected = rule.schemes.map((s) => `${s}://`).join(", ") + (rule.bare ? " or a bare host" : "");
  const prefix = SCHEME_PREFIX.exec(host);
  let scheme: string;
  let rest: string;
  if (prefix) {
    scheme = prefix[1].toLowerCase();
    rest = host.slice(prefix[0].length);
    if (!rule.schemes.includes(scheme)) {
      return `backend host of a ${protocol} route must start with ${expected}, got ${JSON.stringify(host)}`;
    }
  } else if (rule.bare && !host.includes("://")) {
    scheme = rule.bare;
    rest = host;
  } else {return `backend host of a ${protocol} route must start with ${expected}, got ${
      JSON.stringify(host)
    }`;}

  if (/[/?#]/.test(rest)) {
    return `backend host must be scheme://hostname only; put the path in internal_path, got ${
      JSON.stringify(host)
    }`;
  }
  if (rest.includes("@")) return `backend host cannot carry credentials, got ${JSON.stringify(host)}`;

  const split = splitAuthority(rest, !prefix);
  if (typeof split === "string") return `${split}, got ${JSON.stringify(host)}`;
  const { hostname, portText, ipv6 } = split;
  if (portText !== undefined) {
    const named = /^\d{1,5}$/.test(portText) ? Number(portText) : 0;
    if (named < 1 || named > 65535) return `backend host has an invalid port, got ${JSON.stringify(host)}`;
    if (named !== port) {
      return `backend host ${
        JSON.stringify(host)
      } names port ${named} but port is ${port}; drop the port from host`;
    }
  }
  const name = hostname.toLowerCase();
  return { scheme, hostname: name, port, authority: ipv6 ? `[${name}]:${port}` : `${name}:${port}` };
}

/** Splits `hostname[:port]`, `[v6][:port]`, or (bare only) an unbracketed IPv6 literal. */
function splitAuthority(
  rest: string,
  bare: boolean,
): { hostname: string; portText?: string; ipv6: boolean } | string {
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    const hostname = rest.slice(1, close);
    if (close < 0 || parseIp(hostname)?.family !== 6) return "backend host has an invalid IPv6 literal";
    const after = rest.slice(close + 1);
    if (after === "") return { hostname, ipv6: true };
    if (!after.startsWith(":")) return "backend host has text after its IPv6 literal";
    return { hostname, portText: after.slice(1), ipv6: true };
  }
  const colons = rest.split(":").length - 1;
  if (colons > 1) {
    if (bare && parseIp(rest)?.family === 6) return { hostname: rest, ipv6: true };
    return "backend host has an IPv6 address without brackets (write it as [::1])";
  }
  const [hostname, portText] = colons === 1 ? rest.split(":") : [rest, undefined];
  if (hostname === "") return "backend host has no hostname";
  if (/^[\d.]+$/.test(hostname)) {
    return parseIp(hostname)
      ? { hostname, portText, ipv6: false }
      : "backend host has an invalid IPv4 address";
  }
  const ascii = toAsciiHostname(hostname);
  if (ascii === undefined) return "backend host has an invalid hostname";
  const trimmed = ascii.endsWith(".") ? ascii.slice(0, -1) : ascii;
  if (trimmed.length > 253 || !trimmed.split(".").every((label) => LABEL.test(label))) {
    return "backend host has an invalid hostname";
  }
  return { hostname: ascii, portText, ipv6: false };
}

/**
 * An internationalized name in its punycode form (`bücher.example` → `xn--bcher-kva.example`), which is
 * what DNS and the Host header need. kairos-rs's reqwest converts such hosts too, so its configs use them.
 */
function toAsciiHostname(hostname: string): string | undefined {
  if (/^\p{ASCII}*$/u.test(hostname)) return hostname;
  try {
    return new URL(`http://${hostname}`).hostname;
  } catch {
    return undefined;
  }
}

/**
 * The key a backend's state, pool and metrics are kept under: ws/wss backends share the state of http/https
 * ones (they are dialled over them); FTP and DNS backends keep their own scheme, so never share HTTP state.
 */
export function backendKey(address: BackendAddress): string {
  const secure = address.scheme === "https" || address.scheme === "wss";
  const web = secure || address.scheme === "http" || address.scheme === "ws";
  return `${web ? (secure ? "https" : "http") : address.scheme}://${address.authority}`;
}
