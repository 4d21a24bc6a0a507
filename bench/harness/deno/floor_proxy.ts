// FLOOR, not a gateway: the least a Deno.serve proxy with a pooled Deno.connect upstream can do per request.
// No header copying (a fixed request head, only Content-Type relayed), a byte-scanned response head, Content-Length
// bodies only, no timeouts, no error handling beyond a 502. What it costs per request is what Deno itself costs;
// a real gateway can only add to it. Env: PORT (9220), UPSTREAMS.
const port = Number(Deno.env.get("PORT") ?? "9220");
const upstreams = (Deno.env.get("UPSTREAMS") ?? "http://127.0.0.1:9101,http://127.0.0.1:9102").split(",").map((u) => new URL(u));
const targets = upstreams.map((u) => ({ hostname: u.hostname, port: Number(u.port), host: u.host }));
type Conn = { c: Deno.TcpConn; buf: Uint8Array };
const pools: Conn[][] = targets.map(() => []);
const enc = new TextEncoder();
const CL = "content-length".split("").map((c) => c.charCodeAt(0));
let rr = 0;

// [end of head, Content-Length], or [-1, 0] while the head is incomplete.
function scan(b: Uint8Array, n: number): [number, number] {
  let end = -1;
  for (let i = 3; i < n; i++) if (b[i] === 10 && b[i - 1] === 13 && b[i - 2] === 10 && b[i - 3] === 13) { end = i + 1; break; }
  if (end < 0) return [-1, 0];
  for (let i = 1; i < end - 16; i++) {
    if (b[i - 1] !== 10 || (b[i] | 32) !== 99) continue;
    let j = 0;
    while (j < 14 && (b[i + j] | 32) === CL[j]) j++;
    if (j < 14) continue;
    let k = i + 15, len = 0;
    while (b[k] === 32) k++;
    while (b[k] >= 48 && b[k] <= 57) len = len * 10 + b[k++] - 48;
    return [end, len];
  }
  throw new Error("no content-length");
}

async function trip(i: number, conn: Conn, head: Uint8Array): Promise<Response> {
  await conn.c.write(head);
  let n = 0, end = -1, len = 0;
  do {
    const r = await conn.c.read(conn.buf.subarray(n));
    if (r === null) throw new Error("upstream closed");
    n += r;
    if (end < 0) [end, len] = scan(conn.buf, n);
  } while (end < 0 || n < end + len);
  const body = conn.buf.slice(end, end + len);
  pools[i].push(conn);
  return new Response(body, { headers: { "content-type": "application/json" } });
}

Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, async (req) => {
  const url = req.url;
  const i = rr++ % targets.length;
  const head = enc.encode(`GET ${url.slice(url.indexOf("/", 8))} HTTP/1.1\r\nhost: ${targets[i].host}\r\n\r\n`);
  let conn = pools[i].pop();
  try {
    conn ??= { c: await Deno.connect(targets[i]), buf: new Uint8Array(16384) };
    return await trip(i, conn, head);
  } catch (err) {
    try { conn?.c.close(); } catch { /* closed */ }
    return new Response(`bad gateway: ${err}\n`, { status: 502 });
  }
});
