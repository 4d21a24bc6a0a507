/**
 * Response defaults: fields a proxied response gets when the backend did not send them (the route's
 * security headers), as a flat `[name, value, …]` list with lowercase names. The response builders (the
 * http1 client's, and the proxy's copy of a fetch response) note which ones the backend sent while they
 * copy its fields, one bit each of an integer: no extra pass over the fields, no allocation, and no
 * `headers.has()` per default (about 40 ns each).
 */

/** Defaults one 32-bit integer can track; the snapshot keeps a longer list as a response stage. */
export const MAX_RESPONSE_DEFAULTS = 31;

/** `sent` with the bit of `name` (lowercase) set when it is one of `defaults`. */
export function markSentDefault(defaults: readonly string[], name: string, sent: number): number {
  for (let i = 0; i < defaults.length; i += 2) {
    if (defaults[i] === name) return sent | (1 << (i >> 1));
  }
  return sent;
}

/** Appends to `headers` each default whose bit `sent` lacks: a default never overrides the backend. */
export function appendUnsentDefaults(headers: Headers, defaults: readonly string[], sent: number): void {
  for (let i = 0; i < defaults.length; i += 2) {
    if ((sent & (1 << (i >> 1))) === 0) headers.append(defaults[i], defaults[i + 1]);
  }
}
