/**
 * WebSocket round-trip load: CONNS connections each do MSGS ping-pong round trips of a 128-byte text
 * message (one in flight per connection) after 500 unrecorded warm-up trips, then one JSON line with
 * messages/s and p50/p99 round-trip times. Run it against Kairos and against the backend directly.
 *
 *   deno run -A bench/ws_load.ts ws://127.0.0.1:5900/ws/echo 16 10000
 */
const [url, connsArg = "16", msgsArg = "10000"] = Deno.args;
if (!url?.startsWith("ws")) {
  console.error("usage: deno run -A bench/ws_load.ts URL CONNS MSGS");
  Deno.exit(2);
}
const conns = Number(connsArg);
const msgs = Number(msgsArg);
const SIZE = 128;
const WARMUP = 500;
const HARD_TIMEOUT_MS = 300_000;
const payload = "x".repeat(SIZE);
const rtts = new Float64Array(conns * msgs);
let recorded = 0;
let errors = 0;
let mismatches = 0;

function open(): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.onopen = () => resolve(ws);
    ws.onerror = (e) => reject(new Error(`Cannot connect to ${url}: ${(e as ErrorEvent).message}`));
  });
}

/** `n` round trips on `ws`; when `base` is not null their RTTs go to rtts[base…]. */
function pingPong(ws: WebSocket, n: number, base: number | null): Promise<void> {
  return new Promise((resolve) => {
    let i = 0;
    let sentAt = 0;
    const send = () => {
      sentAt = performance.now();
      ws.send(payload);
    };
    ws.onmessage = (e) => {
      const rtt = performance.now() - sentAt;
      if (typeof e.data !== "string" || e.data.length !== SIZE) mismatches++;
      if (base !== null) {
        rtts[base + i] = rtt;
        recorded++;
      }
      if (++i < n) send();
      else resolve();
    };
    ws.onclose = () => {
      if (i < n) errors++;
      resolve();
    };
    send();
  });
}

function report(elapsedMs: number, timedOut: boolean): void {
  const sorted = rtts.slice(0, recorded).sort();
  const pct = (p: number) =>
    sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : NaN;
  console.log(JSON.stringify({
    url,
    conns,
    msgs_per_conn: msgs,
    size: SIZE,
    total_msgs: recorded,
    elapsed_s: +(elapsedMs / 1000).toFixed(3),
    msgs_per_s: +(recorded / (elapsedMs / 1000)).toFixed(1),
    rtt_p50_ms: +pct(0.5).toFixed(4),
    rtt_p99_ms: +pct(0.99).toFixed(4),
    errors,
    mismatches,
    timed_out: timedOut,
  }));
}

let startedAt = performance.now();
const hard = setTimeout(() => {
  report(performance.now() - startedAt, true);
  Deno.exit(2);
}, HARD_TIMEOUT_MS);
const sockets = await Promise.all(Array.from({ length: conns }, open));
await Promise.all(sockets.map((ws) => pingPong(ws, WARMUP, null)));
startedAt = performance.now();
await Promise.all(sockets.map((ws, c) => pingPong(ws, msgs, c * msgs)));
report(performance.now() - startedAt, false);
clearTimeout(hard);
for (const ws of sockets) ws.close(1000);
