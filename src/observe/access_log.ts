/**
 * The access log: one JSON line per request on stdout. Lines are buffered and written once per
 * event-loop turn (or when the buffer passes 64 KiB), because a synchronous write per request costs throughput.
 */
import { writeAllSync } from "./write_all_sync.ts";

/** One finished request. */
export interface AccessLogEntry {
  readonly requestId: string;
  readonly method: string;
  /** Raw request path, without the query. */
  readonly path: string;
  /** Route id, or "(none)" when no route matched. */
  readonly route: string;
  /** Key of the backend that answered, or null when none did. */
  readonly backend: string | null;
  readonly status: number;
  readonly durationMs: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly clientIp: string;
  /** Upstream attempts made (0 when the request never reached the proxy step). */
  readonly attempts: number;
  /** The client's User-Agent and Referer fields (null when absent), as kairos-rs's access log has them. */
  readonly userAgent: string | null;
  readonly referer: string | null;
  /** Why the request failed, when it did. */
  readonly error?: string;
  /** Epoch ms the line is stamped with; default: now. */
  readonly time?: number;
  /** For a proxied WebSocket connection, logged when it closes (bytes are message payload bytes). */
  readonly websocket?: WebSocketLogFields;
}

export interface WebSocketLogFields {
  readonly messagesIn: number;
  readonly messagesOut: number;
  readonly closeCode: number;
  readonly closeReason: string;
  readonly closedBy: string;
}

export interface AccessLogOptions {
  /** Receives a batch of complete lines (each ending in "\n"). Default: a synchronous write to stdout. */
  write?: (text: string) => void;
  /** Called when the sink throws; the batch is dropped. Default: ignore (logging never fails a request). */
  onError?: (err: unknown) => void;
  /** Buffered characters that force an immediate flush. Default 64 KiB. */
  maxBufferChars?: number;
}

export interface AccessLog {
  /** Buffers one line; it is written at the end of this event-loop turn at the latest. */
  log(entry: AccessLogEntry): void;
  /** Writes buffered lines now and cancels the pending timer (call on shutdown). */
  flush(): void;
}

const encoder = new TextEncoder();

function writeStdout(text: string): void {
  writeAllSync(Deno.stdout, encoder.encode(text));
}

/** Creates a batching access log. */
export function createAccessLog(options: AccessLogOptions = {}): AccessLog {
  const write = options.write ?? writeStdout;
  const onError = options.onError;
  const max = options.maxBufferChars ?? 64 * 1024;
  let buffer = "";
  let timer: ReturnType<typeof setTimeout> | undefined;

  function flush(): void {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (buffer === "") return;
    const text = buffer;
    buffer = "";
    try {
      write(text);
    } catch (err) {
      onError?.(err);
    }
  }

  function log(entry: AccessLogEntry): void {
    buffer += formatAccessLine(entry);
    if (buffer.length >= max) flush();
    // setTimeout(0) rather than a microtask: it batches the lines of every request finished in this turn.
    else if (timer === undefined) timer = setTimeout(flush, 0);
  }

  return { log, flush };
}

/** One entry as a JSON line with a fixed key order, ending in "\n". */
export function formatAccessLine(e: AccessLogEntry): string {
  const time = new Date(e.time ?? Date.now()).toISOString();
  let line =
    `{"time":"${time}","request_id":${JSON.stringify(e.requestId)},"method":${JSON.stringify(e.method)}` +
    `,"path":${JSON.stringify(e.path)},"route":${JSON.stringify(e.route)}` +
    `,"backend":${e.backend === null ? "null" : JSON.stringify(e.backend)},"status":${e.status}` +
    `,"duration_ms":${
      Math.round(e.durationMs * 1000) / 1000
    },"bytes_in":${e.bytesIn},"bytes_out":${e.bytesOut}` +
    `,"client_ip":${JSON.stringify(e.clientIp)},"attempts":${e.attempts}` +
    `,"user_agent":${e.userAgent === null ? "null" : JSON.stringify(e.userAgent)}` +
    `,"referer":${e.referer === null ? "null" : JSON.stringify(e.referer)}`;
  if (e.error !== undefined) line += `,"error":${JSON.stringify(e.error)}`;
  const ws = e.websocket;
  if (ws !== undefined) {
    line += `,"messages_in":${ws.messagesIn},"messages_out":${ws.messagesOut},"close_code":${ws.closeCode}` +
      `,"close_reason":${JSON.stringify(ws.closeReason)},"closed_by":${JSON.stringify(ws.closedBy)}`;
  }
  return line + "}\n";
}
