/**
 * The opening handshake toward a backend (RFC 6455 §4.1), written by hand over a dialled connection so
 * the gateway controls the Host header, forwards the client's headers and sees a refusal's status.
 */
import type { UpstreamFields } from "../../proxy/field_list.ts";
import { UpstreamError } from "../../upstream/client.ts";
import { hasToken } from "./upgrade_request.ts";

/** What to send in the upgrade request. */
export interface HandshakeRequest {
  /** Path and query, e.g. `/chat/7?room=a`. */
  readonly path: string;
  readonly host: string;
  /** Headers to forward (hop-by-hop already removed); `sec-websocket-*` and framing headers are skipped. */
  readonly headers: UpstreamFields;
  /** The client's `Sec-WebSocket-Protocol` offer, as sent, or null. */
  readonly protocols: string | null;
}

/** The backend's answer: accepted (with the chosen subprotocol and any frame bytes read past the head) or not. */
export type HandshakeResult =
  | { readonly accepted: true; readonly protocol: string; readonly leftover: Uint8Array }
  | { readonly accepted: false; readonly status: number };

// §4.1: the value the server must hash with the key.
const ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const MAX_HEAD_BYTES = 16384;
const SKIPPED = new Set(["host", "content-length", "transfer-encoding", "upgrade", "connection"]);
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: |$)/;
const encoder = new TextEncoder();

/**
 * Sends the upgrade request on `conn` and reads the response head within `timeoutMs`. Rejects with
 * UpstreamError "timeout", "aborted", "reset" or "protocol"; the caller closes `conn` on rejection.
 */
export async function backendHandshake(
  conn: Deno.Conn,
  backendKey: string,
  request: HandshakeRequest,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<HandshakeResult> {
  const key = randomKey();
  let stopped: "timeout" | "aborted" | undefined;
  // Deno's read/write take no signal: closing the socket is how a pending one is interrupted.
  const stop = (why: "timeout" | "aborted") => {
    stopped ??= why;
    try {
      conn.close();
    } catch { /* already closed */ }
  };
  const timer = setTimeout(() => stop("timeout"), timeoutMs);
  const onAbort = () => stop("aborted");
  signal?.addEventListener("abort", onAbort);
  try {
    const expected = acceptFor(key);
    await writeAll(conn, latin1(requestHead(request, key)));
    const { head, leftover } = await readHead(conn, backendKey);
    return checkResponse(head, leftover, await expected, request.protocols, backendKey);
  } catch (err) {
    if (stopped === "timeout") {
      throw new UpstreamError(
        "timeout",
        `Backend "${backendKey}" did not answer the WebSocket handshake within ${timeoutMs} ms`,
        true,
        { cause: err },
      );
    }
    if (stopped === "aborted") {
      throw new UpstreamError(
        "aborted",
        `The client went away during the handshake with "${backendKey}"`,
        true,
        {
          cause: err,
        },
      );
    }
    if (err instanceof UpstreamError) throw err;
    throw new UpstreamError(
      "reset",
      `Backend "${backendKey}" dropped the WebSocket handshake: ${String(err)}`,
      true,
      {
        cause: err,
      },
    );
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

function requestHead(request: HandshakeRequest, key: string): string {
  let head = `GET ${request.path} HTTP/1.1\r\nhost: ${request.host}\r\nupgrade: websocket\r\n` +
    `connection: Upgrade\r\nsec-websocket-key: ${key}\r\nsec-websocket-version: 13\r\n`;
  if (request.protocols !== null) head += `sec-websocket-protocol: ${request.protocols}\r\n`;
  for (const [name, value] of request.headers) {
    // Extensions are negotiated per leg: we offer none, so the backend must not compress (§9.1).
    if (SKIPPED.has(name) || name.startsWith("sec-websocket-")) continue;
    head += `${name}: ${value}\r\n`;
  }
  return head + "\r\n";
}

async function readHead(
  conn: Deno.Conn,
  backendKey: string,
): Promise<{ head: string; leftover: Uint8Array }> {
  const buffer = new Uint8Array(MAX_HEAD_BYTES);
  let filled = 0;
  let searchFrom = 0;
  while (true) {
    if (filled === buffer.length) {
      throw new UpstreamError(
        "protocol",
        `Backend "${backendKey}" sent a handshake head over ${MAX_HEAD_BYTES} bytes`,
        true,
      );
    }
    const n = await conn.read(buffer.subarray(filled));
    if (n === null) {
      throw new UpstreamError(
        "reset",
        `Backend "${backendKey}" closed the connection during the WebSocket handshake`,
        true,
      );
    }
    filled += n;
    for (let i = Math.max(searchFrom, 3); i < filled; i++) {
      if (buffer[i] === 10 && buffer[i - 1] === 13 && buffer[i - 2] === 10 && buffer[i - 3] === 13) {
        return {
          head: String.fromCharCode(...buffer.subarray(0, i - 3)),
          leftover: buffer.slice(i + 1, filled),
        };
      }
    }
    searchFrom = filled;
  }
}

function checkResponse(
  head: string,
  leftover: Uint8Array,
  expectedAccept: string,
  offered: string | null,
  backendKey: string,
): HandshakeResult {
  const lines = head.split("\r\n");
  const status = STATUS_LINE.exec(lines[0]);
  const fail = (why: string): never => {
    throw new UpstreamError(
      "protocol",
      `Backend "${backendKey}" answered the WebSocket handshake wrongly: ${why}`,
      true,
    );
  };
  if (!status) return fail(`bad status line ${JSON.stringify(lines[0].slice(0, 64))}`);
  const code = Number(status[1]);
  if (code !== 101) return { accepted: false, status: code };
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i].indexOf(":");
    if (colon <= 0) return fail(`bad header line ${JSON.stringify(lines[i].slice(0, 64))}`);
    const name = lines[i].slice(0, colon).trim().toLowerCase();
    const value = lines[i].slice(colon + 1).trim();
    headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
  }
  // §4.1, the client's checks of the server's handshake, in the RFC's order.
  if (headers.get("upgrade")?.toLowerCase() !== "websocket") return fail("Upgrade is not websocket");
  if (!hasToken(headers.get("connection"), "upgrade")) return fail("Connection does not include Upgrade");
  if (headers.get("sec-websocket-accept") !== expectedAccept) return fail("wrong Sec-WebSocket-Accept");
  if (headers.has("sec-websocket-extensions")) return fail("an extension the gateway did not offer");
  const protocol = headers.get("sec-websocket-protocol") ?? "";
  // Subprotocol names are compared exactly: they are case-sensitive tokens (§4.1, step 6).
  if (protocol && (offered === null || !offered.split(",").some((p) => p.trim() === protocol))) {
    return fail(`subprotocol ${JSON.stringify(protocol)} was not offered`);
  }
  return { accepted: true, protocol, leftover };
}

function randomKey(): string {
  // §4.1: a random 16-byte nonce, base64-encoded.
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
}

/** The Sec-WebSocket-Accept a server must answer to `key` (§4.2.2). */
export async function acceptFor(key: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-1", encoder.encode(key + ACCEPT_GUID)));
  return btoa(String.fromCharCode(...digest));
}

// Header values are byte strings: one char per byte, never re-encoded as UTF-8.
function latin1(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}
