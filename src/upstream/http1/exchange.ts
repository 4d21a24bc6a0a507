import { joinChunks } from "../../proxy/body_bytes.ts";
import { UpstreamError, type UpstreamRequest } from "../client.ts";
import { ChunkedDecoder } from "./chunked_decoder.ts";
import type { ConnectionPool } from "./connection_pool.ts";
import type { Http1Connection } from "./http1_connection.ts";
import { ProtocolViolation } from "./protocol_violation.ts";
import { writeStreamBody } from "./request_body.ts";
import type { PreparedRequest } from "./request_head.ts";
import { decodeBufferedChunks, makeResponse, readSmallBody, ResponseBodySource } from "./response_body.ts";
import { parseResponseHead, type ResponseHead, scanHeadEnd } from "./response_head.ts";

// A connection is reused only this long before the end of the backend's Keep-Alive timeout, so a request is
// not written to a socket the backend is closing (Node's http.Agent keeps the same margin).
const KEEP_ALIVE_MARGIN_MS = 1000;

/** Per-client limits an exchange applies. */
export interface ExchangeLimits {
  readonly maxHeadBytes: number;
  readonly smallBodyThreshold: number;
}

// How long a request with `Expect: 100-continue` holds its body back (RFC 9110 §10.1.1 leaves it to us).
const CONTINUE_WAIT_MS = 1000;

/**
 * Runs one request/response exchange on `conn`. Resolves once the response head has arrived; a small
 * Content-Length or fully buffered chunked body is read whole, anything else streams. On failure the connection
 * is destroyed and the rejection is an UpstreamError; a stale pooled socket is retried once from `retryPool`.
 */
export async function exchange(
  conn: Http1Connection,
  prepared: PreparedRequest,
  request: UpstreamRequest,
  limits: ExchangeLimits,
  retryPool: ConnectionPool | null,
): Promise<Response> {
  conn.begin(request.signal ?? null);
  if (prepared.close) conn.keepAlive = false;
  try {
    // The common case (no body, or a small one joined to the head) is one write and usually one read, with
    // no async helper in between: every extra await costs a promise per request.
    const head = prepared.head;
    const written = await conn.writeSome(head);
    // A short write means the backend's window is full: wait for it no longer than for a body write.
    if (written < head.length) await conn.write(head.subarray(written), request.idleTimeoutMs);
    let early: ResponseHead | null = null;
    if (prepared.body !== null || prepared.stream !== null || prepared.expectContinue) {
      early = await sendBody(conn, prepared, request, limits.maxHeadBytes);
    }
    if (early !== null) return respond(conn, early, request, limits);
    conn.receiving = true;
    conn.arm("first_byte", request.firstByteTimeoutMs);
    for (;;) {
      const parsed = nextHead(conn, prepared.method, limits.maxHeadBytes);
      if (parsed === null) {
        if (!conn.took(await conn.read())) {
          throw conn.closedEarly("connection closed before a complete response head");
        }
      } else if (parsed.status >= 200) {
        conn.disarm();
        return respond(conn, parsed, request, limits);
      }
    }
  } catch (err) {
    const error = conn.toUpstreamError(err);
    if (conn.state === "busy") conn.destroy();
    if (retryPool !== null && isStale(error, conn, prepared)) {
      return retry(retryPool, prepared, request, limits);
    }
    throw error;
  }
}

// A pooled socket the backend closed while it sat idle fails before any response byte. Replaying is safe only
// when the body can be sent again.
function isStale(err: UpstreamError, conn: Http1Connection, prepared: PreparedRequest): boolean {
  return err.kind === "reset" && conn.exchanges > 1 && !conn.gotBytes &&
    (prepared.stream === null || !prepared.streamStarted);
}

// Once, on a new connection: the other idle sockets may be just as stale.
async function retry(
  pool: ConnectionPool,
  prepared: PreparedRequest,
  request: UpstreamRequest,
  limits: ExchangeLimits,
): Promise<Response> {
  return await exchange(await pool.open(request), prepared, request, limits, null);
}

// Sends what follows the head. With Expect: 100-continue the backend may answer before the body goes out;
// that final response is returned and the body is never sent.
async function sendBody(
  conn: Http1Connection,
  prepared: PreparedRequest,
  request: UpstreamRequest,
  maxHeadBytes: number,
): Promise<ResponseHead | null> {
  if (prepared.expectContinue) {
    const early = await awaitContinue(conn, prepared.method, maxHeadBytes);
    if (early !== null) {
      // The backend still expects the body it declined; the socket cannot carry another exchange.
      conn.keepAlive = false;
      prepared.stream?.cancel().catch(ignore);
      return early;
    }
  }
  try {
    // A backend that stops reading the body is as stuck as one that stops sending: same idle limit.
    if (prepared.body !== null) await conn.write(prepared.body, request.idleTimeoutMs);
    else if (prepared.stream !== null) {
      await writeStreamBody(conn, prepared, request.idleTimeoutMs, request.bodyCounter);
    }
  } catch (err) {
    // A backend may answer early (413, 401) and stop reading: read its response rather than lose it.
    if (!isWriteReset(err)) throw err;
    conn.keepAlive = false;
    conn.receiving = true;
    conn.arm("first_byte", request.firstByteTimeoutMs);
    try {
      const head = await readHead(conn, prepared.method, maxHeadBytes, null);
      conn.disarm();
      return head;
    } catch {
      throw err;
    }
  }
  return null;
}

function respond(
  conn: Http1Connection,
  head: ResponseHead,
  request: UpstreamRequest,
  limits: ExchangeLimits,
): Response | Promise<Response> {
  if (!head.keepAlive) conn.keepAlive = false;
  else if (head.keepAliveTimeoutMs >= 0) conn.reuseWithinMs = head.keepAliveTimeoutMs - KEEP_ALIVE_MARGIN_MS;
  let framing = head.framing;
  // 205 must not have content (RFC 9110 §15.3.6) and a Response cannot carry one: never skip it, just close.
  if (head.status === 205 && framing !== "none") {
    if (framing !== "length" || head.contentLength !== 0) conn.keepAlive = false;
    framing = "none";
  }
  if (framing === "none") {
    conn.finish();
    return makeResponse(null, head, request.responseDefaults);
  }
  let decoder: ChunkedDecoder | null = null;
  let prefix: Uint8Array<ArrayBuffer>[] | null = null;
  if (framing === "length") {
    const length = head.contentLength;
    if (conn.end - conn.start >= length) {
      // The Response copies its bytes (fetch's "extract a body"), so it may see the read buffer, but only
      // before finish() lets the next read into it.
      const response = makeResponse(
        conn.buf.subarray(conn.start, conn.start + length),
        head,
        request.responseDefaults,
      );
      conn.start += length;
      conn.finish();
      return response;
    }
    if (length <= limits.smallBodyThreshold) {
      return readSmallBody(conn, head, request.idleTimeoutMs, request.responseDefaults);
    }
  } else if (framing === "chunked") {
    decoder = new ChunkedDecoder(limits.maxHeadBytes);
    prefix = decodeBufferedChunks(conn, decoder);
    if (decoder.state === "done") {
      conn.finish();
      return makeResponse(
        joinChunks(prefix),
        head,
        request.responseDefaults,
      );
    }
  }
  const source = new ResponseBodySource(conn, head, decoder, prefix, request.idleTimeoutMs);
  return makeResponse(new ReadableStream(source, { highWaterMark: 0 }), head, request.responseDefaults);
}

/**
 * Takes the next complete head from the buffer, or returns null when more bytes are needed; interim (1xx)
 * heads are returned too. `conn.scanned` remembers how far an incomplete head was already checked.
 */
function nextHead(conn: Http1Connection, method: string, maxHeadBytes: number): ResponseHead | null {
  const start = conn.start;
  if (conn.end === start) return null;
  const end = scanHeadEnd(conn.buf, start, start + conn.scanned, conn.end);
  if (end === -1) {
    if (conn.end - start >= maxHeadBytes) throw headTooLarge(maxHeadBytes);
    conn.scanned = Math.max(0, conn.end - start - 3);
    return null;
  }
  if (end - start > maxHeadBytes) throw headTooLarge(maxHeadBytes);
  conn.scanned = 0;
  conn.start = end;
  const head = parseResponseHead(conn.buf, start, end, method);
  // Interim responses are skipped (RFC 9110 §15.2), except 101: we never ask to switch protocols.
  if (head.status === 101) {
    throw new ProtocolViolation("response switches protocols, which was not asked for");
  }
  return head;
}

/**
 * Reads heads until a final one, off the hot path. With a `gate` (waiting for 100 Continue) it returns null
 * on `100` or once the gate resolves false, leaving any pending read for the next reader.
 */
async function readHead(
  conn: Http1Connection,
  method: string,
  maxHeadBytes: number,
  gate: Promise<boolean> | null,
): Promise<ResponseHead | null> {
  for (;;) {
    const head = nextHead(conn, method, maxHeadBytes);
    if (head !== null) {
      if (head.status >= 200) return head;
      if (gate !== null && head.status === 100) return null;
      continue;
    }
    if (gate !== null && !(await Promise.race([conn.readable(), gate]))) return null;
    if (!(await conn.fill())) throw conn.closedEarly("connection closed before a complete response head");
  }
}

// Waits up to CONTINUE_WAIT_MS for `100 Continue`; returns a final response that came instead, or null.
async function awaitContinue(
  conn: Http1Connection,
  method: string,
  maxHeadBytes: number,
): Promise<ResponseHead | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const gate = new Promise<boolean>((resolve) => timer = setTimeout(resolve, CONTINUE_WAIT_MS, false));
  try {
    return await readHead(conn, method, maxHeadBytes, gate);
  } finally {
    clearTimeout(timer);
  }
}

function isWriteReset(err: unknown): boolean {
  return err instanceof UpstreamError && err.kind === "reset";
}

function headTooLarge(maxHeadBytes: number): ProtocolViolation {
  return new ProtocolViolation(`response head is larger than ${maxHeadBytes} bytes`);
}

function ignore(): void {}
