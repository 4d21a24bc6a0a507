/**
 * What a failed upstream attempt means for the client and for the backend's breaker, shared by the
 * HTTP proxy step and the WebSocket dialler: a client that left is no backend's fault (499, breaker slot
 * released); a timeout is a 504; anything else a 502. Connect errors and timeouts count as failures.
 */
import { outcomeOf, type UpstreamOutcome } from "../observe/backend_recorder.ts";
import type { BackendState } from "../upstream/backend_state.ts";
import type { UpstreamError } from "../upstream/client.ts";
import { GatewayError } from "./gateway_error.ts";

export interface UpstreamFailure {
  readonly error: GatewayError;
  /** Undefined when the client went away (nothing to count against the backend). */
  readonly outcome: UpstreamOutcome | undefined;
}

/** Settles the backend's breaker slot for `err` and returns the client-facing error. */
export function upstreamFailure(err: UpstreamError, backend: BackendState, detail: string): UpstreamFailure {
  const outcome = outcomeOf(err.kind);
  if (outcome === undefined) {
    backend.breaker.release();
    return {
      error: new GatewayError(499, "bad_request", "Client closed the request", {
        source: "client",
        cause: err,
      }),
      outcome,
    };
  }
  backend.breaker.onFailure();
  const error = outcome === "timeout"
    ? new GatewayError(504, "timeout", err.message, { cause: err })
    : new GatewayError(502, "upstream", detail, { cause: err });
  return { error, outcome };
}
