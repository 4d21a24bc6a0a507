/**
 * The IP allow/deny stage on the client address (after trusted-proxy resolution). Deny wins; a
 * non-empty allow list turns the default to deny. Families stay apart as in nginx: IPv4 clients (and
 * IPv4-mapped IPv6 ones) match IPv4 blocks and IPv4-mapped IPv6 blocks (`::ffff:0:0/96`), IPv6 clients
 * match IPv6 blocks, so `deny: ["::/0"]` blocks IPv6 clients only.
 */
import type { IpFilterConfig } from "../config/policy_schema.ts";
import { type Cidr, cidrContains, type IpAddress, parseCidr, parseIp } from "../config/cidr.ts";
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
    const denied = !ip || anyContains(deny, ip) || (allow.length > 0 && !anyContains(allow, ip));
    if (!denied) return undefined;
    log?.("info", "ip filter denied request", { client_ip: raw, route: ctx.routeId });
    throw new GatewayError(403, "forbidden", `Access denied for client address ${raw}`);
  };
}

function anyContains(blocks: readonly Cidr[], ip: IpAddress): boolean {
  for (const block of blocks) if (cidrContains(block, ip)) return true;
  return false;
}
