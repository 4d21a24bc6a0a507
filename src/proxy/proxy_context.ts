/**
 * The RequestContext the runtime builds for every routed request. Its upstream fields are a FieldList, a
 * flat list that stages edit and the http1 client writes without ever building a Headers object.
 */
import type { RouteConfig } from "../config/schema.ts";
import type { RequestContext } from "./context.ts";
import type { GatewayError } from "./gateway_error.ts";
import { FieldList } from "./field_list.ts";

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
  requestBodyBytes = 0;
  bodyError?: GatewayError;
  claims?: Readonly<Record<string, unknown>>;
  responseHeaders?: [string, string][];
  backend?: string;
  readonly upstreamHeaders: FieldList;

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
    this.upstreamHeaders = new FieldList(upstreamFields);
  }
}

/** The upstream fields of a RequestContext as the upstream client takes them (a flat list when possible). */
export function upstreamFieldsOf(ctx: RequestContext): Headers | readonly string[] {
  const fields = ctx.upstreamHeaders;
  if (fields instanceof FieldList) return fields.list;
  if (fields instanceof Headers) return fields;
  const list: string[] = [];
  for (const [name, value] of fields) list.push(name, value);
  return list;
}
