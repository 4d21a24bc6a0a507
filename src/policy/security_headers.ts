/**
 * Security headers as kairos-rs sends them (its actix `DefaultHeaders`), added to a response only when
 * the backend did not set them. `headers` overrides or adds values; an empty value removes a default.
 */
import type { SecurityHeadersConfig } from "../config/policy_schema.ts";
import type { RequestContext, ResponseStage } from "../proxy/context.ts";

/** kairos-rs's defaults, in its order. */
export const DEFAULT_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "X-XSS-Protection": "1; mode=block",
  "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
  "Referrer-Policy": "strict-origin-when-cross-origin",
  "Content-Security-Policy": "default-src 'self'",
  "Permissions-Policy": "geolocation=(), microphone=(), camera=()",
};

/** The header list a config yields (lowercase names); empty when disabled. */
export function securityHeaderList(config: SecurityHeadersConfig | undefined): [string, string][] {
  if (config && !config.enabled) return [];
  const merged = new Map<string, string>();
  for (const [name, value] of Object.entries(DEFAULT_SECURITY_HEADERS)) merged.set(name.toLowerCase(), value);
  for (const [name, value] of Object.entries(config?.headers ?? {})) {
    if (value === "") merged.delete(name.toLowerCase());
    else merged.set(name.toLowerCase(), value);
  }
  return [...merged];
}

/** Compiles the stage (undefined when no header is left to send). No config means kairos-rs's defaults. */
export function compileSecurityHeaders(config: SecurityHeadersConfig | undefined): ResponseStage | undefined {
  const list = securityHeaderList(config);
  if (list.length === 0) return undefined;
  return function addSecurityHeaders(_ctx: RequestContext, response: Response): Response {
    const headers = response.headers;
    for (const [name, value] of list) {
      if (!headers.has(name)) headers.set(name, value);
    }
    return response;
  };
}
