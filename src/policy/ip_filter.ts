/**
 * The IP allow/deny stage on the client address (after trusted-proxy resolution). Deny wins; a
 * non-empty allow list turns the default to deny. IPv4-mapped IPv6 clients match IPv4 blocks.
 */
import type { IpFilterConfig } from "../config/policy_schema.ts";
import { type Cidr, cidrContains, parseCidr, parseIp } from "../config/cidr.ts";
import type { RequestContext, RequestStage } from "../proxy/context.ts";
import { GatewayError } from "../proxy/gateway_error.ts";
import { PolicyConfigError } from "./policy_config_error.ts";

/** Parses one allow/deny entry (an address or a CIDR) at config path `path`. */
export function compileIpBlock(entry: string, path: string): Cidr {
  const cidr = parseCidr(entry.trim());
  if (!cidr) {
    throw new PolicyConfigError(path, `expected an IP address or CIDR, got ${JSON.stringify(entry)}`);
  }
  return cidr;
}

/** Compiles the stage (undefined when both lists are empty); it answers 403 `forbidden`. */
export function compileIpFilter(
  config: IpFilterConfig,
  path: string,
  log?: (level: "info", msg: string, fields?: Record<string, unknown>) => void,
): RequestStage | undefined {
  const allow = config.allow.map((entry, i) => compileIpBlock(entry, `${path}.allow[${i}]`));
  const deny = config.deny.map((entry, i) => compileIpBlock(entry, `${path}.deny[${i}]`));
  if (allow.length === 0 && deny.length === 0) return undefined;

  return function filterIp(ctx: RequestContext) {
    const raw = ctx.clientIp;
    const zone = raw.indexOf("%");
    const ip = parseIp(zone < 0 ? raw : raw.slice(0, zone));
    const denied = !ip || deny.some((cidr) => cidrContains(cidr, ip)) ||
      (allow.length > 0 && !allow.some((cidr) => cidrContains(cidr, ip)));
    if (!denied) return undefined;
    log?.("info", "ip filter denied request", { client_ip: raw, route: ctx.routeId });
    throw new GatewayError(403, "forbidden", `Access denied for client address ${raw}`);
  };
}
