/**
 * Virtual hosts on top of the path trie. Routes that name `hosts` answer only requests for those names;
 * routes without `hosts` answer every name. A request is matched first against the routes of its host (an
 * exact name, else the longest `*.suffix` that covers it), then against the host-less routes, as Kong and
 * Traefik do: a host rule is the more specific one. Without any `hosts` in the config this is the plain
 * path table and the host is never looked at.
 */
import { compileRouteTable, type MatchResult, type RouteEntry, type RouteTable } from "./route_table.ts";

/** A route entry with the host names it answers (none: every host). */
export interface HostRouteEntry<T> extends RouteEntry<T> {
  readonly hosts?: readonly string[];
}

export interface HostRouter<T> {
  /** `host` is the request's Host (or HTTP/2 `:authority`) as sent: any case, with or without a port. */
  match(host: string | null, method: string, path: string): MatchResult<T>;
  readonly size: number;
}

/** Compiles one path table per named host plus one for the host-less routes. */
export function compileHostRouter<T>(entries: readonly HostRouteEntry<T>[]): HostRouter<T> {
  const anyHost: RouteEntry<T>[] = [];
  const named = new Map<string, RouteEntry<T>[]>();
  for (const entry of entries) {
    if (entry.hosts === undefined || entry.hosts.length === 0) {
      anyHost.push(entry);
      continue;
    }
    for (const host of new Set(entry.hosts.map(canonicalHostPattern))) {
      const list = named.get(host) ?? [];
      list.push(entry);
      named.set(host, list);
    }
  }
  const fallback = compileRouteTable(anyHost);
  if (named.size === 0) {
    return { match: (_host, method, path) => fallback.match(method, path), size: fallback.size };
  }
  const exact = new Map<string, RouteTable<T>>();
  // `*.example.com` is kept as ".example.com"; longer suffixes are tried first (most specific wins).
  const wildcards: Array<[suffix: string, table: RouteTable<T>]> = [];
  for (const [host, list] of named) {
    const table = compileRouteTable(list);
    if (host.startsWith("*.")) wildcards.push([host.slice(1), table]);
    else exact.set(host, table);
  }
  wildcards.sort((a, b) => b[0].length - a[0].length);

  function tableFor(host: string | null): RouteTable<T> | undefined {
    if (host === null) return undefined;
    const name = hostName(host);
    const table = exact.get(name);
    if (table !== undefined) return table;
    for (const [suffix, candidate] of wildcards) {
      if (name.length > suffix.length && name.endsWith(suffix)) return candidate;
    }
    return undefined;
  }

  return {
    match(host, method, path) {
      const table = tableFor(host);
      if (table === undefined) return fallback.match(method, path);
      const own = table.match(method, path);
      if (own.kind === "found") return own;
      const shared = fallback.match(method, path);
      // The host's own routes know the path but not the method, and no host-less route takes it: 405 with
      // the host's methods.
      return shared.kind === "found" || own.kind === "not_found" ? shared : own;
    },
    size: entries.length,
  };
}

/** A configured host, as requests are compared with it: lower case, no trailing dot. */
export function canonicalHostPattern(host: string): string {
  const lower = host.trim().toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}

/** The name part of a Host value, lower case: `API.Example.com:8443` → `api.example.com`, `[::1]:80` → `[::1]`. */
export function hostName(host: string): string {
  let end = host.length;
  const close = host.lastIndexOf("]");
  const colon = host.lastIndexOf(":");
  if (colon > close && (close >= 0 || host.indexOf(":") === colon)) end = colon;
  if (end > 0 && host.charCodeAt(end - 1) === 46 /* . */) end--;
  const name = end === host.length ? host : host.slice(0, end);
  // Most clients send lower case already; lowercasing only when needed keeps the common case allocation-free.
  return /[A-Z]/.test(name) ? name.toLowerCase() : name;
}
