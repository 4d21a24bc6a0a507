/**
 * Request ids: a random per-process prefix plus a counter, so an id is unique across processes and
 * costs one number-to-string conversion.
 */

const PREFIX = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0"))
  .join("") + "-";
const CLIENT_ID = /^[A-Za-z0-9._:-]{1,128}$/;
let counter = 0;

/** A new process-unique request id, e.g. `3f9c0a1b2c3d4e5f-1a`. */
export function newRequestId(): string {
  return PREFIX + (++counter).toString(36);
}

/** The client's X-Request-Id when it is 1–128 chars of `[A-Za-z0-9._:-]` (safe in logs and headers), else a new id. */
export function acceptRequestId(value: string | null): string {
  return value !== null && CLIENT_ID.test(value) ? value : newRequestId();
}
