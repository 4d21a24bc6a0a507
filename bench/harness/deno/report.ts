// Aggregates bench/run.sh samples into markdown (medians over repetitions, ratios to nginx-w1).
// Usage: deno run --allow-read --allow-write report.ts samples.tsv sanity.tsv meta.json out.md [tsv-name]
const [samplesPath, sanityPath, metaPath, outPath, tsvName] = Deno.args;

type Row = Record<string, string>;
const readTsv = (p: string): Row[] => {
  const [head, ...lines] = Deno.readTextFileSync(p).trim().split("\n");
  const cols = head.split("\t");
  return lines.filter((l) => l.trim()).map((l) => {
    const v = l.split("\t");
    return Object.fromEntries(cols.map((c, i) => [c, v[i] ?? ""]));
  });
};
const samples = readTsv(samplesPath);
const sanity = readTsv(sanityPath);
const meta = JSON.parse(Deno.readTextFileSync(metaPath));

const median = (xs: number[]) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const num = (r: Row, k: string) => Number(r[k]);
const fmtInt = (x: number) => Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "–";
const fmt = (x: number, d = 2) => Number.isFinite(x) ? x.toFixed(d) : "–";
const fmtRatio = (r: number) => Number.isFinite(r) ? `${r.toFixed(2)}×` : "–";
// Ratios are PAIRED: target/baseline within each repetition, then the median over repetitions. Samples of one
// repetition are minutes apart at most, so slow drift of the shared host cancels out better than medians/medians.
const cpuPerReq = (r: Row) => num(r, "requests") > 0 ? num(r, "cpu_s") * 1e6 / num(r, "requests") : NaN;
const METRIC: Record<string, (r: Row) => number> = {
  rate: (r) => num(r, "rps"), p50: (r) => num(r, "p50_ms"), p99: (r) => num(r, "p99_ms"),
  cpuPerReq, rss: (r) => num(r, "rss_kb"),
};
function paired(rows: Row[], base: Row[], metric: string): number {
  const f = METRIC[metric];
  const rs = rows.map((r) => {
    const b = base.find((x) => x.rep === r.rep);
    return b && f(b) > 0 ? f(r) / f(b) : NaN;
  }).filter(Number.isFinite);
  return median(rs);
}

const PIN: Record<string, string> = {};
for (const t of String(meta.targets).split(" ")) {
  PIN[t] = ["nginx-auto", "deno-naive-par"].includes(t) ? `all (${meta.all_cpus})` : t === "direct" ? "–" : `cpu${meta.proxy_cpu}`;
}
const DESC: Record<string, string> = {
  "direct": "wrk → backend, no proxy (limit of the client+backend core)",
  "nginx-w1": "nginx, worker_processes 1, upstream keepalive (BASELINE)",
  "nginx-auto": "nginx, worker_processes auto (2), unpinned",
  "haproxy": "haproxy 1 thread",
  "caddy": "caddy reverse_proxy (GOMAXPROCS=1 via affinity)",
  "deno-naive": "Deno.serve + fetch, ~30 lines (the FLOOR)",
  "deno-naive-par": "deno-naive's handler under `deno serve --parallel` (one isolate per CPU), unpinned",
  "deno-hono": "same proxy code routed by Hono",
  "deno-hono-local": "Hono route answering the 1 KiB body itself (same process as deno-hono), no proxying",
  "deno-hello": "Deno.serve returning \"hello\" (5 B), no proxying: raw Deno.serve ceiling",
  "deno-hello-1k": "Deno.serve returning the same 1 KiB body itself, no proxying (CEILING for a gateway relaying it)",
  "deno-rawtcp-exp": "EXPERIMENT: naive proxy with fetch() swapped for a hand-rolled pooled HTTP/1.1 client on Deno.connect",
  "deno-floor": "FLOOR (Kairos addition): Deno.serve + pooled Deno.connect doing the least possible per request (fixed head, one header relayed)",
  "gateway": "project gateway ($GATEWAY_CMD)",
  "gateway-1k": "project gateway with 1,000 configured routes",
  "gateway-policies": "project gateway with JWT HS256 + a rate limit that never triggers + one header transformation",
  "gateway-fetch": "project gateway with the fetch upstream client",
};

interface Agg {
  target: string; n: number; rate: number; rates: number[]; p50: number; p99: number; cpu: number; cpuPerReq: number;
  rss: number; lg: number; px: number; steal: number; otherMed: number; otherMax: number; errors: number; upconns: number;
}
function aggregate(rows: Row[]): Agg {
  const rates = rows.map((r) => num(r, "rps"));
  return {
    target: rows[0].target, n: rows.length, rates, rate: median(rates),
    p50: median(rows.map((r) => num(r, "p50_ms"))), p99: median(rows.map((r) => num(r, "p99_ms"))),
    cpu: median(rows.map((r) => num(r, "cpu_s"))),
    cpuPerReq: median(rows.map(cpuPerReq)),
    rss: median(rows.map((r) => num(r, "rss_kb") / 1024)),
    lg: median(rows.map((r) => num(r, "lg_core_pct"))), px: median(rows.map((r) => num(r, "px_core_pct"))),
    steal: median(rows.map((r) => num(r, "steal_pct"))),
    otherMed: median(rows.map((r) => num(r, "other_pct"))), otherMax: Math.max(...rows.map((r) => num(r, "other_pct"))),
    errors: rows.reduce((a, r) => a + num(r, "errors"), 0), upconns: median(rows.map((r) => num(r, "upstream_conns"))),
  };
}

const out: string[] = [];
const p = (s = "") => out.push(s);
p(`# Gateway peer baseline — ${meta.stamp} (${meta.mode})`);
p();
p(`Machine: ${meta.ncpu} × ${meta.cpu}, kernel ${meta.kernel}. ${meta.deno}; ${meta.nginx}; ${meta.haproxy}; ` +
  `caddy ${meta.caddy}; ${meta.wrk}; hono ${meta.hono}.`);
p();
p(`Method: ${meta.reps} interleaved repetition(s) (target order rotated each repetition), ` +
  `wrk -t1 -d${meta.duration_s}s --latency at c ∈ {${meta.concs}}, each preceded by a ${meta.warmup_s}s warm-up at the same ` +
  `concurrency (plus one initial warm-up per target). Pinning: load generator cpu${meta.loadgen_cpu}, backend nginx ` +
  `(1 worker, both ports) cpu${meta.backend_cpu}, proxy under test cpu${meta.proxy_cpu} unless marked "all". Figures are medians; ` +
  `(×) = ratio to nginx-w1 from the same run, paired per repetition (median of the per-repetition ratios). Body: fixed 1024-byte JSON, GET /api/bench (deno-hello: GET /hello). Run took ${meta.elapsed_s}s ` +
  `(of which ${meta.quiet_wait_s}s waiting for other tenants' load to drop; ${meta.retried} sample(s) re-measured because ` +
  `other tenants used ≥${meta.retry_pct}% of the CPUs during them).`);
p();
p("Columns: **CPU s** = proxy process tree user+sys CPU during the measured window; **µs/req** = that divided by requests " +
  "(efficiency, robust to noise); **RSS** = peak VmHWM summed over the proxy's processes during the window (reset before it); " +
  "**lg/px core %** = busy % of the load-generator core / proxy core; **steal/other %** = hypervisor steal and CPU used by " +
  "processes not started by the harness (of all cores), median/max; **up-conns** = new TCP connections the backend accepted " +
  "during the window (≈0 means the proxy reuses upstream connections); **spread** = (max−min)/median of the rate.");
p();

const kinds = [...new Set(samples.map((r) => `${r.kind}|${r.conc}`))];
const flagged: string[] = [];
for (const kc of kinds) {
  const [kind, conc] = kc.split("|");
  const rows = samples.filter((r) => r.kind === kind && r.conc === conc);
  const targets = [...new Set(rows.map((r) => r.target))];
  const byT = new Map(targets.map((t) => [t, rows.filter((r) => r.target === t)]));
  const aggs = new Map(targets.map((t) => [t, aggregate(byT.get(t)!)]));
  const baseRows = byT.get("nginx-w1") ?? [], naiveRows = byT.get("deno-naive") ?? [];
  const unit = kind === "ws" ? "msg/s" : "req/s";
  if (kind === "http") p(`## HTTP GET through proxy, ${conc} connections`);
  else p(`## WebSocket echo round trips, ${conc} connections × ${meta.ws_msgs} msgs (${meta.ws_size} B, 1 in flight per connection)`);
  p();
  p(`| target | cores | ${unit} (×nginx1) | ×naive | spread | p50 ms (×) | p99 ms (×) | CPU s | µs/${kind === "ws" ? "msg" : "req"} (×) | RSS MiB (×) | lg/px core % | steal/other % | err | up-conns |`);
  p("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
  for (const t of targets) {
    const a = aggs.get(t)!, tr = byT.get(t)!;
    const ratio = (_x: number, m: string) => fmtRatio(paired(tr, baseRows, m));
    const spread = a.n > 1 ? `${fmt(100 * (Math.max(...a.rates) - Math.min(...a.rates)) / a.rate, 0)}%` : "–";
    const isProxyless = t === "direct";
    p(`| ${t === "nginx-w1" ? "**nginx-w1**" : t} | ${PIN[t] ?? "?"} | ${fmtInt(a.rate)} (${ratio(a.rate, "rate")}) | ` +
      `${fmtRatio(paired(tr, naiveRows, "rate"))} | ${spread} | ${fmt(a.p50, 3)} (${ratio(a.p50, "p50")}) | ` +
      `${fmt(a.p99, 3)} (${ratio(a.p99, "p99")}) | ${isProxyless ? "–" : fmt(a.cpu)} | ` +
      `${isProxyless ? "–" : `${fmt(a.cpuPerReq, 1)} (${ratio(a.cpuPerReq, "cpuPerReq")})`} | ` +
      `${isProxyless ? "–" : `${fmt(a.rss, 1)} (${ratio(a.rss, "rss")})`} | ${fmt(a.lg, 0)}/${fmt(a.px, 0)} | ` +
      `${fmt(a.steal, 0)}/${fmt(a.otherMed, 0)}–${fmt(a.otherMax, 0)} | ${a.errors} | ${fmt(a.upconns, 0)} |`);
  }
  p();
  for (const r of rows) {
    if (num(r, "errors") > 0 || num(r, "other_pct") >= 10) {
      flagged.push(`${r.kind} ${r.target} c=${r.conc} rep ${r.rep}: errors=${r.errors}, other tenants' CPU=${r.other_pct}%`);
    }
  }
}

p("## Target legend");
p();
for (const t of String(meta.targets).split(" ")) p(`- **${t}** — ${DESC[t] ?? t}`);
p();
p("## Protocol sanity (4 sequential GETs per target before the load)");
p();
p("| target | status | response framing | body bytes | X-Backend seen | Server | processes |");
p("|---|---|---|--:|---|---|--:|");
for (const s of sanity) {
  p(`| ${s.target} | ${s.status} | ${s.framing} | ${s.body_bytes} | ${s.backends_seen} | ${s.server} | ${s.pids} |`);
}
p();
p("## Samples flagged as noisy (errors, or ≥10% CPU used by other tenants)");
p();
p(flagged.length ? flagged.map((f) => `- ${f}`).join("\n") : "- none");
p();
if (tsvName) p(`Raw per-sample data: \`${tsvName}\` (same directory).`);
if (meta.gateway_cmd) p(`\nGATEWAY_CMD: \`${meta.gateway_cmd}\``);

const md = out.join("\n") + "\n";
Deno.writeTextFileSync(outPath, md);
console.log(md);
