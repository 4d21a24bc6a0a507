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

/**
 * Settles the backend's breaker slot for `err` and returns the client-facing error. `epoch` is the
 * breaker's epoch read when the slot was taken. With `clientGone` (the client's signal had aborted) the
 * error is the client's whatever its kind: a cancelled exchange can surface as a reset or a timeout.
 */
export function upstreamFailure(
  err: UpstreamError,
  backend: BackendState,
  detail: string,
  epoch?: number,
  clientGone = false,
): UpstreamFailure {
  const outcome = clientGone ? undefined : outcomeOf(err.kind);
  if (outcome === undefined) {
    backend.breaker.release(epoch);
    return { error: clientClosedError(err), outcome };
  }
  backend.breaker.onFailure();
  const error = outcome === "timeout"
    ? new GatewayError(504, "timeout", err.message, { cause: err })
    : new GatewayError(502, "upstream", detail, { cause: err });
  return { error, outcome };
}

/** The 499 for a request whose client went away before it was answered. */
export function clientClosedError(cause?: unknown): GatewayError {
  return new GatewayError(499, "bad_request", "Client closed the request", { source: "client", cause });
}
