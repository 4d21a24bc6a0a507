/**
 * The one source of truth for Kairos configuration: the canonical (post-normalization) shape.
 * Types are inferred from it, `kairos schema` prints its JSON Schema, and policies receive its output.
 * kairos-rs dialects are mapped onto this shape by `normalize.ts` before validation.
 */
import { z } from "zod";
import {
  aiPolicySchema,
  aiSchema,
  authSchema,
  corsSchema,
  ipFilterSchema,
  jwtSchema,
  rateLimitSchema,
  requestTransformationSchema,
  responseTransformationSchema,
  securityHeadersSchema,
  timerMs,
} from "./policy_schema.ts";

export const HTTP_METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE"] as const;
export const PROTOCOLS = ["http", "websocket", "ftp", "dns"] as const;
export const LB_STRATEGIES = ["round_robin", "weighted", "least_connections", "random", "ip_hash"] as const;

const port = z.int().min(1, "expected 1-65535").max(65535, "expected 1-65535");
const ms = (def: number) => timerMs().min(0).default(def);
const positiveMs = (def: number) => timerMs().min(1).default(def);

export const backendSchema = z.strictObject({
  host: z.string().min(1).describe(
    "Backend address with scheme: http://, https://, ws://, wss://, ftp:// or a bare IP for dns",
  ),
  port: port.describe("Backend TCP/UDP port"),
  weight: z.int().min(1, "expected a weight of at least 1").default(1).describe(
    "Share for the weighted strategy",
  ),
  health_check_path: z.string().startsWith("/", "expected a path starting with '/'").nullish().describe(
    "Enables active health checks on this path",
  ),
});

export const retrySchema = z.strictObject({
  max_retries: z.int().min(0).max(10, "max_retries should not exceed 10").default(3),
  initial_backoff_ms: ms(100),
  max_backoff_ms: ms(5000),
  backoff_multiplier: z.number().min(1, "backoff_multiplier must be >= 1.0").default(2),
  retry_on_status_codes: z.array(z.int().min(100).max(599)).default([502, 503, 504]),
  retry_on_connection_error: z.boolean().default(true),
  jitter: z.number().min(0).max(1).default(0.2).describe(
    "Fraction of each backoff randomised away (0 = none) so clients do not retry in lock step",
  ),
  max_buffered_body_bytes: z.int().min(0).default(65536).describe(
    "A request body up to this size is buffered so non-idempotent requests can be replayed",
  ),
});

export const circuitBreakerSchema = z.strictObject({
  failure_threshold: z.int().min(1).default(5).describe("Consecutive failures that open the circuit"),
  success_threshold: z.int().min(1).default(3).describe("Successful half-open probes that close it"),
  reset_timeout_ms: positiveMs(30000).describe("Cool-down before half-open probes are let through"),
  half_open_max_requests: z.int().min(1).default(1).describe("Probes allowed in flight while half-open"),
  failure_status_codes: z.array(z.int().min(100).max(599)).default([500, 502, 503, 504])
    .describe("Upstream statuses that count as failures (connect errors and timeouts always do)"),
});

export const healthCheckSchema = z.strictObject({
  interval_ms: positiveMs(10000),
  timeout_ms: positiveMs(2000),
  unhealthy_threshold: z.int().min(1).default(3),
  healthy_threshold: z.int().min(1).default(2),
});

const MIB = 1024 * 1024;

/**
 * Per-route WebSocket options (`protocol: "websocket"`). The defaults keep a quiet but healthy
 * connection open indefinitely: pings, not an idle timer, find dead peers.
 */
export const websocketSchema = z.strictObject({
  max_message_bytes: z.int().min(1).max(64 * MIB, "expected at most 64 MiB (Deno's own frame limit)")
    .default(16 * MIB).describe("Largest message either way; a bigger one closes the sender with 1009"),
  max_buffered_bytes: z.int().min(1024).default(16 * MIB).describe(
    "Bytes queued toward a slow reader before the gateway acts: a slow backend closes the client with " +
      "1008; a slow client pauses reading from the backend",
  ),
  idle_timeout_ms: ms(0).describe("Close after this long without a message either way (0: never)"),
  ping_interval_ms: ms(30000).describe(
    "Ping each side after this much silence; no answer within another interval closes (0: no pings)",
  ),
  access_token_query: z.boolean().default(false).describe(
    "Accept `?access_token=` as the Bearer token (browsers cannot set headers on a WebSocket)",
  ),
});

export const routeSchema = z.strictObject({
  external_path: z.string().startsWith("/", "External path must start with '/'"),
  hosts: z.array(z.string()).min(1, "expected at least one host name (or leave hosts out)").optional()
    .describe(
      "Host names this route answers (port ignored); *.example.com covers its subdomains. Without it: any host",
    ),
  internal_path: z.string().startsWith("/", "Internal path must start with '/'"),
  methods: z.array(z.enum(HTTP_METHODS)).min(1, "At least one HTTP method must be specified"),
  auth_required: z.boolean().default(false),
  auth: authSchema.optional().describe("Claim rules, claim forwarding, Authorization stripping and API keys"),
  protocol: z.enum(PROTOCOLS).default("http"),
  backends: z.array(backendSchema).min(1, "At least one backend must be specified"),
  load_balancing_strategy: z.enum(LB_STRATEGIES).default("round_robin"),
  retry: retrySchema.optional().describe("Absent means one attempt"),
  timeout_ms: positiveMs(30000).describe("Time to the upstream's response head (first byte)"),
  connect_timeout_ms: positiveMs(5000),
  idle_timeout_ms: positiveMs(60000).describe("Longest silence between two reads of an upstream body"),
  max_body_bytes: z.int().min(0).optional().describe("Request body limit for this route (413 above it)"),
  preserve_host: z.boolean().default(false).describe("Send the client's Host header upstream"),
  circuit_breaker: circuitBreakerSchema.prefault({}),
  health_check: healthCheckSchema.prefault({}),
  request_transformation: requestTransformationSchema.optional(),
  response_transformation: responseTransformationSchema.optional(),
  rate_limit: rateLimitSchema.optional(),
  cors: corsSchema.optional(),
  ip_filter: ipFilterSchema.optional(),
  security_headers: securityHeadersSchema.optional(),
  ai_policy: aiPolicySchema.optional(),
  websocket: websocketSchema.optional().describe("WebSocket limits, timeouts and pings (websocket routes)"),
});

/** HTTPS on the gateway port: PEM files read at start and on every reload (a changed pair is served at once). */
export const listenerTlsSchema = z.strictObject({
  cert_file: z.string().min(1, "expected a file path").describe(
    "PEM certificate chain, leaf first (certbot's fullchain.pem)",
  ),
  key_file: z.string().min(1, "expected a file path").describe(
    "PEM private key of that certificate, unencrypted (certbot's privkey.pem)",
  ),
  redirect_http_port: port.optional().describe(
    "Also listen for plain HTTP on this port (usually 80) and answer every request with a 308 to HTTPS",
  ),
  acme_webroot: z.string().min(1, "expected a directory path").optional().describe(
    "Directory whose .well-known/acme-challenge/ files the redirect port serves (certbot --webroot -w DIR)",
  ),
});

export const upstreamPoolSchema = z.strictObject({
  max_connections_per_backend: z.int().min(1).default(256).describe(
    "Open connections per backend (http1 client); more requests queue, each at most its route's connect_timeout_ms",
  ),
  max_idle_per_backend: z.int().min(0).default(256).describe(
    "Idle keep-alive connections kept per backend (0: a new connection per request)",
  ),
  idle_timeout_ms: positiveMs(30000).describe("An idle upstream connection is closed after this long"),
  max_connection_age_ms: positiveMs(300000).describe(
    "An upstream connection older than this is not reused (http1 client)",
  ),
});

export const serverSchema = z.strictObject({
  host: z.string().optional().describe("Listen address (KAIROS_HOST and --host override it)"),
  port: port.optional().describe("Listen port (KAIROS_PORT and --port override it)"),
  shutdown_grace_ms: ms(10000).describe("How long in-flight requests may finish after SIGTERM"),
  drain_delay_ms: ms(0).describe(
    "After SIGTERM, keep serving this long with /ready answering 503 (load balancers stop sending), then drain",
  ),
  max_body_bytes: z.int().min(0).optional().describe("Global request body limit; a route's own wins"),
  max_header_bytes: z.int().min(1024).default(16384).describe(
    "Total request head size (431 above it; 414 when the request line alone is over it)",
  ),
  max_header_count: z.int().min(1).default(100).describe("Number of request headers (431 above it)"),
  upstream_client: z.enum(["fetch", "http1"]).default("http1").describe(
    "Upstream transport: Deno's fetch, or Kairos's pooled HTTP/1.1 client",
  ),
  upstream_pool: upstreamPoolSchema.prefault({}).describe("Keep-alive pool of upstream connections"),
  upstream_http2: z.boolean().default(false).describe(
    "fetch client only: HTTP/2 to https backends that offer it (requests with a body then wait ~40 ms, see README)",
  ),
  access_log: z.boolean().default(true),
  access_log_file: z.string().min(1, "expected a file path").optional().describe(
    "Append the access log to this file instead of stdout; SIGUSR1 reopens it (logrotate)",
  ),
  public_metrics: z.boolean().default(true).describe(
    "Answer GET /metrics on the gateway port, as kairos-rs does; false leaves it to the admin listener",
  ),
  compression: z.boolean().default(false).describe(
    "Compress responses (brotli or gzip, by the client's Accept-Encoding) the backend sent uncompressed",
  ),
  tls: listenerTlsSchema.optional().describe(
    "Serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN) with this certificate; a reload picks up renewed files",
  ),
  upstream_ca_files: z.array(z.string().min(1, "expected a file path")).optional().describe(
    "PEM files of CAs trusted for https:// and wss:// backends and their health checks, besides the default roots",
  ),
  workers: z.int().min(1).max(64).optional().describe(
    "Processes sharing the port with SO_REUSEPORT (Linux; default 1). KAIROS_WORKERS and --workers override it",
  ),
});

export const adminSchema = z.strictObject({
  enabled: z.boolean().default(true),
  host: z.string().default("127.0.0.1"),
  port: port.default(5901),
  token: z.string().min(16, "admin token must be at least 16 characters").optional(),
  allowed_origins: z.array(z.string()).default([]).describe(
    "Browser origins (e.g. https://ops.example) allowed to call the admin API besides its own",
  ),
});

export const configSchema = z.strictObject({
  version: z.int().min(0).max(255).default(1),
  server: serverSchema.prefault({}),
  admin: adminSchema.prefault({}),
  trusted_proxies: z.array(z.string()).default([]).describe(
    "CIDRs whose X-Forwarded-For is believed",
  ),
  jwt: jwtSchema.optional(),
  rate_limit: rateLimitSchema.optional(),
  cors: corsSchema.optional(),
  ip_filter: ipFilterSchema.optional(),
  security_headers: securityHeadersSchema.optional(),
  ai: aiSchema.optional(),
  routers: z.array(routeSchema).min(1, "No routers configured - gateway will not handle any requests"),
});

export type Config = z.output<typeof configSchema>;
export type RouteConfig = z.output<typeof routeSchema>;
export type BackendConfig = z.output<typeof backendSchema>;
export type WebSocketConfig = z.output<typeof websocketSchema>;
export type RetryConfig = z.output<typeof retrySchema>;
export type CircuitBreakerConfig = z.output<typeof circuitBreakerSchema>;
export type HealthCheckConfig = z.output<typeof healthCheckSchema>;
export type ServerConfig = z.output<typeof serverSchema>;
export type AdminConfig = z.output<typeof adminSchema>;
export type ListenerTlsConfig = z.output<typeof listenerTlsSchema>;
export type HttpMethod = typeof HTTP_METHODS[number];
export type Protocol = typeof PROTOCOLS[number];
export type LbStrategy = typeof LB_STRATEGIES[number];
