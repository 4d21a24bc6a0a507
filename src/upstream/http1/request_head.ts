import { UpstreamError, type UpstreamRequest, type UpstreamTarget } from "../client.ts";

/** A request serialized once, so that a retry on a fresh connection writes the very same bytes. */
export interface PreparedRequest {
  readonly method: string;
  /** The head, followed by the body when that is a small Uint8Array: both go out in one write. */
  readonly head: Uint8Array;
  /** A Uint8Array body too large to join the head; written after it. */
  readonly body: Uint8Array | null;
  readonly stream: ReadableStream<Uint8Array> | null;
  /** The number of bytes the stream must produce, or -1 for chunked transfer coding. */
  readonly streamLength: number;
  /** The request carries `Expect: 100-continue` and a body (RFC 9110 §10.1.1). */
  readonly expectContinue: boolean;
  /** The request says `Connection: close`: the socket is not reused after this exchange. */
  readonly close: boolean;
  /** Set once the stream was read from: after that the request can no longer be replayed. */
  streamStarted: boolean;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REQUEST_TARGET = /^[\x21-\x7e]+$/;
// The splitting and smuggling defence: a field that contains one of these would end the line early.
const LINE_BREAKING = /[\r\n\0]/;
const DIGITS = /^\d{1,15}$/;
const CLOSE_TOKEN = /(?:^|,)[ \t]*close[ \t]*(?:,|$)/i;
const KNOWN_METHODS = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "OPTIONS",
  "TRACE",
  "CONNECT",
]);
const encoder = new TextEncoder();

/**
 * Serializes the request line and fields and decides the body framing: `content-length` for a Uint8Array,
 * the request's own valid `content-length` or else `transfer-encoding: chunked` for a stream, and
 * `content-length: 0` for a bodiless POST/PUT/PATCH. Throws UpstreamError "protocol" (not sent) for a method,
 * target or field that could split the request.
 */
export function prepareRequest(
  target: UpstreamTarget,
  request: UpstreamRequest,
  smallBodyThreshold: number,
): PreparedRequest {
  const { method, path, body } = request;
  if (!KNOWN_METHODS.has(method) && !TOKEN.test(method)) {
    throw invalidRequest(target, `method ${JSON.stringify(method)} is not a token`);
  }
  if (!REQUEST_TARGET.test(path)) {
    throw invalidRequest(
      target,
      `path ${JSON.stringify(path)} is empty or contains whitespace or control bytes`,
    );
  }
  let head = `${method} ${path} HTTP/1.1\r\n`;
  let declaredLength = -1;
  let expect = false;
  let sawHost = false;
  let close = false;
  const fields = request.headers;
  const list = Array.isArray(fields) ? fields as readonly string[] : undefined;
  const iterator = list ? undefined : (fields as Headers)[Symbol.iterator]();
  for (let i = 0;; i += 2) {
    let name: string;
    let value: string;
    if (list) {
      if (i >= list.length) break;
      name = list[i];
      value = list[i + 1];
    } else {
      const next = iterator!.next();
      if (next.done) break;
      [name, value] = next.value;
    }
    if (LINE_BREAKING.test(name) || LINE_BREAKING.test(value)) {
      throw invalidRequest(target, `header ${JSON.stringify(name)} contains CR, LF or NUL`);
    }
    // Framing is ours to write; a client's own framing fields never pass through (RFC 9112 §6.3).
    if (name === "content-length") {
      if (DIGITS.test(value)) declaredLength = Number(value);
      continue;
    }
    if (name === "transfer-encoding") continue;
    if (name === "host") sawHost = true;
    else if (name === "expect") expect = value.toLowerCase() === "100-continue";
    else if (name === "connection") close = CLOSE_TOKEN.test(value);
    head += `${name}: ${value}\r\n`;
  }
  if (!sawHost) head += `host: ${target.authority}\r\n`;
  let stream: ReadableStream<Uint8Array> | null = null;
  let streamLength = -1;
  if (body instanceof Uint8Array) {
    head += `content-length: ${body.length}\r\n`;
  } else if (body !== null) {
    stream = body;
    if (declaredLength !== -1) {
      streamLength = declaredLength;
      head += `content-length: ${declaredLength}\r\n`;
    } else {
      head += "transfer-encoding: chunked\r\n";
    }
  } else if (method === "POST" || method === "PUT" || method === "PATCH") {
    head += "content-length: 0\r\n";
  }
  head += "\r\n";
  const expectContinue = expect && (stream !== null || (body instanceof Uint8Array && body.length > 0));
  // With 100-continue the body must wait for the backend's go-ahead, so it never joins the head.
  const joined = body instanceof Uint8Array && body.length <= smallBodyThreshold && !expectContinue;
  const bytes = encodeHead(head, joined ? body.length : 0);
  if (joined) bytes.set(body, head.length);
  return {
    method,
    head: bytes,
    body: body instanceof Uint8Array && !joined && body.length > 0 ? body : null,
    stream,
    streamLength,
    expectContinue,
    close,
    streamStarted: false,
  };
}

// Field values are byte strings (fetch's ByteString): chars U+0080–U+00FF are single bytes, not UTF-8.
// For ASCII, which nearly every head is, UTF-8 is the same; only when encodeInto shows a char that took more
// than one byte is the head rewritten byte by byte.
function encodeHead(head: string, extra: number): Uint8Array {
  const bytes = new Uint8Array(head.length + extra);
  const { read, written } = encoder.encodeInto(head, bytes);
  if (read !== head.length || written !== head.length) {
    for (let i = 0; i < head.length; i++) bytes[i] = head.charCodeAt(i);
  }
  return bytes;
}

function invalidRequest(target: UpstreamTarget, reason: string): UpstreamError {
  return new UpstreamError("protocol", `Cannot send request to backend "${target.key}": ${reason}`, false);
}
