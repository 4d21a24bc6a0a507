/**
 * Per-request state shared by the stages of a route's pipeline (Pingora's "phases with one typed
 * context"). Built once on entry; stages read it and may set the fields marked mutable.
 */
import type { RouteConfig } from "../config/schema.ts";
import type { GatewayError } from "./gateway_error.ts";
import type { UpstreamFields } from "./field_list.ts";

export interface RequestContext {
  readonly request: Request;
  readonly requestId: string;
  /** The socket peer address. */
  readonly peerIp: string;
  /** The client address: the peer, or the first untrusted hop of X-Forwarded-For when the peer is trusted. */
  readonly clientIp: string;
  readonly method: string;
  /** Raw (still percent-encoded) request path. */
  readonly path: string;
  /** The raw query string including `?`, or "". */
  readonly query: string;
  /** The matched route's config and its identity (the external_path pattern). */
  readonly route: RouteConfig;
  readonly routeId: string;
  /** Captured path parameters, raw. */
  readonly params: Readonly<Record<string, string>>;
  readonly startedAt: number;

  /** Path (without query) to send upstream; request transformations may rewrite it. */
  upstreamPath: string;
  /** Query string to send upstream, including `?` or "". */
  upstreamQuery: string;
  /** Headers to send upstream (hop-by-hop already removed); request transformations edit these. */
  readonly upstreamHeaders: UpstreamFields;
  /**
   * Body to send upstream (initially the client's body stream). The body-limit stage wraps it in a
   * counting stream that errors with GatewayError 413 past the limit; the proxy maps that error.
   */
  upstreamBody: ReadableStream<Uint8Array> | null;
  /**
   * Request-body bytes read from the client (the access log's `bytes_in`), added to by whatever reads the
   * client's stream: the upstream client, the retry buffer, and the body limit for the chunk it refuses.
   */
  requestBodyBytes: number;
  /** Set by the body-limit stage when the client's body crossed the limit; the proxy answers with it. */
  bodyError?: GatewayError;
  /** Verified JWT claims, set by the auth stage. */
  claims?: Readonly<Record<string, unknown>>;
  /** Headers to add to whatever response the client gets (rate-limit quota, CORS), set by stages. */
  responseHeaders?: [string, string][];
  /** Key of the backend that answered, for logs. */
  backend?: string;
}

/** A request stage either lets the request continue (undefined) or answers it (a Response). It may throw GatewayError. */
export type RequestStage = (ctx: RequestContext) => Response | undefined | Promise<Response | undefined>;

/** A response stage may replace or edit the response on its way to the client. */
export type ResponseStage = (ctx: RequestContext, response: Response) => Response;

export interface RoutePipeline {
  readonly request: readonly RequestStage[];
  readonly response: readonly ResponseStage[];
  /** Stages for the gateway's own error responses (security headers, as kairos-rs sends them everywhere). */
  readonly errors: readonly ResponseStage[];
  /**
   * The security headers the last response stage adds (lowercase names, flat `[name, value, …]`; empty
   * when off), so an upstream client that builds its own responses can add them in the same pass.
   */
  readonly securityHeaders: readonly string[];
}
