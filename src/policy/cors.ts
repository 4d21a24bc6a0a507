/**
 * CORS (Fetch standard, "CORS protocol"): the gateway answers preflights itself (204, or 403 for a
 * disallowed origin, method or header) and adds `Access-Control-*` to actual responses through
 * `ctx.responseHeaders`. Origins are exact (`https://app.example.com`), wildcard subdomains
 * (`https://*.example.com`, one or more labels) or `*`. With credentials, `*` is never sent
 * literally: the request's origin is echoed instead, as the standard requires.
 */
import type { CorsConfig } from "../config/policy_schema.ts";
import type { RequestContext, RequestStage } from "../proxy/context.ts";
import { GatewayError } from "../proxy/gateway_error.ts";
import { PolicyConfigError } from "./policy_config_error.ts";

const ORIGIN = /^[a-z][a-z0-9+.-]*:\/\/(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/;
const WILDCARD = /^([a-z][a-z0-9+.-]*:\/\/)\*\.([a-z0-9.-]+(:\d{1,5})?)$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** True for a CORS preflight: OPTIONS with `Origin` and `Access-Control-Request-Method`. */
export function isPreflight(request: Request): boolean {
  return request.method === "OPTIONS" && request.headers.has("origin") &&
    request.headers.has("access-control-request-method");
}

const DEFAULT_PORT = /(?<=^https:\/\/[^/]+):443$|(?<=^http:\/\/[^/]+):80$/;

/** A compiled origin list: exact origins, wildcard patterns, or any. */
export type OriginMatcher = {
  readonly any: boolean;
  readonly exact: ReadonlySet<string>;
  readonly wildcards: RegExp[];
};

/** Compiles `allowed_origins` (config path `path`); throws PolicyConfigError for a malformed entry. */
export function compileOrigins(origins: readonly string[], path: string): OriginMatcher {
  const exact = new Set<string>();
  const wildcards: RegExp[] = [];
  let any = false;
  origins.forEach((raw, i) => {
    // Browsers leave the default port out of Origin, so an entry that writes it would never match.
    const origin = raw.trim().toLowerCase().replace(/\/$/, "").replace(DEFAULT_PORT, "");
    if (origin === "*") any = true;
    else if (origin === "null" || ORIGIN.test(origin)) exact.add(origin);
    else {
      const wild = WILDCARD.exec(origin);
      if (!wild) {
        throw new PolicyConfigError(
          `${path}[${i}]`,
          `expected "*", an origin like "https://app.example.com" or "https://*.example.com", got ${
            JSON.stringify(raw)
          }`,
        );
      }
      wildcards.push(new RegExp(`^${escape(wild[1])}[a-z0-9-]+(\\.[a-z0-9-]+)*\\.${escape(wild[2])}$`));
    }
  });
  return { any, exact, wildcards };
}

/** True when `origin` (as the browser sent it) is allowed. */
export function originAllowed(matcher: OriginMatcher, origin: string): boolean {
  if (matcher.any) return true;
  const lower = origin.toLowerCase();
  return matcher.exact.has(lower) || matcher.wildcards.some((pattern) => pattern.test(lower));
}

/** Compiles the CORS stage. */
export function compileCors(config: CorsConfig, path: string): RequestStage {
  const origins = compileOrigins(config.allowed_origins, `${path}.allowed_origins`);
  const anyMethod = config.allowed_methods.includes("*");
  const methods = new Set(config.allowed_methods.map((m) => m.toUpperCase()));
  const anyHeader = config.allowed_headers.includes("*");
  const headers = new Set(config.allowed_headers.map((h) => h.toLowerCase()));
  config.allowed_methods.forEach((m, i) => checkToken(m, `${path}.allowed_methods[${i}]`));
  config.allowed_headers.forEach((h, i) => checkToken(h, `${path}.allowed_headers[${i}]`));
  config.exposed_headers.forEach((h, i) => checkToken(h, `${path}.exposed_headers[${i}]`));
  const methodList = config.allowed_methods.join(", ");
  const headerList = config.allowed_headers.join(", ");
  const exposed = config.exposed_headers.join(", ");
  const credentials = config.allow_credentials;
  // `*` may go out literally only without credentials (Fetch: credentialed requests reject it).
  const literalStar = origins.any && !credentials;
  const maxAge = String(config.max_age);

  return function cors(ctx: RequestContext) {
    const origin = ctx.request.headers.get("origin");
    if (isPreflight(ctx.request)) return preflight(ctx.request, origin!);
    const out = ctx.responseHeaders ??= [];
    if (!literalStar) out.push(["vary", "Origin"]);
    if (origin === null || !originAllowed(origins, origin)) return undefined;
    out.push(["access-control-allow-origin", literalStar ? "*" : origin]);
    if (credentials) out.push(["access-control-allow-credentials", "true"]);
    if (exposed) out.push(["access-control-expose-headers", exposed]);
    return undefined;
  };

  function preflight(request: Request, origin: string): Response {
    const vary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";
    const reject = (why: string) => {
      throw new GatewayError(403, "forbidden", `CORS preflight rejected: ${why}`, { headers: { vary } });
    };
    if (!originAllowed(origins, origin)) reject(`origin ${origin} is not allowed`);
    const method = request.headers.get("access-control-request-method")!;
    if (!anyMethod && !methods.has(method.toUpperCase())) reject(`method ${method} is not allowed`);
    const requested = request.headers.get("access-control-request-headers");
    if (requested && !anyHeader) {
      for (const name of requested.split(",")) {
        const header = name.trim().toLowerCase();
        if (header && !headers.has(header)) reject(`header ${header} is not allowed`);
      }
    }
    const out = new Headers({
      "access-control-allow-origin": literalStar ? "*" : origin,
      "access-control-allow-methods": anyMethod ? method : methodList,
      "access-control-max-age": maxAge,
      vary,
    });
    if (anyHeader ? requested : headerList) {
      out.set("access-control-allow-headers", anyHeader ? requested! : headerList);
    }
    if (credentials) out.set("access-control-allow-credentials", "true");
    return new Response(null, { status: 204, headers: out });
  }
}

function checkToken(value: string, path: string): void {
  if (!TOKEN.test(value)) {
    throw new PolicyConfigError(path, `expected a method or header name, got ${JSON.stringify(value)}`);
  }
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
