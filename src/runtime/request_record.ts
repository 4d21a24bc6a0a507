/**
 * Bookkeeping of one request from entry to the last byte sent: in-flight counts, backend release,
 * metrics and the access-log line. Finalised once, when Deno reports the response as delivered.
 */
import type { RequestContext, ResponseStage } from "../proxy/context.ts";
import { errorResponse, type GatewayError } from "../proxy/gateway_error.ts";
import type { ProxyObserver } from "../proxy/proxy_step.ts";
import type { BackendState } from "../upstream/backend_state.ts";
import { UpstreamError } from "../upstream/client.ts";
import type { HandlerState } from "./request_handler.ts";
import type { CompiledRoute } from "./snapshot.ts";

// Bodies above this size (or of unknown size) are streamed through a counter that also notices a
// backend dying mid-response; smaller ones are counted by their Content-Length.
const TRACK_ABOVE_BYTES = 65536;

/**
 * Upstream body errors this module has counted and logged. Deno.serve hands a response body's error to
 * `onError` as well; the listener asks here so an expected cut is not logged again as an unhandled error.
 */
const loggedBodyFailures = new WeakSet<object>();

/** True for an error that cut a proxied response body and is already in the access log and metrics. */
export function isLoggedBodyFailure(err: unknown): boolean {
  return typeof err === "object" && err !== null && loggedBodyFailures.has(err);
}

/** Deno.serve's handler info: `completed` settles when the response was delivered or the client left. */
export interface ServeCompletion {
  readonly completed: Promise<void>;
}

export class RequestRecord implements ProxyObserver {
  readonly #state: HandlerState;
  readonly #request: Request;
  readonly #requestId: string;
  readonly #clientIp: string;
  readonly #path: string;
  readonly #startedAt: number;
  readonly #unroutedStages: readonly ResponseStage[];
  context: RequestContext | undefined;
  #route: CompiledRoute | undefined;
  #routeId = "";
  #status = 0;
  #bytesOut = 0;
  #backend: BackendState | undefined;
  #attempts = 0;
  #triedKey: string | undefined = undefined;
  #error: string | undefined;
  #inFlight = false;

  constructor(
    state: HandlerState,
    request: Request,
    requestId: string,
    clientIp: string,
    path: string,
    startedAt: number,
    unroutedStages: readonly ResponseStage[],
  ) {
    this.#state = state;
    this.#request = request;
    this.#requestId = requestId;
    this.#clientIp = clientIp;
    this.#path = path;
    this.#startedAt = startedAt;
    this.#unroutedStages = unroutedStages;
  }

  /** Marks the request as in flight for `kairos_active_connections`. */
  begin(): void {
    this.#inFlight = true;
    this.#state.metrics.requestStarted();
  }

  attempt(backend: BackendState, outcome: "response" | "connect_error" | "timeout" | "protocol_error"): void {
    this.#attempts++;
    this.#triedKey = backend.key;
    this.#state.metrics.backendRecorder(backend.key).attempt(outcome);
    this.#state.observeBackend?.(backend, outcome === "response");
  }

  retry(): void {
    this.#route?.recorder.retry();
  }

  /** Sets the route before the proxy step so retries are attributed to it. */
  enter(route: CompiledRoute): void {
    this.#route = route;
    this.#routeId = route.id;
  }

  /** Answers with the JSON error body for `err`. */
  fail(err: GatewayError, routeId: string, route?: CompiledRoute): Response {
    this.#route = route;
    this.#routeId = routeId;
    this.#error = err.message;
    if (route !== undefined) {
      if (err.type === "rate_limit_error") route.recorder.rateLimited();
      else if (err.type === "authentication_error" || err.type === "authorization_error") {
        route.recorder.authFailure(err.reason ?? err.type);
      }
    }
    let response = errorResponse(err, this.#requestId, this.#request.method === "HEAD");
    this.#applyContextHeaders(response);
    const stages = route ? route.pipeline.errors : this.#unroutedStages;
    // Error stages (security headers) do not read the context, which an unrouted request does not have.
    for (let i = 0; i < stages.length; i++) response = stages[i](this.context!, response);
    this.#status = response.status;
    // Error stages may replace the body, so read its size from the response as sent.
    const length = this.#request.method === "HEAD" ? 0 : Number(response.headers.get("content-length") ?? 0);
    this.#bytesOut = Number.isFinite(length) ? length : 0;
    // An error body is small and complete: finalise now rather than wait for its delivery.
    this.#finish();
    return response;
  }

  /** A response a pipeline stage produced itself (CORS preflight, a WebSocket 101, …). */
  finishLocal(response: Response, route: CompiledRoute, served?: ServeCompletion): Response {
    this.#route = route;
    this.#routeId = route.id;
    this.#applyContextHeaders(response);
    this.#status = response.status;
    this.#bytesOut = Number(response.headers.get("content-length") ?? 0);
    this.#finishWhen(response.body && !response.headers.has("content-length") ? served : undefined);
    return response;
  }

  /** The backend's response: finalised (backend released, metrics, log) once the body is delivered. */
  finishProxied(
    response: Response,
    route: CompiledRoute,
    backend: BackendState,
    attempts: number,
    served: ServeCompletion,
  ): Response {
    this.#route = route;
    this.#routeId = route.id;
    this.#backend = backend;
    this.#attempts = Math.max(this.#attempts, attempts);
    this.#status = response.status;
    this.#applyContextHeaders(response);
    const declared = response.headers.get("content-length");
    const length = declared === null ? -1 : Number(declared);
    // Reading `.body` turns a buffered body into a stream, so look only when the body must be tracked.
    if ((length < 0 || length > TRACK_ABOVE_BYTES) && response.body) {
      response = new Response(this.#track(response.body), {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
      });
      this.#finishWhen(served);
    } else {
      // A small body of known length is one write away: finalise now, without a promise per request.
      this.#bytesOut = length < 0 ? 0 : length;
      this.#finish();
    }
    return response;
  }

  #track(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
    const reader = body.getReader();
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          const { value, done } = await reader.read();
          if (done) return controller.close();
          this.#bytesOut += value.byteLength;
          controller.enqueue(value);
        } catch (err) {
          // The backend died mid-response: the client connection is cut; we count and log it.
          this.#error = `upstream body failed: ${err instanceof Error ? err.message : String(err)}`;
          if (this.#backend !== undefined) {
            const timeout = err instanceof UpstreamError && err.kind === "timeout";
            this.#state.metrics.backendRecorder(this.#backend.key).bodyFailed(
              timeout ? "timeout" : "connection",
            );
          }
          if (typeof err === "object" && err !== null) loggedBodyFailures.add(err);
          controller.error(err);
        }
      },
      cancel: (reason) => reader.cancel(reason),
    }, { highWaterMark: 0 });
  }

  #applyContextHeaders(response: Response): void {
    const extra = this.context?.responseHeaders;
    if (!extra) return;
    const headers = response.headers;
    for (let i = 0; i < extra.length; i++) {
      const [name, value] = extra[i];
      // Absent, so append: set() would scan the list again.
      if (name === "vary" || !headers.has(name)) headers.append(name, value);
    }
  }

  /** Finalises when a streamed body has been delivered (or the client left). */
  #finishWhen(served: ServeCompletion | undefined): void {
    // Deno.serve builds the `completed` promise when it is first read: only a streamed body reads it.
    if (served) served.completed.then(() => this.#finish(), () => this.#abandoned());
    else this.#finish();
  }

  #abandoned(): void {
    this.#error ??= "client went away before the response was delivered";
    this.#finish();
  }

  #finish(): void {
    const state = this.#state;
    const duration = performance.now() - this.#startedAt;
    if (this.#backend) this.#backend.release();
    if (this.#inFlight) state.metrics.requestFinished();
    // What was read of the body, not what Content-Length declared: chunked uploads and cut ones count true.
    const bytesIn = this.context?.requestBodyBytes ?? 0;
    const recorder = this.#route?.recorder ?? state.metrics.routeRecorder(this.#routeId || "(none)");
    recorder.record(this.#request.method, this.#status, duration, bytesIn, this.#bytesOut);
    // An upgraded WebSocket connection gets its line when it closes (duration, messages, close code).
    if (this.#status === 101) return;
    const accessLog = state.accessLog;
    if (accessLog === undefined) return;
    const headers = this.#request.headers;
    accessLog.log({
      requestId: this.#requestId,
      method: this.#request.method,
      path: this.#path,
      route: this.#routeId || "(none)",
      // A request that failed upstream names the last backend it tried.
      backend: this.#backend?.key ?? this.context?.backend ?? this.#triedKey ?? null,
      status: this.#status,
      durationMs: duration,
      bytesIn,
      bytesOut: this.#bytesOut,
      clientIp: this.#clientIp,
      attempts: this.#attempts,
      userAgent: headers.get("user-agent"),
      referer: headers.get("referer"),
      error: this.#error,
    });
  }
}
