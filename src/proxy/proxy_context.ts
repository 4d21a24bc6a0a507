/**
 * The RequestContext the runtime builds for every routed request. Its upstream fields start as a flat
 * list; the `upstreamHeaders` Headers object is made only when a stage asks for it (transformations,
 * auth forwarding), so a plain proxied request never pays for building one.
 */
import type { RouteConfig } from "../config/schema.ts";
import type { RequestContext } from "./context.ts";
import type { GatewayError } from "./gateway_error.ts";
import { headersFromList } from "./forward_headers.ts";

export class ProxyContext implements RequestContext {
  readonly request: Request;
  readonly requestId: string;
  readonly peerIp: string;
  readonly clientIp: string;
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly route: RouteConfig;
  readonly routeId: string;
  readonly params: Readonly<Record<string, string>>;
  readonly startedAt: number;
  upstreamPath: string;
  upstreamQuery: string;
  upstreamBody: ReadableStream<Uint8Array> | null;
  bodyError?: GatewayError;
  claims?: Readonly<Record<string, unknown>>;
  responseHeaders?: [string, string][];
  backend?: string;
  #list: string[] | undefined;
  #headers: Headers | undefined;

  constructor(
    request: Request,
    requestId: string,
    peerIp: string,
    clientIp: string,
    path: string,
    query: string,
    route: RouteConfig,
    routeId: string,
    params: Readonly<Record<string, string>>,
    startedAt: number,
    upstreamPath: string,
    upstreamFields: string[],
  ) {
    this.request = request;
    this.requestId = requestId;
    this.peerIp = peerIp;
    this.clientIp = clientIp;
    this.method = request.method;
    this.path = path;
    this.query = query;
    this.route = route;
    this.routeId = routeId;
    this.params = params;
    this.startedAt = startedAt;
    this.upstreamPath = upstreamPath;
    this.upstreamQuery = query;
    this.upstreamBody = request.body;
    this.#list = upstreamFields;
  }

  get upstreamHeaders(): Headers {
    if (this.#headers === undefined) {
      this.#headers = headersFromList(this.#list!);
      this.#list = undefined;
    }
    return this.#headers;
  }

  /** The upstream fields: still the flat list when no stage touched them, else the Headers object. */
  upstreamFields(): Headers | readonly string[] {
    return this.#headers ?? this.#list!;
  }
}

/** The upstream fields of any RequestContext (the runtime's ProxyContext keeps them as a list when it can). */
export function upstreamFieldsOf(ctx: RequestContext): Headers | readonly string[] {
  return ctx instanceof ProxyContext ? ctx.upstreamFields() : ctx.upstreamHeaders;
}
