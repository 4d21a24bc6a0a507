/**
 * Who may use the admin listener. With a token: `Authorization: Bearer <token>` (RFC 6750 §2.1), compared
 * as HMAC-SHA256 digests under a per-process key, so the comparison is over fixed-length values and takes
 * the same time wherever the guess goes wrong. Without a token (allowed on loopback only) every local
 * process may call it. Either way, a browser page from another origin is refused (CSRF), and without a
 * token the Host header must name this machine (DNS rebinding).
 */
import { ApiError } from "./api_error.ts";

export interface AdminAuthOptions {
  /** The current token (env over config; read per request so a reload can rotate it). */
  readonly token: () => string | undefined;
  /** Origins a browser may call from besides the listener's own. */
  readonly allowedOrigins: () => readonly string[];
  /** The configured listen host (a Host header naming it is accepted). */
  readonly listenHost: string;
}

/** The caller as the audit log names it. */
export interface AdminCaller {
  /** `token:<first 8 hex of its SHA-256>` or `anonymous`. */
  readonly id: string;
  readonly address: string;
}

/** Paths answered without a token: liveness probes carry no information worth protecting. */
const OPEN_PATHS = new Set(["/health", "/ready", "/live"]);
const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "::1", "[::1]"]);

/** Whether binding `host` exposes the listener beyond this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Checks requests against the current token and origin rules. */
export class AdminAuth {
  readonly #options: AdminAuthOptions;
  #key: Promise<CryptoKey> | undefined;
  #expected: { token: string; mac: Promise<Uint8Array>; id: Promise<string> } | undefined;

  constructor(options: AdminAuthOptions) {
    this.#options = options;
  }

  /**
   * Returns the caller, or throws ApiError 403 (foreign origin or host) or 401 (token missing or wrong).
   * `queryToken` is the `access_token` parameter, accepted only where a browser cannot send headers.
   */
  async check(
    request: Request,
    path: string,
    address: string,
    queryToken?: string | null,
  ): Promise<AdminCaller> {
    this.checkOrigin(request);
    const token = this.#options.token();
    if (token === undefined) {
      if (!isLoopbackHost(this.#options.listenHost)) {
        // The listener would not have started here without a token; a reload that removed it must not
        // open the API to the network (the Host check below is only a DNS-rebinding guard: any client
        // can send `Host: 127.0.0.1`).
        if (OPEN_PATHS.has(path)) return { id: "anonymous", address };
        throw new ApiError(
          403,
          `Refusing admin requests: the admin listener is bound to ${this.#options.listenHost} and no admin ` +
            `token is configured any more; restore admin.token in the config file (a file change or SIGHUP reloads it)`,
        );
      }
      this.#checkHost(request);
      return { id: "anonymous", address };
    }
    const expected = this.#expectedFor(token);
    if (OPEN_PATHS.has(path)) return { id: "anonymous", address };
    const presented = bearer(request.headers.get("authorization")) ?? queryToken ?? undefined;
    if (presented === undefined) {
      throw unauthorized("Admin API requires a token: send Authorization: Bearer <token>");
    }
    const [want, got] = await Promise.all([expected.mac, this.#mac(presented)]);
    let diff = 0;
    for (let i = 0; i < want.length; i++) diff |= want[i] ^ got[i];
    if (diff !== 0) throw unauthorized("Admin API token is not valid");
    return { id: await expected.id, address };
  }

  /**
   * Throws ApiError 403 unless the request has no Origin (not a browser, or a same-origin GET), names the
   * listener itself, or is listed in `admin.allowed_origins`. Preflights are checked with this alone.
   */
  checkOrigin(request: Request): void {
    const origin = request.headers.get("origin");
    if (origin === null) return; // not a browser, or a same-origin GET
    const host = request.headers.get("host");
    if (host !== null && (origin === `http://${host}` || origin === `https://${host}`)) return;
    if (this.#options.allowedOrigins().includes(origin)) return;
    throw new ApiError(
      403,
      `Refusing a cross-origin request from Origin ${
        JSON.stringify(origin)
      }: add it to admin.allowed_origins to allow it`,
    );
  }

  #checkHost(request: Request): void {
    const host = (request.headers.get("host") ?? "").toLowerCase();
    const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.replace(/:\d+$/, "");
    if (name === "" || LOOPBACK_NAMES.has(name) || isLoopbackHost(name)) return;
    if (name === this.#options.listenHost.toLowerCase()) return;
    throw new ApiError(
      403,
      `Refusing a request for Host ${
        JSON.stringify(host)
      }: without admin.token only loopback names are served`,
    );
  }

  #expectedFor(token: string) {
    if (this.#expected?.token !== token) {
      this.#expected = {
        token,
        mac: this.#mac(token),
        id: crypto.subtle.digest("SHA-256", new TextEncoder().encode(token)).then((d) =>
          `token:${
            Array.from(new Uint8Array(d).slice(0, 4), (b) => b.toString(16).padStart(2, "0")).join("")
          }`
        ),
      };
    }
    return this.#expected;
  }

  async #mac(text: string): Promise<Uint8Array> {
    this.#key ??= crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["sign"]) as Promise<
      CryptoKey
    >;
    const signature = await crypto.subtle.sign("HMAC", await this.#key, new TextEncoder().encode(text));
    return new Uint8Array(signature);
  }
}

function bearer(header: string | null): string | undefined {
  if (header === null) return undefined;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

function unauthorized(message: string): ApiError {
  // RFC 6750 §3: a 401 names the scheme in WWW-Authenticate.
  return new ApiError(401, message, {}, { "www-authenticate": 'Bearer realm="kairos-admin"' });
}
