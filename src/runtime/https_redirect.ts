/**
 * The plain-HTTP companion of a TLS gateway port (`server.tls.redirect_http_port`): every request is sent to
 * the same host, path and query over HTTPS with a 308, which keeps the method and body (nginx's
 * `return 308 https://$host$request_uri`, Caddy's automatic redirect). With `acme_webroot`, an ACME HTTP-01
 * challenge (`/.well-known/acme-challenge/TOKEN`) is answered from that directory instead, so certbot's
 * webroot plugin can renew the certificate the TLS port serves.
 */
import type { Logger } from "../observe/logger.ts";
import { hostName } from "../routing/host_router.ts";
import { isValidHost, printable, splitUrl, type UrlParts } from "../routing/request_target.ts";
import { formatListenAddress } from "./listen_address.ts";

export interface HttpsRedirectOptions {
  readonly hostname: string;
  readonly port: number;
  /** The TLS port redirects point at; left out of the Location when it is 443. */
  readonly httpsPort: number;
  /** Directory certbot writes `.well-known/acme-challenge/TOKEN` files into. */
  readonly acmeWebroot?: string;
  readonly logger: Logger;
}

const CHALLENGE_PREFIX = "/.well-known/acme-challenge/";
// RFC 8555 §8.3: the token is base64url; anything else (a "/", "..", "%") never names a challenge file.
const TOKEN = /^[A-Za-z0-9_-]+$/;

/** Binds the redirect listener; throws when the port cannot be bound. */
export function startHttpsRedirect(options: HttpsRedirectOptions): Deno.HttpServer<Deno.NetAddr> {
  const handler = createRedirectHandler(options);
  return Deno.serve({
    hostname: options.hostname,
    port: options.port,
    onListen: (addr) =>
      options.logger.info("redirecting plain HTTP to HTTPS", {
        address: formatListenAddress(addr.hostname, addr.port),
        https_port: options.httpsPort,
        acme_webroot: options.acmeWebroot ?? null,
      }),
  }, handler);
}

/** The redirect listener's request handler (exported for tests). */
export function createRedirectHandler(
  options: HttpsRedirectOptions,
): (request: Request) => Promise<Response> {
  const portSuffix = options.httpsPort === 443 ? "" : `:${options.httpsPort}`;
  const parts: UrlParts = { pathStart: 0, queryStart: 0, end: 0 };
  return async function redirect(request) {
    const url = request.url;
    splitUrl(url, parts);
    const path = url.slice(parts.pathStart, parts.queryStart);
    if (options.acmeWebroot !== undefined && path.startsWith(CHALLENGE_PREFIX)) {
      return await challenge(options.acmeWebroot, path.slice(CHALLENGE_PREFIX.length), request.method);
    }
    // HTTP/1.1 requires Host (RFC 9112 §3.2). Without it Deno's URL holds a stand-in ("localhost" and this
    // port), which is no name of ours to redirect to: 400, as for an invalid Host.
    const host = request.headers.get("host") ?? "";
    if (host === "" || !isValidHost(host)) {
      return text(400, `Cannot redirect to HTTPS: invalid Host header ${printable(host)}\n`);
    }
    const location = `https://${hostName(host)}${portSuffix}${url.slice(parts.pathStart, parts.end) || "/"}`;
    return new Response(null, { status: 308, headers: { location, "content-length": "0" } });
  };
}

async function challenge(webroot: string, token: string, method: string): Promise<Response> {
  if (method !== "GET" && method !== "HEAD") return text(405, "Method not allowed\n", { allow: "GET, HEAD" });
  if (!TOKEN.test(token)) return text(404, "Not found\n");
  try {
    const body = await Deno.readFile(`${webroot}/.well-known/acme-challenge/${token}`);
    return new Response(method === "HEAD" ? null : body, {
      status: 200,
      headers: { "content-type": "text/plain", "content-length": String(body.length) },
    });
  } catch {
    return text(404, "Not found\n");
  }
}

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8", ...headers } });
}
