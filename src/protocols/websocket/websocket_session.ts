/**
 * One proxied WebSocket connection: the client leg (Deno's server WebSocket) relayed to the backend leg
 * (our BackendSocket), messages in order both ways, close codes mapped across, limits enforced, and one
 * log line plus metrics when both legs are closed.
 */
import type { WebSocketConfig } from "../../config/schema.ts";
import type { AccessLog } from "../../observe/access_log.ts";
import type { Logger } from "../../observe/logger.ts";
import type { BackendState } from "../../upstream/backend_state.ts";
import { type BackendEnd, type BackendListener, BackendSocket } from "./backend_socket.ts";
import {
  closeReason,
  codeForBackend,
  codeForClient,
  gatewayClose,
  type GatewayCloseCause,
} from "./close_codes.ts";
import type { DialedBackend } from "./backend_dial.ts";
import type { RouteWebSocketSeries } from "./websocket_metrics.ts";

/** Who ended the connection. */
export type ClosedBy = "client" | "backend" | "gateway";

/** Identity and wiring of a session. */
export interface SessionInit {
  readonly routeId: string;
  readonly requestId: string;
  readonly clientIp: string;
  readonly options: WebSocketConfig;
  readonly series: RouteWebSocketSeries;
  readonly logger: Logger;
  /** Where the connection's one access-log line goes when it closes (none when the access log is off). */
  readonly accessLog?: AccessLog;
  /** The upgrade request's path, for the access log. */
  readonly path: string;
  /** Upstream attempts the dial took, for the access log. */
  readonly attempts: number;
  /** The upgrade request's User-Agent and Referer, for the access log. */
  readonly userAgent: string | null;
  readonly referer: string | null;
  /** Called once, when both legs are closed. */
  readonly ended: (session: WebSocketSession) => void;
}

// While the backend is paused for a slow client, how often to check whether the client drained.
const DRAIN_POLL_MS = 10;
const CONNECTING = 0;
const OPEN = 1;
// How long the client leg may stay "connecting" after the 101 before the session is dropped.
const OPEN_TIMEOUT_MS = 10_000;
// How long a client may take to answer our close frame; Deno's socket itself waits forever.
const CLOSE_TIMEOUT_MS = 2000;

/** Relays one client WebSocket to one backend connection until either side closes. */
export class WebSocketSession implements BackendListener {
  /** Resolves when both legs are closed and the session is accounted for. */
  readonly done: Promise<void>;
  readonly #down: WebSocket;
  readonly #up: BackendSocket;
  readonly #backend: BackendState;
  readonly #init: SessionInit;
  readonly #max: number;
  readonly #maxBuffered: number;
  readonly #startedAt = performance.now();
  #messagesIn = 0;
  #messagesOut = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  #closedBy: ClosedBy | undefined;
  #closeCode = 0;
  #closeReason = "";
  #downClosed = false;
  #upClosed = false;
  #finished = false;
  #drainTimer: ReturnType<typeof setTimeout> | undefined;
  // Sweep state: counters seen at the last tick and how long they have not moved.
  #seenMessages = 0;
  #idleFor = 0;
  #seenReads = 0;
  #silentFor = 0;
  #pinged = false;
  #connectingFor = 0;
  #closingFor = 0;
  #resolveDone!: () => void;

  constructor(down: WebSocket, dialed: DialedBackend, init: SessionInit) {
    this.#down = down;
    this.#backend = dialed.backend;
    this.#init = init;
    this.#max = init.options.max_message_bytes;
    this.#maxBuffered = init.options.max_buffered_bytes;
    this.#up = new BackendSocket(dialed.conn, dialed.leftover, this.#max, this);
    this.done = new Promise((resolve) => this.#resolveDone = resolve);
    down.binaryType = "arraybuffer";
    // The session is the listener object: no closures per connection.
    down.addEventListener("open", this);
    down.addEventListener("message", this);
    down.addEventListener("close", this);
    init.series.open.inc();
    init.series.upgrades.inc();
  }

  /** EventListenerObject entry point for the client socket's events. */
  handleEvent(event: Event): void {
    switch (event.type) {
      case "message":
        return this.#clientMessage((event as MessageEvent).data);
      case "open":
        // Read the backend only now: before this, nothing could be delivered to the client.
        return this.#up.start();
      case "close":
        return this.#clientClosed(event as CloseEvent);
    }
  }

  #clientMessage(data: string | ArrayBuffer): void {
    if (this.#closedBy !== undefined) return;
    const up = this.#up;
    if (up.bufferedAmount > this.#maxBuffered) return this.#fail("backend_too_slow");
    let bytes: number;
    if (typeof data === "string") {
      // UTF-8 takes 1-3 bytes per UTF-16 unit: count exactly only when the bounds do not decide.
      if (data.length > this.#max || (data.length * 3 > this.#max && utf8Length(data) > this.#max)) {
        return this.#fail("client_message_too_big");
      }
      bytes = up.sendText(data);
    } else {
      bytes = data.byteLength;
      if (bytes > this.#max) return this.#fail("client_message_too_big");
      up.sendBinary(new Uint8Array(data));
    }
    this.#messagesIn++;
    this.#bytesIn += bytes;
    const series = this.#init.series;
    series.messagesIn.inc();
    series.bytesIn.inc(bytes);
  }

  backendText(text: string, bytes: number): void {
    this.#toClient(text, bytes);
  }

  backendBinary(data: Uint8Array): void {
    this.#toClient(data, data.length);
  }

  #toClient(data: string | Uint8Array, bytes: number): void {
    const down = this.#down;
    if (this.#closedBy !== undefined || down.readyState !== OPEN) return;
    down.send(data);
    this.#messagesOut++;
    this.#bytesOut += bytes;
    const series = this.#init.series;
    series.messagesOut.inc();
    series.bytesOut.inc(bytes);
    // A slow client: stop reading the backend so TCP pushes back on it, instead of buffering here.
    if (down.bufferedAmount > this.#maxBuffered && !this.#up.paused) {
      this.#up.pause();
      this.#drainTimer = setTimeout(this.#checkDrained, DRAIN_POLL_MS);
    }
  }

  #checkDrained = (): void => {
    this.#drainTimer = undefined;
    if (this.#finished) return;
    if (this.#down.bufferedAmount <= this.#maxBuffered / 2 || this.#closedBy !== undefined) this.#up.resume();
    else this.#drainTimer = setTimeout(this.#checkDrained, DRAIN_POLL_MS);
  };

  #clientClosed(event: CloseEvent): void {
    this.#downClosed = true;
    if (this.#closedBy === undefined) {
      this.#closedBy = "client";
      // Deno reports a client that broke the protocol or vanished with code 0: count it as 1006 (§7.4.1).
      this.#closeCode = event.code || 1006;
      this.#closeReason = event.reason;
      this.#up.close(codeForBackend(event.code), event.reason);
    }
    this.#maybeFinish();
  }

  backendClosed(end: BackendEnd): void {
    this.#upClosed = true;
    if (this.#closedBy === undefined) {
      // A violation means we failed the backend leg (1002, 1007 or 1009 sent to it, e.g. a message over
      // the limit): for the client that is an unexpected condition on the server side, 1011.
      const peer = end.how === "peer";
      const code = peer ? codeForClient(end.code) : 1011;
      this.#closedBy = end.how === "violation" ? "gateway" : "backend";
      this.#closeCode = code ?? 1005;
      this.#closeReason = peer
        ? end.reason
        : end.how === "lost"
        ? "backend connection lost"
        : `backend: ${end.reason}`;
      this.#closeClient(code, this.#closeReason);
    }
    this.#maybeFinish();
  }

  /** Gateway-initiated close of both legs. */
  #fail(cause: GatewayCloseCause, code?: number, reason?: string): void {
    if (this.#closedBy !== undefined) return;
    const close = gatewayClose(cause, code, reason);
    this.#closedBy = "gateway";
    this.#closeCode = close.client;
    this.#closeReason = close.reason;
    this.#closeClient(close.client, close.reason);
    if (close.backend === undefined) this.#up.abort();
    else this.#up.close(close.backend, close.reason);
  }

  #closeClient(code: number | undefined, reason: string): void {
    const down = this.#down;
    if (down.readyState > OPEN) return;
    try {
      if (code === undefined) down.close();
      else down.close(code, closeReason(reason));
    } catch {
      // Still connecting (the client vanished before the 101 went out): its close event follows.
    }
  }

  /** Shutdown: closes both legs with `code` (1001 by default). */
  shutdown(code: number, reason: string): void {
    this.#fail("shutdown", code, reason);
  }

  /** Gives up on the client leg (it never opened, or never answered our close): drops the backend too. */
  abandon(): void {
    if (this.#closedBy === undefined) {
      this.#closedBy = "gateway";
      this.#closeCode = 1006;
      this.#closeReason = "client leg never opened";
    }
    this.#downClosed = true;
    this.#up.abort();
    this.#maybeFinish();
  }

  /**
   * Called by the proxy's sweep every `elapsedMs`: the idle timeout and pings to the backend (the client
   * leg is pinged by Deno itself). Counters that have not moved since the last tick mean silence.
   */
  tick(elapsedMs: number): void {
    if (this.#closedBy !== undefined) {
      // Closed by the backend or by us (§7.1.1 waits for the client's answer): a client that never
      // answers must not hold the session and its backend slot for good.
      if (!this.#downClosed && (this.#closingFor += elapsedMs) >= CLOSE_TIMEOUT_MS) this.abandon();
      return;
    }
    if (this.#down.readyState === CONNECTING) {
      // The 101 never reached a client that vanished: do not hold its backend forever.
      this.#connectingFor += elapsedMs;
      if (this.#connectingFor >= OPEN_TIMEOUT_MS) this.abandon();
      return;
    }
    const options = this.#init.options;
    if (options.idle_timeout_ms > 0) {
      const messages = this.#messagesIn + this.#messagesOut;
      this.#idleFor = messages === this.#seenMessages ? this.#idleFor + elapsedMs : 0;
      this.#seenMessages = messages;
      if (this.#idleFor >= options.idle_timeout_ms) return this.#fail("idle_timeout");
    }
    const interval = options.ping_interval_ms;
    // A paused backend is held back by us, not silent.
    if (interval > 0 && !this.#up.paused) {
      const reads = this.#up.reads;
      if (reads !== this.#seenReads) {
        this.#seenReads = reads;
        this.#silentFor = 0;
        this.#pinged = false;
      } else this.#silentFor += elapsedMs;
      if (this.#silentFor >= 2 * interval) return this.#fail("backend_unresponsive");
      if (this.#silentFor >= interval && !this.#pinged) {
        this.#pinged = true;
        this.#up.ping();
      }
    }
  }

  #maybeFinish(): void {
    if (!this.#downClosed || !this.#upClosed || this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#drainTimer);
    this.#backend.release();
    const init = this.#init;
    init.series.open.dec();
    init.series.closed(this.#closeCode);
    const durationMs = performance.now() - this.#startedAt;
    init.accessLog?.log({
      requestId: init.requestId,
      method: "GET",
      path: init.path,
      route: init.routeId,
      backend: this.#backend.key,
      status: 101,
      durationMs,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      clientIp: init.clientIp,
      attempts: init.attempts,
      userAgent: init.userAgent,
      referer: init.referer,
      websocket: {
        messagesIn: this.#messagesIn,
        messagesOut: this.#messagesOut,
        closeCode: this.#closeCode,
        closeReason: this.#closeReason,
        closedBy: this.#closedBy ?? "gateway",
      },
    });
    init.logger.info("websocket closed", {
      request_id: init.requestId,
      route: init.routeId,
      backend: this.#backend.key,
      client_ip: init.clientIp,
      duration_ms: Math.round(durationMs),
      messages_in: this.#messagesIn,
      messages_out: this.#messagesOut,
      bytes_in: this.#bytesIn,
      bytes_out: this.#bytesOut,
      close_code: this.#closeCode,
      close_reason: this.#closeReason,
      closed_by: this.#closedBy,
    });
    init.ended(this);
    this.#resolveDone();
  }
}

/** Bytes of `text` in UTF-8 (lone surrogates count as the 3-byte replacement character). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}
