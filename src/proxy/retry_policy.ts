/**
 * Pure rules for the proxy's retry loop: how many attempts, how long to wait between them, and which
 * methods and statuses may be retried. kairos-rs semantics, plus jitter.
 */
import type { RetryConfig } from "../config/schema.ts";

/**
 * Delay in whole ms before retry number `attempt` (0-based): `min(initial × multiplier^attempt, max)`,
 * then up to `jitter` of it randomised away so clients do not retry in lock step. With jitter 0 and the
 * defaults: 100, 200, 400, 800, 1600, 3200, 5000, … like kairos-rs.
 */
export function computeBackoff(
  retry: RetryConfig,
  attempt: number,
  random: () => number = Math.random,
): number {
  if (!Number.isInteger(attempt) || attempt < 0) {
    throw new RangeError(
      `Cannot compute backoff as 'attempt' must be a non-negative integer: current value is ${attempt}`,
    );
  }
  const delay = Math.min(
    retry.initial_backoff_ms * retry.backoff_multiplier ** attempt,
    retry.max_backoff_ms,
  );
  return Math.floor(retry.jitter > 0 ? delay * (1 - retry.jitter * random()) : delay);
}

/**
 * Waits out the backoff before retry number `attempt`, or less when `signal` aborts: a client that
 * went away must not keep the request (and its buffered body) alive for up to `max_backoff_ms`.
 */
export function backoff(retry: RetryConfig, attempt: number, signal?: AbortSignal): Promise<void> {
  const delay = computeBackoff(retry, attempt);
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const wake = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", wake);
      resolve();
    };
    const timer = setTimeout(wake, delay);
    signal?.addEventListener("abort", wake);
  });
}

/** Idempotent methods may be resent after the backend may have seen them (RFC 9110 §9.2.2). */
export function isIdempotentMethod(method: string): boolean {
  // Method names are case-sensitive (RFC 9110 §9.1): "get" is not GET.
  switch (method) {
    case "GET":
    case "HEAD":
    case "OPTIONS":
    case "TRACE":
    case "PUT":
    case "DELETE":
      return true;
    default:
      return false;
  }
}

/** Total attempts for a route: `max_retries + 1`, or 1 when the route has no `retry`. */
export function maxAttempts(retry?: RetryConfig): number {
  return retry === undefined ? 1 : retry.max_retries + 1;
}

/** Whether an upstream status asks for another attempt (`retry_on_status_codes`). */
export function isRetryableStatus(retry: RetryConfig | undefined, status: number): boolean {
  return retry !== undefined && retry.retry_on_status_codes.includes(status);
}
