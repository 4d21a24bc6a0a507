/**
 * What routing reads from a request target: where the path and query sit in Deno's `request.url`, and the
 * path in one canonical spelling (RFC 3986 §6.2.2), so that no spelling of a path routes differently from
 * another or climbs out of a route's internal path once a backend decodes it. Slashes and letter case are
 * kept as sent: kairos-rs matches them exactly.
 */

/** Offsets into a request URL, filled by `splitUrl()`. */
export interface UrlParts {
  /** Start of the path. */
  pathStart: number;
  /** Start of the query (its "?"), or `end` when there is none. */
  queryStart: number;
  /** End of the target: the URL's length, or where a fragment starts. */
  end: number;
}

/**
 * Locates path and query in `url` without building a URL object. Deno's `request.url` is
 * `scheme://authority` followed by the target, and the authority (a Host value `isValidHost()` accepts, or
 * an absolute-form target's) holds no "/", "?" or "#", so the first of them starts the target.
 */
export function splitUrl(url: string, parts: UrlParts): void {
  const length = url.length;
  const scheme = url.indexOf("://");
  let i = scheme < 0 ? 0 : scheme + 3;
  for (; i < length; i++) {
    const c = url.charCodeAt(i);
    if (c === 47 /* / */ || c === 63 /* ? */ || c === 35 /* # */) break;
  }
  // A target has no fragment (RFC 9112 §3.2), but Deno keeps one: ignore it, as nginx and browsers do.
  const hash = url.indexOf("#", i);
  const end = hash < 0 ? length : hash;
  const query = url.indexOf("?", i);
  parts.pathStart = i;
  parts.queryStart = query < 0 || query > end ? end : query;
  parts.end = end;
}

// RFC 9110 §7.2: uri-host [":" port], i.e. reg-name characters, an IP literal's brackets and ":".
const HOST = /^[A-Za-z0-9\-._~!$&'()*+,;=:%[\]]*$/;

/**
 * Whether a Host field value is well formed. A "/" in it would move where Deno's URL puts the path, and
 * whatever it holds reaches backends as X-Forwarded-Host; RFC 9112 §3.2 answers a bad one with 400.
 */
export function isValidHost(host: string): boolean {
  return HOST.test(host);
}

const NOT_PRINTABLE = /[^\x21-\x7e]/gu;
const NON_ASCII = /[\u0080-\uffff]/;

/** `text` with everything but printable ASCII percent-encoded, to echo a refused value in errors and logs. */
export function printable(text: string): string {
  return text.replace(NOT_PRINTABLE, (c) => encodeURIComponent(c.isWellFormed() ? c : "\ufffd"));
}

/**
 * The query to send upstream: as received, byte for byte, except that raw non-ASCII (which Deno decoded
 * from UTF-8, and which a request target cannot hold) is percent-encoded as those same UTF-8 bytes.
 */
export function upstreamQuery(query: string): string {
  return NON_ASCII.test(query) ? printable(query) : query;
}

// Only pchar (RFC 3986 §3.3) and "/", and no dot segment: such a path is canonical already, which is the
// common case and costs this one test.
const NEEDS_WORK = /[^A-Za-z0-9\-._~!$&'()*+,;=:@/]|\/\.\.?(?:\/|$)/;
const DOT_SEGMENT = /\/\.\.?(?:[/?#]|$)/;

/** True when `path` holds a `.` or `..` segment, which a backend or fetch would resolve. */
export function hasDotSegment(path: string): boolean {
  return DOT_SEGMENT.test(path);
}

// Bytes a path keeps raw: unreserved (1) and the other pchar, sub-delims, ":" and "@" (2).
const PCHAR = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") {
  PCHAR[c.charCodeAt(0)] = 1;
}
for (const c of "!$&'()*+,;=:@") PCHAR[c.charCodeAt(0)] = 2;

/**
 * The path in canonical form, or null when it cannot be routed safely: it does not start with "/", holds a
 * "%" that starts no %XX escape, climbs above the root with "..", or hides a dot segment behind an encoded
 * "/" or "\" (`..%2F`), which backends that decode those would resolve. Canonical means: escapes of
 * unreserved characters decoded (`%61` is `a`, `%2e` is `.`), other escapes in uppercase hex, characters a
 * path cannot hold raw (non-ASCII, `"`, `\`, `{`…) percent-encoded as UTF-8, and dot segments removed
 * (RFC 3986 §5.2.4), so `/api/../admin` routes, and reaches backends, as `/admin`.
 */
export function canonicalPath(path: string): string | null {
  if (!NEEDS_WORK.test(path)) return path.charCodeAt(0) === 47 ? path : null;
  if (path.charCodeAt(0) !== 47) return null;
  const raw = path.split("/");
  const out: string[] = [];
  for (let i = 1; i < raw.length; i++) {
    const segment = canonicalSegment(raw[i]);
    if (segment === null) return null;
    const last = i === raw.length - 1;
    if (segment === "." || segment === "..") {
      if (segment === ".." && out.pop() === undefined) return null;
      // A trailing dot segment leaves the directory: `/a/b/..` is `/a/`.
      if (last) out.push("");
    } else if (hidesDotSegment(segment)) {
      return null;
    } else {
      out.push(segment);
    }
  }
  return "/" + out.join("/");
}

/**
 * One segment in canonical form (see `canonicalPath()`), or null for a malformed escape or a lone
 * surrogate. Also used on route patterns, so a pattern matches every spelling of its path.
 */
export function canonicalSegment(segment: string): string | null {
  let out = "";
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i);
    if (c === 37 /* % */) {
      const byte = hexByte(segment, i + 1);
      if (byte < 0) return null;
      out += PCHAR[byte] === 1
        ? String.fromCharCode(byte)
        : "%" + (byte < 16 ? "0" : "") + byte.toString(16).toUpperCase();
      i += 2;
    } else if (c < 128 && PCHAR[c] !== 0) {
      out += segment[i];
    } else {
      const point = segment.codePointAt(i)!;
      if (point > 0xffff) i++;
      try {
        out += encodeURIComponent(String.fromCodePoint(point));
      } catch {
        return null; // a lone surrogate has no UTF-8 form
      }
    }
  }
  return out;
}

function hexByte(text: string, at: number): number {
  const hi = hexDigit(text.charCodeAt(at));
  const lo = hexDigit(text.charCodeAt(at + 1));
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const lower = c | 32;
  return lower >= 97 && lower <= 102 ? lower - 87 : -1;
}

const ENCODED_SEPARATOR = /%2F|%5C/;

/** True when a canonical segment is, or holds, `.` / `..` between encoded slashes or backslashes. */
function hidesDotSegment(segment: string): boolean {
  if (!ENCODED_SEPARATOR.test(segment)) return false;
  for (const part of segment.split(ENCODED_SEPARATOR)) if (part === "." || part === "..") return true;
  return false;
}
