/** A short human summary of a valid config, printed by `kairos validate`. */
import type { Config, RouteConfig } from "./schema.ts";
import { parseBackendHost } from "./backend_address.ts";

type RateLimit = NonNullable<Config["rate_limit"]>;

/** Multi-line summary: routes by protocol (one line each), distinct backends, policies, listeners. */
export function summarizeConfig(config: Config): string {
  const byProtocol = new Map<string, number>();
  for (const route of config.routers) {
    byProtocol.set(route.protocol, (byProtocol.get(route.protocol) ?? 0) + 1);
  }
  const counts = [...byProtocol].map(([protocol, n]) => `${n} ${protocol}`).join(", ");
  const n = config.routers.length;
  const lines = [`${n} route${n === 1 ? "" : "s"} (${counts})`];
  const width = Math.max(...config.routers.map((r) => r.methods.join(",").length));
  for (const route of config.routers) {
    lines.push(`  ${route.methods.join(",").padEnd(width)}  ${routeLine(route)}`);
  }

  const backends = new Set(config.routers.flatMap((r) => r.backends.map((b) => backendLabel(r, b))));
  lines.push(`Backends: ${backends.size} distinct`);
  lines.push(`Policies: ${policies(config).join("; ")}`);
  const server = config.server;
  const listen = server.host === undefined && server.port === undefined
    ? "address from KAIROS_HOST/KAIROS_PORT or the defaults"
    : `${server.host ?? "(default host)"}:${server.port ?? "(default port)"}`;
  const redirect = server.tls?.redirect_http_port;
  const tls = server.tls
    ? `, HTTPS with ${JSON.stringify(server.tls.cert_file)}${
      redirect === undefined ? "" : ` (plain HTTP on ${redirect} redirects)`
    }`
    : "";
  const cas = server.upstream_ca_files?.length ?? 0;
  const roots = cas > 0 ? `, ${cas} upstream CA file${cas === 1 ? "" : "s"}` : "";
  lines.push(`Server: ${listen}${tls}, upstream client ${server.upstream_client}${roots}`);
  const admin = config.admin;
  lines.push(
    admin.enabled
      ? `Admin: ${admin.host}:${admin.port}, token ${admin.token ? "set" : "not set"}`
      : "Admin: disabled",
  );
  return lines.join("\n");
}

function routeLine(route: RouteConfig): string {
  const target = route.backends.length === 1
    ? backendLabel(route, route.backends[0])
    : `${route.backends.length} backends (${route.load_balancing_strategy})`;
  const tags: string[] = [];
  if (route.auth_required) tags.push("auth");
  if (route.retry) tags.push(`retry ${route.retry.max_retries}`);
  if (route.rate_limit) tags.push("rate limit");
  if (route.cors) tags.push("cors");
  if (route.ip_filter) tags.push("ip filter");
  if (route.request_transformation || route.response_transformation) tags.push("transform");
  if (route.backends.some((b) => b.health_check_path)) tags.push("health checks");
  const suffix = tags.length > 0 ? ` [${tags.join(", ")}]` : "";
  const hosts = route.hosts ? ` (${route.hosts.join(", ")})` : "";
  return `${route.external_path}${hosts} → ${route.internal_path} @ ${target}${suffix}`;
}

function backendLabel(route: RouteConfig, backend: RouteConfig["backends"][number]): string {
  const address = parseBackendHost(backend.host, backend.port, route.protocol);
  return typeof address === "string"
    ? `${backend.host}:${backend.port}`
    : `${address.scheme}://${address.authority}`;
}

function policies(config: Config): string[] {
  const out: string[] = [];
  const jwt = config.jwt;
  if (jwt) {
    const keys = [jwt.secret && "secret", jwt.public_key && "public key", jwt.jwks_url && "JWKS"].filter(
      Boolean,
    );
    out.push(`jwt on (${keys.join(", ")}${jwt.issuer ? `, issuer ${JSON.stringify(jwt.issuer)}` : ""})`);
  } else out.push("jwt off");
  out.push(config.rate_limit ? `rate limit ${rateLimitText(config.rate_limit)}` : "rate limit off");
  const perRoute = config.routers.filter((r) => r.rate_limit).length;
  if (perRoute > 0) out.push(`${perRoute} route rate limit${perRoute === 1 ? "" : "s"}`);
  out.push(config.cors ? "cors on" : "cors off");
  out.push(config.ip_filter ? "ip filter on" : "ip filter off");
  out.push(config.security_headers?.enabled === false ? "security headers off" : "security headers on");
  if (config.trusted_proxies.length > 0) out.push(`${config.trusted_proxies.length} trusted proxies`);
  return out;
}

function rateLimitText(rl: RateLimit): string {
  const key = typeof rl.key === "string" ? rl.key : JSON.stringify(rl.key);
  const burst = rl.burst > 0 ? ` + ${rl.burst} burst` : "";
  return `(${rl.algorithm}, ${rl.requests_per_window} per ${rl.window_ms} ms${burst}, key ${key})`;
}
