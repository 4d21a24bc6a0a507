import type { ChunkedDecoder } from "./chunked_decoder.ts";
import { connectionTokens, isHopByHop } from "../../proxy/hop_by_hop.ts";
import { appendUnsentDefaults, markSentDefault } from "../response_defaults.ts";
import type { Http1Connection } from "./http1_connection.ts";
import type { ResponseHead } from "./response_head.ts";

// Largest single read for a streamed body; a read never asks for more than the body still owes.
const READ_CHUNK = 65536;

/**
 * Builds the Response with hop-by-hop fields (and those the Connection field names) already left out,
 * so the proxy can hand it on without copying its headers. Header names were validated by
 * parseResponseHead, so append cannot throw.
 */
export function makeResponse(
  body: BodyInit | null,
  head: ResponseHead,
  defaults: readonly string[] | undefined,
): Response {
  const response = new Response(body, { status: head.status });
  const headers = response.headers;
  const fields = head.fields;
  let named: Set<string> | undefined;
  for (let i = 0; i < fields.length; i += 2) {
    const lower = fields[i].toLowerCase();
    if (lower === "connection") named = connectionTokens(fields[i + 1], named);
  }
  let sent = 0; // the defaults the backend sent itself, one bit each
  for (let i = 0; i < fields.length; i += 2) {
    const lower = fields[i].toLowerCase();
    if (isHopByHop(lower) || named?.has(lower)) continue;
    headers.append(fields[i], fields[i + 1]);
    if (defaults) sent = markSentDefault(defaults, lower, sent);
  }
  if (defaults) appendUnsentDefaults(headers, defaults, sent);
  return response;
}

/**
 * Reads the rest of a small Content-Length body into one buffer, with `idleTimeoutMs` between reads, then
 * returns the connection to the pool. The caller has checked that `head.contentLength` is small.
 */
export async function readSmallBody(
  conn: Http1Connection,
  head: ResponseHead,
  idleTimeoutMs: number,
  defaults: readonly string[] | undefined,
): Promise<Response> {
  const bytes = new Uint8Array(head.contentLength);
  let have = conn.end - conn.start;
  bytes.set(conn.buf.subarray(conn.start, conn.end));
  conn.start = conn.end;
  try {
    while (have < bytes.length) {
      conn.arm("body_idle", idleTimeoutMs);
      const n = await conn.readInto(bytes.subarray(have));
      conn.disarm();
      if (n === null) throw conn.closedEarly(`connection closed after ${have} of ${bytes.length} body bytes`);
      have += n;
    }
  } catch (err) {
    conn.destroy();
    throw conn.toUpstreamError(err);
  }
  conn.finish();
  return makeResponse(bytes, head, defaults);
}

/**
 * Decodes whatever chunked body is already buffered. Returns the data pieces (copies); the decoder's state says
 * whether the body is complete.
 */
export function decodeBufferedChunks(
  conn: Http1Connection,
  decoder: ChunkedDecoder,
): Uint8Array<ArrayBuffer>[] {
  const pieces: Uint8Array<ArrayBuffer>[] = [];
  for (;;) {
    conn.start = decoder.advance(conn.buf, conn.start, conn.end);
    if (decoder.state !== "data" || conn.start === conn.end) return pieces;
    const n = Math.min(conn.end - conn.start, decoder.remaining);
    pieces.push(conn.buf.slice(conn.start, conn.start + n));
    conn.start += n;
    decoder.consume(n);
  }
}

/**
 * The pull source of a streamed response body. It reads from the socket only when the consumer pulls
 * (highWaterMark 0), so a slow client slows the backend instead of filling memory. At the end of the body the
 * connection goes back to the pool; on error, cancel or abort it is destroyed.
 */
export class ResponseBodySource implements UnderlyingDefaultSource<Uint8Array> {
  #conn: Http1Connection | null;
  readonly #decoder: ChunkedDecoder | null;
  /** Body bytes still owed: the Content-Length rest, or Infinity until the backend closes. */
  #remaining: number;
  #prefix: Uint8Array[] | null;
  #scratch: Uint8Array | null = null;
  readonly #idleTimeoutMs: number;

  constructor(
    conn: Http1Connection,
    head: ResponseHead,
    decoder: ChunkedDecoder | null,
    prefix: Uint8Array[] | null,
    idleTimeoutMs: number,
  ) {
    this.#conn = conn;
    this.#decoder = decoder;
    this.#remaining = head.framing === "length" ? head.contentLength : Infinity;
    this.#prefix = prefix !== null && prefix.length > 0 ? prefix : null;
    this.#idleTimeoutMs = idleTimeoutMs;
  }

  async pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    const conn = this.#conn;
    if (conn === null) return;
    try {
      if (this.#prefix !== null) {
        for (const piece of this.#prefix) controller.enqueue(piece);
        this.#prefix = null;
        return;
      }
      if (this.#decoder !== null) await this.#pullChunked(conn, this.#decoder, controller);
      else await this.#pullRaw(conn, controller);
    } catch (err) {
      this.#conn = null;
      conn.destroy();
      throw conn.toUpstreamError(err);
    }
  }

  /** The consumer gave up: whatever is left of the body is unread, so the socket cannot be reused. */
  cancel(): void {
    const conn = this.#conn;
    if (conn === null) return;
    this.#conn = null;
    conn.destroy();
  }

  async #pullRaw(
    conn: Http1Connection,
    controller: ReadableStreamDefaultController<Uint8Array>,
  ): Promise<void> {
    if (this.#remaining === 0) return this.#end(conn, controller);
    if (conn.start < conn.end) {
      const n = Math.min(conn.end - conn.start, this.#remaining);
      controller.enqueue(conn.buf.slice(conn.start, conn.start + n));
      conn.start += n;
      this.#remaining -= n;
    } else {
      const n = await this.#readDirect(conn, this.#remaining);
      if (n === -1) {
        if (this.#remaining !== Infinity) {
          throw conn.closedEarly(`connection closed with ${this.#remaining} body bytes missing`);
        }
        return this.#end(conn, controller);
      }
      this.#remaining -= n;
      controller.enqueue(this.#take(n));
    }
    if (this.#remaining === 0) this.#end(conn, controller);
  }

  async #pullChunked(
    conn: Http1Connection,
    decoder: ChunkedDecoder,
    controller: ReadableStreamDefaultController<Uint8Array>,
  ): Promise<void> {
    for (;;) {
      conn.start = decoder.advance(conn.buf, conn.start, conn.end);
      if (decoder.state === "done") return this.#end(conn, controller);
      if (decoder.state === "data") {
        if (conn.start < conn.end) {
          const n = Math.min(conn.end - conn.start, decoder.remaining);
          controller.enqueue(conn.buf.slice(conn.start, conn.start + n));
          conn.start += n;
          decoder.consume(n);
          return;
        }
        // A large chunk skips the read buffer, like a Content-Length body.
        if (decoder.remaining >= 4096) {
          const n = await this.#readDirect(conn, decoder.remaining);
          if (n === -1) throw conn.closedEarly("connection closed before the last chunk");
          decoder.consume(n);
          controller.enqueue(this.#take(n));
          return;
        }
      }
      conn.arm("body_idle", this.#idleTimeoutMs);
      const more = await conn.fill();
      conn.disarm();
      if (!more) throw conn.closedEarly("connection closed before the last chunk");
    }
  }

  // Reads at most `limit` bytes into the scratch buffer; -1 at end of stream.
  async #readDirect(conn: Http1Connection, limit: number): Promise<number> {
    const size = Math.min(limit, READ_CHUNK);
    if (this.#scratch === null || this.#scratch.length < size) this.#scratch = new Uint8Array(size);
    conn.arm("body_idle", this.#idleTimeoutMs);
    const n = await conn.readInto(
      size === this.#scratch.length ? this.#scratch : this.#scratch.subarray(0, size),
    );
    conn.disarm();
    return n === null ? -1 : n;
  }

  // A mostly filled scratch buffer is handed over as is; a small read is copied so the scratch stays reusable.
  #take(n: number): Uint8Array {
    const scratch = this.#scratch!;
    if (n * 2 < scratch.length) return scratch.slice(0, n);
    this.#scratch = null;
    return scratch.subarray(0, n);
  }

  #end(conn: Http1Connection, controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.#conn = null;
    conn.finish();
    controller.close();
  }
}
