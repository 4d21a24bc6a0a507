/**
 * Header rewriting between client and backend: hop-by-hop removal both ways (RFC 9110 §7.6.1) and
 * the X-Forwarded-* / X-Request-Id set. Repeated headers (Set-Cookie) survive because we copy
 * entry by entry with `append`.
 */

/** Connection-specific headers that a proxy must not forward (RFC 9110 §7.6.1, plus legacy ones). */
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

export function isHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name);
}

/** Names listed in a Connection header are hop-by-hop for this message too (RFC 9110 §7.6.1). */
function connectionTokens(value: string | null): Set<string> | undefined {
  if (!value) return undefined;
  let tokens: Set<string> | undefined;
  for (const raw of value.split(",")) {
    const token = raw.trim().toLowerCase();
    if (token && token !== "close" && token !== "keep-alive") (tokens ??= new Set()).add(token);
  }
  return tokens;
}

export interface ForwardInfo {
  /** The socket peer; appended to X-Forwarded-For. */
  readonly peerIp: string;
  /** The client's X-Forwarded-For chain is kept only when the peer is a trusted proxy. */
  readonly peerTrusted: boolean;
  readonly requestId: string;
  /** Host header for the backend; undefined keeps the client's (preserve_host). */
  readonly upstreamHost: string | undefined;
}

/** Builds the headers sent upstream from the client's headers. */
export function buildUpstreamHeaders(client: Headers, info: ForwardInfo): Headers {
  const out = new Headers();
  const extra = connectionTokens(client.get("connection"));
  let clientHost = "";
  let forwardedFor: string | null = null;
  let forwardedProto: string | null = null;
  let forwardedHost: string | null = null;
  for (const [name, value] of client) {
    if (HOP_BY_HOP.has(name) || extra?.has(name)) continue;
    switch (name) {
      case "host":
        clientHost = value;
        continue;
      case "x-forwarded-for":
        forwardedFor = value;
        continue;
      case "x-forwarded-proto":
        forwardedProto = value;
        continue;
      case "x-forwarded-host":
        forwardedHost = value;
        continue;
      case "x-request-id":
        continue;
    }
    out.append(name, value);
  }
  // An untrusted peer's X-Forwarded-* claims are discarded (Traefik's default): backends that read the
  // first X-Forwarded-For entry would otherwise believe a spoofed address.
  const trusted = info.peerTrusted;
  out.set("host", info.upstreamHost ?? clientHost);
  out.set(
    "x-forwarded-for",
    trusted && forwardedFor ? `${forwardedFor}, ${info.peerIp}` : info.peerIp,
  );
  out.set("x-forwarded-proto", trusted && forwardedProto ? forwardedProto : "http");
  if (clientHost || (trusted && forwardedHost)) {
    out.set("x-forwarded-host", trusted && forwardedHost ? forwardedHost : clientHost);
  }
  out.set("x-request-id", info.requestId);
  return out;
}

/**
 * Removes hop-by-hop headers from a backend response in place (the Response the proxy hands on
 * owns mutable headers) and returns it.
 */
export function stripResponseHopByHop(headers: Headers): Headers {
  const extra = connectionTokens(headers.get("connection"));
  for (const name of HOP_BY_HOP) headers.delete(name);
  if (extra) { for (const name of extra) headers.delete(name); }
  return headers;
}
