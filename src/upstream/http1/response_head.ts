import { ProtocolViolation } from "./protocol_violation.ts";

/** How a response body is delimited (RFC 9112 §6.3). */
export type BodyFraming = "none" | "length" | "chunked" | "close";

/** A parsed response head, validated strictly enough that a proxy can forward it safely. */
export interface ResponseHead {
  readonly status: number;
  /** Field names and values in arrival order, flattened: `[name0, value0, name1, value1, …]`. */
  readonly fields: string[];
  readonly framing: BodyFraming;
  /** The declared body length when framing is "length", otherwise -1. */
  readonly contentLength: number;
  /** Whether the connection may carry another exchange after this one. */
  readonly keepAlive: boolean;
  /**
   * The backend's `Keep-Alive: timeout=N` hint in ms (RFC 9112 Appendix C.2.2, as Node and Apache send it):
   * how long it keeps an idle connection open. -1 when it sent none.
   */
  readonly keepAliveTimeoutMs: number;
}

const CR = 13;
const LF = 10;
const SP = 32;
const HT = 9;

// Status codes are three digits, 100–599 (RFC 9110 §15); the reason phrase is optional and ignored.
const STATUS_LINE = /^HTTP\/1\.\d [1-5]\d\d(?: [^\r\n]*)?\r\n/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const DIGITS = /^\d{1,15}$/;
const LIST_ITEM_OWS = /^[ \t]+|[ \t]+$/g;
const CHUNKED_ONLY = /^chunked$/i;
const CLOSE_TOKEN = /(?:^|,)[ \t]*close[ \t]*(?:,|$)/i;
const KEEP_ALIVE_TOKEN = /(?:^|,)[ \t]*keep-alive[ \t]*(?:,|$)/i;
const NON_ASCII = /[\x80-\uffff]/;
const KEEP_ALIVE_TIMEOUT = /(?:^|[,;])[ \t]*timeout[ \t]*=[ \t]*"?(\d{1,9})"?[ \t]*(?:[,;]|$)/i;
const asciiDecoder = new TextDecoder();

/**
 * Finds the end of a response head that starts at `start`, scanning `buf[from, end)`; returns the index just past
 * the empty line, or -1 when more bytes are needed (rescan from `max(start, end - 3)`). Throws ProtocolViolation on
 * a bare CR or LF, NUL or another control byte, or obs-fold (RFC 9112 §2.2, §5.2): each is a smuggling vector.
 */
export function scanHeadEnd(buf: Uint8Array, start: number, from: number, end: number): number {
  for (let i = from; i < end; i++) {
    const b = buf[i];
    if (b > CR) continue;
    if (b === LF) {
      if (i === start || buf[i - 1] !== CR) throw new ProtocolViolation("response head has a bare LF");
      if (i - start >= 3 && buf[i - 2] === LF) return i + 1;
      const next = i + 1 < end ? buf[i + 1] : -1;
      if (next === SP || next === HT) throw new ProtocolViolation("response head uses obsolete line folding");
    } else if (b === CR) {
      if (i + 1 < end && buf[i + 1] !== LF) throw new ProtocolViolation("response head has a bare CR");
    } else if (b !== HT) {
      throw new ProtocolViolation(`response head contains control byte 0x${b.toString(16).padStart(2, "0")}`);
    }
  }
  return -1;
}

/**
 * Parses the head in `buf[start, end)` (as found by scanHeadEnd) of a response to `method`. Throws
 * ProtocolViolation on anything ambiguous: both Content-Length and Transfer-Encoding, differing or non-numeric
 * Content-Length values, a transfer coding other than chunked, invalid field names (RFC 9112 §6.1, §6.3).
 */
export function parseResponseHead(buf: Uint8Array, start: number, end: number, method: string): ResponseHead {
  let text = asciiDecoder.decode(buf.subarray(start, end - 2));
  if (NON_ASCII.test(text)) text = decodeLatin1(buf.subarray(start, end - 2));
  if (!STATUS_LINE.test(text)) {
    const line = text.slice(0, text.indexOf("\r\n"));
    throw new ProtocolViolation(`response has an invalid status line: ${JSON.stringify(line.slice(0, 80))}`);
  }
  const http10 = text.charCodeAt(7) === 48;
  const status = (text.charCodeAt(9) - 48) * 100 + (text.charCodeAt(10) - 48) * 10 + text.charCodeAt(11) - 48;
  const fields: string[] = [];
  let contentLength = -1;
  let transferEncoding: string | null = null;
  let close = false;
  let keepAliveToken = false;
  let keepAliveTimeoutMs = -1;
  for (let pos = text.indexOf("\r\n") + 2; pos < text.length;) {
    const eol = text.indexOf("\r\n", pos);
    const colon = text.indexOf(":", pos);
    if (colon === -1 || colon > eol) throw new ProtocolViolation("response has a field line without a colon");
    const name = text.slice(pos, colon);
    // Whitespace before the colon is forbidden (RFC 9112 §5.1); TOKEN rejects it along with other bad names.
    if (!TOKEN.test(name)) {
      throw new ProtocolViolation(`response has an invalid field name: ${JSON.stringify(name.slice(0, 80))}`);
    }
    const value = trimFieldValue(text, colon + 1, eol);
    fields.push(name, value);
    pos = eol + 2;
    if (name.length === 14 && name.toLowerCase() === "content-length") {
      const length = parseContentLength(value);
      if (contentLength !== -1 && length !== contentLength) {
        throw new ProtocolViolation(
          `response has differing Content-Length values ${contentLength} and ${length}`,
        );
      }
      contentLength = length;
    } else if (name.length === 17 && name.toLowerCase() === "transfer-encoding") {
      transferEncoding = transferEncoding === null ? value : `${transferEncoding},${value}`;
    } else if (name.length === 10) {
      const lower = name.toLowerCase();
      if (lower === "connection") {
        if (CLOSE_TOKEN.test(value)) close = true;
        if (KEEP_ALIVE_TOKEN.test(value)) keepAliveToken = true;
      } else if (lower === "keep-alive") {
        const timeout = KEEP_ALIVE_TIMEOUT.exec(value);
        if (timeout !== null) keepAliveTimeoutMs = Number(timeout[1]) * 1000;
      }
    }
  }
  if (transferEncoding !== null) {
    if (contentLength !== -1) {
      throw new ProtocolViolation("response has both Content-Length and Transfer-Encoding");
    }
    if (!CHUNKED_ONLY.test(transferEncoding)) {
      throw new ProtocolViolation(
        `response uses unsupported Transfer-Encoding ${JSON.stringify(transferEncoding.slice(0, 80))}`,
      );
    }
  }
  // HTTP/1.0 closes by default; a 1.0 message with Transfer-Encoding has faulty framing (RFC 9112 §6.1).
  let keepAlive = !close && (http10 ? keepAliveToken && transferEncoding === null : true);
  // A 2xx to CONNECT turns the connection into a tunnel whatever its framing fields say (RFC 9112 §6.3).
  if (method === "CONNECT" && status >= 200 && status < 300) keepAlive = false;
  let framing: BodyFraming;
  if (status < 200 || status === 204 || status === 304 || method === "HEAD") framing = "none";
  else if (transferEncoding !== null) framing = "chunked";
  else if (contentLength !== -1) framing = "length";
  else {
    framing = "close";
    keepAlive = false;
  }
  return {
    status,
    fields,
    framing,
    contentLength: framing === "length" ? contentLength : -1,
    keepAlive,
    keepAliveTimeoutMs,
  };
}

function trimFieldValue(text: string, from: number, to: number): string {
  let c: number;
  while (from < to && ((c = text.charCodeAt(from)) === SP || c === HT)) from++;
  while (to > from && ((c = text.charCodeAt(to - 1)) === SP || c === HT)) to--;
  return text.slice(from, to);
}

// RFC 9110 §8.6: a list of identical values (`5, 5`) may be accepted as one; anything else is invalid.
function parseContentLength(value: string): number {
  if (DIGITS.test(value)) return Number(value);
  let length = -1;
  for (const item of value.split(",")) {
    const trimmed = item.replace(LIST_ITEM_OWS, "");
    if (!DIGITS.test(trimmed)) {
      throw new ProtocolViolation(
        `response has an invalid Content-Length ${JSON.stringify(value.slice(0, 80))}`,
      );
    }
    const n = Number(trimmed);
    if (length !== -1 && n !== length) {
      throw new ProtocolViolation(`response has differing Content-Length values ${JSON.stringify(value)}`);
    }
    length = n;
  }
  return length;
}

// Field values are byte strings: obs-text bytes (0x80–0xFF) map to U+0080–U+00FF, as fetch does.
function decodeLatin1(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    text += String.fromCharCode(...bytes.subarray(i, Math.min(i + 4096, bytes.length)));
  }
  return text;
}
