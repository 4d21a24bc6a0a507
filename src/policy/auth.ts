/**
 * The authentication stage of a protected route (`auth_required`, or `auth.api_keys` configured).
 * Every method is protected; only a CORS preflight, answered by the earlier CORS stage, gets by.
 * A credential is an API key (when the route has keys and the request carries one) or a Bearer JWT.
 * On success `ctx.claims` is set (an API key yields `{sub: <key id>}`), claim rules are checked (403),
 * chosen claims are forwarded as upstream headers and `Authorization` is stripped when asked.
 */
import { queryBearer } from "../protocols/websocket/access_rules.ts";
import type { AuthConfig, JwtConfig } from "../config/policy_schema.ts";
import type { RouteConfig } from "../config/schema.ts";
import type { RequestContext, RequestStage } from "../proxy/context.ts";
import { GatewayError } from "../proxy/gateway_error.ts";
import { type ApiKeyMatcher, compileApiKeys } from "./api_keys.ts";
import { compileClaimRules, readClaim } from "./claim_rules.ts";
import { describeJwtError } from "./jwt_errors.ts";
import { type JwtVerifier, MAX_TOKEN_BYTES } from "./jwt.ts";
import { JwksUnavailableError } from "./jwks_cache.ts";
import { PolicyConfigError } from "./policy_config_error.ts";

type Log = (
  level: "debug" | "info" | "warn" | "error",
  msg: string,
  fields?: Record<string, unknown>,
) => void;

export interface AuthStageOptions {
  readonly protect: boolean;
  readonly auth: AuthConfig | undefined;
  readonly jwt: JwtConfig | undefined;
  /** The verifier for `jwt` (shared by the routes of a snapshot). */
  readonly verifier: JwtVerifier | undefined;
  readonly log: Log;
  /** Also accept `?access_token=` (browsers cannot set headers on a WebSocket). */
  readonly tokenInQuery?: boolean;
}

const REALM = 'Bearer realm="kairos"';

/** The `reason` label of `kairos_auth_failures_total` for a 401 (a 403 on claims is "claims"). */
type AuthFailureReason =
  | "missing_credentials"
  | "invalid_api_key"
  | "malformed_authorization"
  | "invalid_token";

/** The route's `auth` section (read defensively until the route schema carries it). */
export function routeAuth(route: RouteConfig): AuthConfig | undefined {
  return (route as RouteConfig & { auth?: AuthConfig }).auth;
}

/** Compiles the stage (undefined for an open route). `path` is the route's config path. */
export function compileAuth(options: AuthStageOptions, path: string): RequestStage | undefined {
  const { auth, verifier, log } = options;
  const tokenInQuery = options.tokenInQuery ?? false;
  const apiKeys: ApiKeyMatcher | undefined = auth?.api_keys
    ? compileApiKeys(auth.api_keys, `${path}.auth.api_keys`)
    : undefined;
  if (!options.protect && !apiKeys) {
    if (auth && (Object.keys(auth.claims).length > 0 || Object.keys(auth.forward_claims).length > 0)) {
      throw new PolicyConfigError(
        `${path}.auth`,
        'claim rules and forward_claims need "auth_required": true',
      );
    }
    return undefined;
  }
  if (!verifier && !apiKeys) {
    throw new PolicyConfigError(
      `${path}.auth_required`,
      'a protected route needs a top-level "jwt" section or auth.api_keys',
    );
  }
  const checkClaims = compileClaimRules(auth?.claims ?? {});
  const forward = Object.entries(auth?.forward_claims ?? {}).map((
    [claim, header],
  ) => [claim, header.toLowerCase()]);
  const strip = auth?.strip_authorization ?? false;
  const challenge = verifier ? REALM : 'ApiKey realm="kairos"';

  const unauthorized = (
    ctx: RequestContext,
    reason: AuthFailureReason,
    message: string,
    description?: string,
  ): never => {
    log("info", "authentication failed", { request_id: ctx.requestId, route: ctx.routeId, reason: message });
    // RFC 6750 §3.1: no error code when the request carried no credentials at all.
    const header = description === undefined
      ? challenge
      : `${REALM}, error="invalid_token", error_description="${description.replace(/["\\]/g, "'")}"`;
    throw new GatewayError(401, "authentication_error", message, {
      headers: { "www-authenticate": header },
      reason,
    });
  };

  return async function authenticate(ctx: RequestContext) {
    let claims: Readonly<Record<string, unknown>>;
    const presented = apiKeys?.extract(ctx);
    if (presented !== undefined) {
      const id = apiKeys!.match(presented);
      if (id === undefined) return unauthorized(ctx, "invalid_api_key", "Invalid API key");
      apiKeys!.strip(ctx);
      claims = { sub: id };
    } else {
      const header = ctx.request.headers.get("authorization") ??
        (tokenInQuery ? queryBearer(ctx.query) : null);
      if (!verifier) return unauthorized(ctx, "missing_credentials", "Missing API key");
      if (header === null) return unauthorized(ctx, "missing_credentials", "Missing Authorization header");
      // RFC 9110 §11.1: the auth scheme is case-insensitive.
      if (header.length < 7 || header.slice(0, 7).toLowerCase() !== "bearer ") {
        return unauthorized(
          ctx,
          "malformed_authorization",
          "Authorization header must start with 'Bearer '",
          "expected a Bearer token",
        );
      }
      const token = header.slice(7).trim();
      if (token.length > MAX_TOKEN_BYTES) {
        return unauthorized(
          ctx,
          "invalid_token",
          "Invalid or expired token",
          `token longer than ${MAX_TOKEN_BYTES} bytes`,
        );
      }
      try {
        claims = await verifier(token);
      } catch (err) {
        if (err instanceof JwksUnavailableError) {
          log("error", "cannot verify token: no signing keys", {
            request_id: ctx.requestId,
            error: err.message,
          });
          throw new GatewayError(503, "upstream", "Cannot verify token: signing keys are unavailable", {
            source: "upstream",
            cause: err,
          });
        }
        return unauthorized(ctx, "invalid_token", "Invalid or expired token", describeJwtError(err));
      }
    }
    if (checkClaims) {
      const why = checkClaims(claims);
      if (why) {
        log("info", "authorization failed", { request_id: ctx.requestId, route: ctx.routeId, reason: why });
        throw new GatewayError(403, "authorization_error", `Forbidden: ${why}`, {
          headers: { "www-authenticate": `${REALM}, error="insufficient_scope"` },
          reason: "claims",
        });
      }
    }
    ctx.claims = claims;
    const upstream = ctx.upstreamHeaders;
    for (const [claim, header] of forward) {
      // A client must not be able to pose as someone else by sending the header itself.
      upstream.delete(header);
      const value = headerValue(readClaim(claims, claim));
      if (value !== undefined) upstream.set(header, value);
    }
    if (strip) upstream.delete("authorization");
    return undefined;
  };
}

const encoder = new TextEncoder();

/**
 * A claim as a header value: strings as they are, arrays of scalars comma-joined, objects as JSON.
 * Anything outside visible ASCII, space and tab is percent-encoded as UTF-8: a claim is signed data
 * but still foreign input, so it must not break the header framing (CR, LF, NUL), and Headers takes
 * only Latin-1, so a `name` like "日本" would otherwise fail the request.
 */
function headerValue(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const text = typeof value === "string"
    ? value
    : Array.isArray(value) && value.every((v) => typeof v !== "object")
    ? value.join(",")
    : typeof value === "object"
    ? JSON.stringify(value)
    : String(value);
  return /^[\t\x20-\x7e]*$/.test(text) ? text : text.replace(/[^\t\x20-\x7e]/gu, percentEncode);
}

function percentEncode(char: string): string {
  let out = "";
  for (const byte of encoder.encode(char)) out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  return out;
}
