/**
 * In-process WebSocket proxy fixture: the real request handler and snapshot with `createWebSocketProxy`
 * on 127.0.0.1:0, plus backends (a Deno echo server and a raw one that stops after the handshake) and
 * small client helpers. Faster than a gateway subprocess, and it exposes the registry and the log.
 */
import { createLogger } from "../../../src/observe/logger.ts";
import type { MetricsRegistry } from "../../../src/observe/metrics_registry.ts";
import {
  createWebSocketProxy,
  type WebSocketProxy,
} from "../../../src/protocols/websocket/websocket_proxy.ts";
import { createRequestHandler } from "../../../src/runtime/request_handler.ts";
import type { UpstreamClient } from "../../../src/upstream/client.ts";
import { acceptFor } from "../../../src/protocols/websocket/backend_handshake.ts";
import { compileSnapshot } from "../../runtime/snapshot_fixture.ts";

/** 1 MiB. */
export const MIB = 1024 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface Closed {
  readonly code: number;
  readonly reason: string;
}

export interface ProxyFixture {
  /** `ws://127.0.0.1:<port>`; the route is `/ws/{*rest}` → `/{rest}`. */
  readonly url: string;
  readonly proxy: WebSocketProxy;
  readonly registry: MetricsRegistry;
  /** JSON log lines written so far. */
  readonly lines: string[];
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const noHttp: UpstreamClient = {
  ownsResponses: false,
  name: "fetch",
  send: () => Promise.reject(new Error("websocket routes never use the HTTP client")),
  close() {},
};

/** Serves one websocket route (`route` overrides its fields) through the real handler. */
export function startProxy(route: Record<string, unknown>, top: Record<string, unknown> = {}): ProxyFixture {
  const fixture = compileSnapshot({
    version: 1,
    ...top,
    routers: [{
      external_path: "/ws/{*rest}",
      internal_path: "/{rest}",
      methods: ["GET"],
      protocol: "websocket",
      ...route,
    }],
  });
  const { registry, metrics, snapshot } = fixture;
  const lines: string[] = [];
  const logger = createLogger({ level: "info", format: "json", write: (line) => lines.push(line) });
  const proxy = createWebSocketProxy({ logger, metrics, registry });
  const handler = createRequestHandler({
    snapshot: () => snapshot,
    client: noHttp,
    metrics,
    accessLog: undefined,
    logger,
    draining: () => false,
    startedAt: Date.now(),
    renderMetrics: () => registry.render(),
    websocket: (ctx, compiled) => proxy.handle(ctx, compiled),
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  let closed: Promise<void> | undefined;
  const close = () =>
    closed ??= (async () => {
      // Before server.shutdown(), which would close upgraded sockets itself.
      await proxy.closeAll(1001, "fixture closing");
      await server.shutdown();
      fixture.dispose();
    })();
  return {
    url: `ws://127.0.0.1:${server.addr.port}`,
    proxy,
    registry,
    lines,
    close,
    [Symbol.asyncDispose]: close,
  };
}

export interface EchoBackend {
  readonly port: number;
  /** Headers and URL of the last upgrade request. */
  readonly last: { headers: Headers; url: string } | undefined;
  /** The backend side of every connection, in order. */
  readonly sockets: WebSocket[];
  nextClose(): Promise<Closed>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * A Deno WebSocket echo server. Text `close:CODE:REASON` makes it close with that code; `flood:N` makes
 * it send N binary messages of 1 MiB at once.
 */
export function echoBackend(): EchoBackend {
  let last: { headers: Headers; url: string } | undefined;
  let waiting: ((closed: Closed) => void) | undefined;
  const sockets: WebSocket[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    last = { headers: new Headers(req.headers), url: req.url };
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.binaryType = "arraybuffer";
    sockets.push(socket);
    socket.onmessage = (e) => {
      if (typeof e.data === "string" && e.data.startsWith("close:")) {
        const [, code, reason] = e.data.split(":");
        return socket.close(Number(code), reason);
      }
      if (typeof e.data === "string" && e.data.startsWith("flood:")) {
        for (let i = 0; i < Number(e.data.slice(6)); i++) socket.send(new Uint8Array(MIB));
        return;
      }
      socket.send(e.data);
    };
    socket.onclose = (e) => waiting?.({ code: e.code, reason: e.reason });
    return response;
  });
  let closed: Promise<void> | undefined;
  const close = () => closed ??= server.shutdown();
  return {
    port: server.addr.port,
    get last() {
      return last;
    },
    sockets,
    nextClose: () => new Promise<Closed>((resolve) => waiting = resolve),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** A raw backend that completes each handshake and then neither reads nor writes (stalled). */
export function stalledBackend(): { port: number; accepted(): number; close(): Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const serving = (async () => {
    try {
      for await (const conn of listener) {
        conns.push(conn);
        const buffer = new Uint8Array(8192);
        const n = (await conn.read(buffer)) ?? 0;
        const key = /sec-websocket-key: *(\S+)/i.exec(decoder.decode(buffer.subarray(0, n)))?.[1] ?? "";
        await conn.write(encoder.encode(
          "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n" +
            `sec-websocket-accept: ${await acceptFor(key)}\r\n\r\n`,
        ));
      }
    } catch { /* listener closed */ }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    accepted: () => conns.length,
    async close() {
      listener.close();
      await serving;
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed by the peer */ }
      }
    },
  };
}

/** Opens a client WebSocket (binaryType arraybuffer); rejects when the upgrade fails. */
export function connect(url: string, options?: WebSocketOptions): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => resolve(ws);
    ws.onerror = (e) => reject(new Error((e as ErrorEvent).message));
  });
}

export function nextMessage(ws: WebSocket): Promise<string | ArrayBuffer> {
  return new Promise((resolve) => ws.onmessage = (e) => resolve(e.data));
}

export function closed(ws: WebSocket): Promise<Closed> {
  return new Promise((resolve) =>
    ws.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason }))
  );
}

/** Resolves when `check()` holds, polling every 20 ms; throws after `timeoutMs`. */
export async function eventually(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  for (let waited = 0; waited < timeoutMs; waited += 20) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
}
