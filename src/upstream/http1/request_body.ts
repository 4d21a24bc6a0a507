import { type BodyByteCounter, UpstreamError } from "../client.ts";
import type { Http1Connection } from "./http1_connection.ts";
import type { PreparedRequest } from "./request_head.ts";

const LAST_CHUNK = new TextEncoder().encode("0\r\n\r\n");

/**
 * Streams a ReadableStream request body chunk by chunk, never buffering it whole: exactly `streamLength` bytes
 * when the request declared a length (a mismatch is an error, the framing would be wrong), otherwise as chunked
 * transfer coding (RFC 9112 §7.1). Each write fails after `idleTimeoutMs` without progress. On failure the
 * client's stream is cancelled. The bytes read from the stream, sent or not, are added to `counter`.
 */
export async function writeStreamBody(
  conn: Http1Connection,
  prepared: PreparedRequest,
  idleTimeoutMs: number,
  counter: BodyByteCounter | undefined,
): Promise<void> {
  const reader = prepared.stream!.getReader();
  prepared.streamStarted = true;
  conn.bodyReader = reader;
  const length = prepared.streamLength;
  let sent = 0;
  try {
    for (;;) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch (err) {
        throw new UpstreamError(
          "aborted",
          `Cannot send request body to backend "${conn.key}": reading the client's body failed: ${err}`,
          true,
          { cause: err },
        );
      }
      if (result.done) {
        // An abort cancels the reader, which ends the stream early: that is no length mismatch.
        if (conn.failed) throw conn.failure();
        break;
      }
      const chunk = result.value;
      if (chunk.length === 0) continue;
      sent += chunk.length;
      if (length === -1) {
        await conn.write(frameChunk(chunk), idleTimeoutMs);
      } else if (sent > length) {
        throw lengthMismatch(conn, length, "longer");
      } else {
        await conn.write(chunk, idleTimeoutMs);
      }
    }
    if (length === -1) await conn.write(LAST_CHUNK, idleTimeoutMs);
    else if (sent < length) throw lengthMismatch(conn, length, "shorter");
  } catch (err) {
    reader.cancel(err).catch(ignore);
    throw err;
  } finally {
    if (counter !== undefined) counter.requestBodyBytes += sent;
    conn.bodyReader = null;
    reader.releaseLock();
  }
}

// One write per chunk: size line, data and CRLF copied together.
function frameChunk(chunk: Uint8Array): Uint8Array {
  const size = chunk.length.toString(16);
  const framed = new Uint8Array(size.length + 2 + chunk.length + 2);
  for (let i = 0; i < size.length; i++) framed[i] = size.charCodeAt(i);
  framed[size.length] = 13;
  framed[size.length + 1] = 10;
  framed.set(chunk, size.length + 2);
  framed[framed.length - 2] = 13;
  framed[framed.length - 1] = 10;
  return framed;
}

function lengthMismatch(conn: Http1Connection, length: number, how: string): UpstreamError {
  return new UpstreamError(
    "protocol",
    `Cannot send request body to backend "${conn.key}": the body is ${how} than its content-length of ${length} bytes`,
    true,
  );
}

function ignore(): void {}
