import assert from "node:assert/strict";
import { UpstreamError, type UpstreamRequest, type UpstreamTarget } from "../../../src/upstream/client.ts";
import {
  createHttp1Client,
  type Http1Client,
  type Http1ClientOptions,
} from "../../../src/upstream/http1/http1_client.ts";

/** A request as the scripted backend received it. */
export interface ReceivedRequest {
  method: string;
  path: string;
  /** The raw head, request line through the empty line. */
  head: string;
  /** Lower-cased names, in order, repeats kept. */
  headers: [string, string][];
  body: Uint8Array;
}

/** What a per-connection script does with one accepted socket. */
export type ConnectionScript = (conn: ScriptedConnection, index: number) => Promise<void>;

/** A raw TCP backend on 127.0.0.1:0 that runs a script per accepted connection and counts them. */
export interface ScriptedServer {
  readonly port: number;
  readonly target: UpstreamTarget;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Errors thrown by scripts (a client closing its side is normal in many tests). */
  readonly errors: unknown[];
  close(): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One accepted socket with a small buffered reader, driven byte by byte by a test script. */
export class ScriptedConnection {
  readonly #conn: Deno.TcpConn;
  #buffered = new Uint8Array(0);

  constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  /** Reads the next request head; null if the peer closed before sending a byte. */
  async readHead(): Promise<ReceivedRequest | null> {
    let end: number;
    while ((end = indexOfHeadEnd(this.#buffered)) === -1) {
      if (!(await this.#more())) {
        if (this.#buffered.length === 0) return null;
        throw new Error("peer closed in the middle of a request head");
      }
    }
    const head = decoder.decode(this.#buffered.subarray(0, end));
    this.#buffered = this.#buffered.slice(end);
    const lines = head.split("\r\n").slice(0, -2);
    const [method, path] = lines[0].split(" ");
    const headers = lines.slice(1).map((line): [string, string] => {
      const colon = line.indexOf(":");
      return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
    });
    return { method, path, head, headers, body: new Uint8Array(0) };
  }

  /** Reads a request body framed by its content-length or chunked coding into `request.body`. */
  async readBody(request: ReceivedRequest): Promise<void> {
    const length = request.headers.find(([name]) => name === "content-length")?.[1];
    const chunked = request.headers.some(([name, value]) =>
      name === "transfer-encoding" && value === "chunked"
    );
    if (chunked) {
      const parts: Uint8Array[] = [];
      for (;;) {
        const size = parseInt(decoder.decode(await this.readLine()), 16);
        if (size === 0) break;
        parts.push(await this.readBytes(size));
        await this.readBytes(2);
      }
      while ((await this.readLine()).length > 0) { /* trailers */ }
      request.body = concat(parts);
    } else if (length !== undefined) {
      request.body = await this.readBytes(Number(length));
    }
  }

  /** Reads a whole request (head and body); null if the peer closed first. */
  async readRequest(): Promise<ReceivedRequest | null> {
    const request = await this.readHead();
    if (request !== null) await this.readBody(request);
    return request;
  }

  /** Reads exactly `n` bytes. */
  async readBytes(n: number): Promise<Uint8Array> {
    const bytes = new Uint8Array(n);
    let have = Math.min(n, this.#buffered.length);
    bytes.set(this.#buffered.subarray(0, have));
    this.#buffered = this.#buffered.slice(have);
    // Straight into the result, so large bodies cost no repeated copying.
    while (have < n) {
      const read = await this.#conn.read(bytes.subarray(have));
      if (read === null) throw new Error(`peer closed with ${n - have} bytes missing`);
      have += read;
    }
    return bytes;
  }

  /** Reads one CRLF-terminated line, without the CRLF. */
  async readLine(): Promise<Uint8Array> {
    let lf: number;
    while ((lf = this.#buffered.indexOf(10)) === -1) {
      if (!(await this.#more())) throw new Error("peer closed in the middle of a line");
    }
    const line = this.#buffered.slice(0, lf - 1);
    this.#buffered = this.#buffered.slice(lf + 1);
    return line;
  }

  /** Resolves when the peer closes (or resets) its side with the number of bytes it sent meanwhile. */
  async waitClosed(): Promise<number> {
    let count = this.#buffered.length;
    this.#buffered = new Uint8Array(0);
    try {
      while (await this.#more()) {
        count += this.#buffered.length;
        this.#buffered = new Uint8Array(0);
      }
    } catch { /* reset */ }
    return count;
  }

  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    for (let offset = 0; offset < bytes.length;) offset += await this.#conn.write(bytes.subarray(offset));
  }

  /** Writes `data` in pieces of `size` bytes, pausing `delayMs` between them. */
  async dribble(data: string, size: number, delayMs: number): Promise<void> {
    for (let i = 0; i < data.length; i += size) {
      await this.write(data.slice(i, i + size));
      await delay(delayMs);
    }
  }

  close(): void {
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  async #more(): Promise<boolean> {
    const chunk = new Uint8Array(65536);
    const n = await this.#conn.read(chunk);
    if (n === null) return false;
    this.#buffered = concat([this.#buffered, chunk.subarray(0, n)]);
    return true;
  }
}

/** Starts a scripted backend; each accepted connection runs `script` and is closed when it returns. */
export function startScriptedServer(script: ConnectionScript): ScriptedServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const open = new Set<ScriptedConnection>();
  const running: Promise<void>[] = [];
  const errors: unknown[] = [];
  let accepted = 0;
  const acceptLoop = (async () => {
    for await (const socket of listener) {
      const conn = new ScriptedConnection(socket);
      open.add(conn);
      running.push(
        script(conn, accepted++).catch((err) => void errors.push(err)).finally(() => {
          open.delete(conn);
          conn.close();
        }),
      );
    }
  })().catch(() => {});
  return {
    port,
    target: {
      protocol: "http:",
      hostname: "127.0.0.1",
      port,
      authority: `127.0.0.1:${port}`,
      key: `http://127.0.0.1:${port}`,
    },
    get accepted() {
      return accepted;
    },
    errors,
    async close() {
      listener.close();
      await acceptLoop;
      for (const conn of open) conn.close();
      await Promise.all(running);
    },
  };
}

/** Runs `fn` with a scripted backend and a fresh client, closing both afterwards. */
export async function withBackend(
  script: ConnectionScript,
  fn: (server: ScriptedServer, client: Http1Client) => Promise<void>,
  options?: Http1ClientOptions,
): Promise<void> {
  const server = startScriptedServer(script);
  const client = createHttp1Client(options);
  try {
    await fn(server, client);
  } finally {
    client.close();
    await server.close();
  }
}

/** A GET-style request with test-friendly timeouts; `overrides` replace any field. */
export function makeRequest(
  target: UpstreamTarget,
  overrides: Partial<UpstreamRequest> = {},
): UpstreamRequest {
  return {
    method: "GET",
    path: "/",
    headers: new Headers({ host: target.authority }),
    body: null,
    connectTimeoutMs: 2000,
    firstByteTimeoutMs: 2000,
    idleTimeoutMs: 2000,
    ...overrides,
  };
}

/** Answers every request on the connection with `response` until the client closes it. */
export function keepAnswering(response: string): ConnectionScript {
  return async (conn) => {
    while (await conn.readRequest() !== null) await conn.write(response);
  };
}

/** Reads `body` to its end and returns the UpstreamError it fails with (fails the test if it ends cleanly). */
export async function readError(body: ReadableStream<Uint8Array> | null): Promise<UpstreamError> {
  const reader = body!.getReader();
  try {
    while (!(await reader.read()).done) { /* drain */ }
  } catch (err) {
    assert.ok(err instanceof UpstreamError, String(err));
    return err;
  }
  return assert.fail("the body ended without an error");
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function indexOfHeadEnd(bytes: Uint8Array): number {
  for (let i = 3; i < bytes.length; i++) {
    if (bytes[i] === 10 && bytes[i - 1] === 13 && bytes[i - 2] === 10 && bytes[i - 3] === 13) return i + 1;
  }
  return -1;
}

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** The UpstreamError `promise` rejects with; fails the test if it resolves or rejects with anything else. */
export async function rejection(promise: Promise<unknown>): Promise<UpstreamError> {
  const err = await promise.then(() => assert.fail("resolved"), (e) => e);
  assert.ok(err instanceof UpstreamError, String(err));
  return err;
}

/** Polls `check` every 5 ms for up to a second; its final value. */
export async function until(check: () => boolean): Promise<boolean> {
  for (let i = 0; i < 200 && !check(); i++) await delay(5);
  return check();
}
