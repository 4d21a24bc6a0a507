/**
 * Canonical schemas of the traffic policies (JWT, rate limit, CORS, IP filter, security headers,
 * transformations). kairos-rs dialects are mapped onto these shapes by `normalize.ts`.
 */
import { z } from "zod";

// Durations feed setTimeout/setInterval, which fire after 1 ms when given more than 2^31-1 ms: a huge
// timeout would time every request out at once, a huge health-check interval would probe in a loop.
const MAX_TIMER_MS = 2 ** 31 - 1;

/** An integer duration in ms that a timer can wait for. */
export const timerMs = () =>
  z.int().max(MAX_TIMER_MS, `expected at most ${MAX_TIMER_MS} ms (about 24.8 days, the longest timer)`);

const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "expected a valid HTTP header name");
// CR, LF and NUL in a header value would let a config inject headers (response splitting).
const headerValue = z.string().regex(/^[^\r\n\0]*$/, "header values must not contain CR, LF or NUL");

export const jwtSchema = z.strictObject({
  secret: z.string().min(1, "JWT secret cannot be empty").optional().describe("HMAC secret (HS256/384/512)"),
  public_key: z.string().optional().describe("PEM public key (RS*, PS*, ES*, EdDSA)"),
  jwks_url: z.url().optional().describe("JWKS endpoint; keys are cached and refreshed on an unknown kid"),
  algorithms: z.array(z.enum([
    "HS256",
    "HS384",
    "HS512",
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "EdDSA",
  ])).min(1).optional().describe("Accepted algorithms; default follows the key type"),
  issuer: z.string().nullish(),
  audience: z.union([z.string(), z.array(z.string())]).nullish(),
  required_claims: z.array(z.string()).default([]).describe("Claims every token must carry (e.g. sub)"),
  require_exp: z.boolean().default(true).describe("Reject tokens without an exp claim (kairos-rs does)"),
  clock_skew_seconds: z.int().min(0).default(60).describe("Leeway for exp and nbf"),
  jwks_cache_ms: timerMs().min(1000).default(600000).describe(
    "Age after which a JWKS is refreshed in the background (the old keys stay in use meanwhile)",
  ),
  jwks_cooldown_ms: timerMs().min(0).default(30000).describe(
    "Least time between two JWKS fetches triggered by unknown kids or failures",
  ),
  jwks_timeout_ms: timerMs().min(1).default(5000).describe("JWKS fetch timeout"),
});

export const RATE_LIMIT_KEYS = ["ip", "route", "ip_route", "user", "user_route"] as const;

const headerKey = z.strictObject({ header: headerName });

/** What a limiter counts by. `user*` use the JWT `sub` (the client IP when unauthenticated); `header`
 * falls back to the client IP when the header is absent. */
const rateLimitKey = z.union([
  z.enum(RATE_LIMIT_KEYS),
  headerKey,
  z.strictObject({ composite: z.array(z.union([z.enum(RATE_LIMIT_KEYS), headerKey])).min(1) }),
]);

export const rateLimitSchema = z.strictObject({
  algorithm: z.enum(["token_bucket", "fixed_window", "sliding_window"]).default("token_bucket"),
  requests_per_window: z.int().min(1, "expected at least 1 request per window"),
  window_ms: z.int().min(1, "expected a window of at least 1 ms"),
  burst: z.int().min(0).default(0).describe("Extra requests allowed above requests_per_window"),
  key: rateLimitKey.default("ip"),
  enable_redis: z.boolean().default(false),
  redis_key_prefix: z.string().default("kairos_rl"),
});

/** One claim rule; every operator given must hold. `contains*` test array claims by element and
 * string claims as space-separated lists (OAuth `scope`). */
export const claimRuleSchema = z.strictObject({
  equals: z.union([z.string(), z.number(), z.boolean()]).optional(),
  one_of: z.array(z.union([z.string(), z.number()])).min(1).optional(),
  contains: z.string().optional(),
  contains_any: z.array(z.string()).min(1).optional(),
  contains_all: z.array(z.string()).min(1).optional(),
  exists: z.boolean().optional(),
}).refine(
  (rule) => Object.keys(rule).length > 0,
  "expected at least one operator (equals, one_of, contains, ...)",
);

export const apiKeysSchema = z.strictObject({
  header: headerName.nullable().default("X-API-Key").describe("Header carrying the key (null: none)"),
  query: z.string().min(1).optional().describe("Query parameter carrying the key"),
  keys: z.array(z.strictObject({
    id: z.string().min(1).describe("Names the caller: becomes the claim `sub`"),
    sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, "expected the key's SHA-256 as 64 hex digits"),
  })).min(1, "expected at least one key"),
});

/** Per-route auth additions: claim rules (403), claims forwarded as headers, API keys. */
export const authSchema = z.strictObject({
  claims: z.record(z.string().min(1), claimRuleSchema).default({}).describe(
    "Claim (dotted path, e.g. realm_access.roles) → rule; a failed rule answers 403",
  ),
  forward_claims: z.record(z.string().min(1), headerName).default({}).describe(
    "Claim → upstream header; client-sent copies of these headers are always removed",
  ),
  strip_authorization: z.boolean().default(false).describe("Do not forward the Authorization header"),
  api_keys: apiKeysSchema.optional().describe("Accept these keys too; configuring them protects the route"),
});

export const corsSchema = z.strictObject({
  allowed_origins: z.array(z.string()).default(["*"]),
  allowed_methods: z.array(z.string()).default(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
  allowed_headers: z.array(z.string()).default(["Content-Type", "Authorization"]),
  exposed_headers: z.array(z.string()).default([]),
  allow_credentials: z.boolean().default(false),
  max_age: z.int().min(0).default(600),
});

export const ipFilterSchema = z.strictObject({
  allow: z.array(z.string()).default([]),
  deny: z.array(z.string()).default([]),
});

export const securityHeadersSchema = z.strictObject({
  enabled: z.boolean().default(true),
  headers: z.record(headerName, headerValue).default({}).describe(
    "Overrides or additions; empty value removes",
  ),
});

const headerAction = z.strictObject({
  action: z.enum(["add", "set", "remove", "replace"]),
  name: headerName,
  value: headerValue.nullish(),
  pattern: z.string().nullish(),
  replacement: headerValue.nullish(),
});

export const requestTransformationSchema = z.strictObject({
  headers: z.array(headerAction).default([]),
  path: z.strictObject({ pattern: z.string(), replacement: z.string() }).nullish(),
  query_params: z.array(z.strictObject({
    action: z.enum(["add", "set", "remove", "replace"]),
    name: z.string().min(1),
    value: z.string().nullish(),
  })).default([]),
});

export const responseTransformationSchema = z.strictObject({
  headers: z.array(headerAction).default([]),
  status_code_mappings: z.array(z.strictObject({
    // 1xx are refused when the mapping compiles (interim responses are never a final status).
    from: z.int().min(100).max(599),
    to: z.int().min(100).max(599),
    condition: z.string().nullish(),
  })).default([]),
});

/** kairos-rs's LLM routing: accepted so its configs load; Kairos does not call LLM providers. */
export const aiSchema = z.looseObject({ provider: z.string(), model: z.string() });
export const aiPolicySchema = z.looseObject({ enabled: z.boolean() });

export type JwtConfig = z.output<typeof jwtSchema>;
export type RateLimitConfig = z.output<typeof rateLimitSchema>;
export type RateLimitKey = RateLimitConfig["key"];
export type CorsConfig = z.output<typeof corsSchema>;
export type IpFilterConfig = z.output<typeof ipFilterSchema>;
export type SecurityHeadersConfig = z.output<typeof securityHeadersSchema>;
export type ClaimRule = z.output<typeof claimRuleSchema>;
export type ApiKeysConfig = z.output<typeof apiKeysSchema>;
export type AuthConfig = z.output<typeof authSchema>;
export type HeaderActionConfig = z.output<typeof headerAction>;
export type RequestTransformationConfig = z.output<typeof requestTransformationSchema>;
export type ResponseTransformationConfig = z.output<typeof responseTransformationSchema>;
