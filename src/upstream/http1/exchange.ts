import { UpstreamError, type UpstreamRequest } from "../client.ts";
import { ChunkedDecoder } from "./chunked_decoder.ts";
import type { Http1Connection } from "./http1_connection.ts";
import { ProtocolViolation } from "./protocol_violation.ts";
import { writeStreamBody } from "./request_body.ts";
import type { PreparedRequest } from "./request_head.ts";
import {
  concatPieces,
  decodeBufferedChunks,
  makeResponse,
  readSmallBody,
  ResponseBodySource,
} from "./response_body.ts";
import { parseResponseHead, type ResponseHead, scanHeadEnd } from "./response_head.ts";

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
 * is destroyed and the rejection is an UpstreamError.
 */
export async function exchange(
  conn: Http1Connection,
  prepared: PreparedRequest,
  request: UpstreamRequest,
  limits: ExchangeLimits,
): Promise<Response> {
  conn.begin(request.signal ?? null);
  if (prepared.close) conn.keepAlive = false;
  try {
    const head = await sendAndReadHead(conn, prepared, request, limits.maxHeadBytes);
    return respond(conn, head, request, limits);
  } catch (err) {
    if (conn.state === "busy") conn.destroy();
    throw conn.toUpstreamError(err);
  }
}

async function sendAndReadHead(
  conn: Http1Connection,
  prepared: PreparedRequest,
  request: UpstreamRequest,
  maxHeadBytes: number,
): Promise<ResponseHead> {
  await conn.write(prepared.head);
  if (prepared.expectContinue) {
    const early = await awaitContinue(conn, prepared.method, maxHeadBytes);
    if (early !== null) {
      // The backend answered without the body; it still expects those bytes, so the socket is done.
      conn.keepAlive = false;
      prepared.stream?.cancel().catch(ignore);
      return early;
    }
  }
  let bodyError: unknown = null;
  try {
    if (prepared.body !== null) await conn.write(prepared.body);
    else if (prepared.stream !== null) await writeStreamBody(conn, prepared);
  } catch (err) {
    // A backend may answer early (413, 401) and stop reading: read its response rather than lose it.
    if (!isWriteReset(err)) throw err;
    bodyError = err;
    conn.keepAlive = false;
  }
  conn.arm("first_byte", request.firstByteTimeoutMs);
  try {
    const head = await readHead(conn, prepared.method, maxHeadBytes, null);
    conn.disarm();
    return head!;
  } catch (err) {
    throw bodyError ?? err;
  }
}

function respond(
  conn: Http1Connection,
  head: ResponseHead,
  request: UpstreamRequest,
  limits: ExchangeLimits,
): Response | Promise<Response> {
  if (!head.keepAlive) conn.keepAlive = false;
  let framing = head.framing;
  // 205 must not have content (RFC 9110 §15.3.6) and a Response cannot carry one: never skip it, just close.
  if (head.status === 205 && framing !== "none") {
    if (framing !== "length" || head.contentLength !== 0) conn.keepAlive = false;
    framing = "none";
  }
  if (framing === "none") {
    conn.finish();
    return makeResponse(null, head);
  }
  let decoder: ChunkedDecoder | null = null;
  let prefix: Uint8Array<ArrayBuffer>[] | null = null;
  if (framing === "length") {
    const length = head.contentLength;
    if (conn.end - conn.start >= length) {
      const bytes = conn.buf.slice(conn.start, conn.start + length);
      conn.start += length;
      conn.finish();
      return makeResponse(bytes, head);
    }
    if (length <= limits.smallBodyThreshold) return readSmallBody(conn, head, request.idleTimeoutMs);
  } else if (framing === "chunked") {
    decoder = new ChunkedDecoder(limits.maxHeadBytes);
    prefix = decodeBufferedChunks(conn, decoder);
    if (decoder.state === "done") {
      conn.finish();
      return makeResponse(prefix.length === 0 ? new Uint8Array(0) : concatPieces(prefix), head);
    }
  }
  const source = new ResponseBodySource(conn, head, decoder, prefix, request.idleTimeoutMs);
  return makeResponse(new ReadableStream(source, { highWaterMark: 0 }), head);
}

/**
 * Reads response heads until a final one, skipping interim 1xx responses (RFC 9110 §15.2). With a `gate`
 * (waiting for 100 Continue) it returns null on `100` or once the gate resolves false, leaving any pending read
 * for the next call.
 */
async function readHead(
  conn: Http1Connection,
  method: string,
  maxHeadBytes: number,
  gate: Promise<boolean> | null,
): Promise<ResponseHead | null> {
  let scanned = 0;
  for (;;) {
    const start = conn.start;
    if (conn.end > start) {
      const end = scanHeadEnd(conn.buf, start, start + scanned, conn.end);
      if (end !== -1) {
        if (end - start > maxHeadBytes) throw headTooLarge(maxHeadBytes);
        const head = parseResponseHead(conn.buf, start, end, method);
        conn.start = end;
        if (head.status >= 200) return head;
        if (head.status === 101) {
          throw new ProtocolViolation("response switches protocols, which was not asked for");
        }
        if (gate !== null && head.status === 100) return null;
        scanned = 0;
        continue;
      }
      if (conn.end - start >= maxHeadBytes) throw headTooLarge(maxHeadBytes);
      scanned = Math.max(0, conn.end - start - 3);
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
