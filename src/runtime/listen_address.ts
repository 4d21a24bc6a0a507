/** Listen addresses as operators write and read them: port (and worker) numbers from text, `host:port` in logs. */

// Digits only: Number() would also read "1e3", "0x50" and " 80 " as a port (binding somewhere unintended)
// or a worker count.
const WHOLE_NUMBER = /^[0-9]{1,6}$/;

/** The number written as `text` (digits only, at most `max`), or undefined; callers name the setting. */
export function parseWholeNumber(text: string, max: number): number | undefined {
  const n = Number(text);
  return WHOLE_NUMBER.test(text) && n <= max ? n : undefined;
}

/** The port written as `text` (0-65535, digits only), or undefined; callers name the setting in their error. */
export function parsePortText(text: string): number | undefined {
  return parseWholeNumber(text, 65535);
}

/** `host:port`, with an IPv6 host in brackets (`[::]:5900`, not `:::5900`), as in a URL (RFC 3986 §3.2.2). */
export function formatListenAddress(host: string, port: number): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
}
