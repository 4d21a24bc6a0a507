/**
 * Observability audit, read as a Prometheus operator would: every exposition is checked by a strict
 * parser of text format 0.0.4 (promtool is not at hand), and the logger is fed hostile input.
 */
import assert from "node:assert/strict";
import { createGatewayMetrics } from "../../src/observe/gateway_metrics.ts";
import { createLogger, type LogLevel } from "../../src/observe/logger.ts";
import { mergeWorkerMetrics } from "../../src/observe/metrics_merge.ts";
import { MetricsRegistry, PROMETHEUS_CONTENT_TYPE } from "../../src/observe/metrics_registry.ts";
import { writeAllSync } from "../../src/observe/write_all_sync.ts";
import { fetchText, startBackend, startGateway } from "../system/harness.ts";

// ---------------------------------------------------------------------------------------------------
// A strict parser of the Prometheus text format 0.0.4.

interface Sample {
  readonly name: string;
  readonly labels: ReadonlyMap<string, string>;
  readonly value: number;
}

interface Family {
  readonly name: string;
  help?: string;
  type?: string;
  readonly samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

function parseValue(text: string, where: string): number {
  if (text === "NaN") return NaN;
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (!FLOAT.test(text)) throw new Error(`${where}: bad value ${JSON.stringify(text)}`);
  return Number(text);
}

/** Unescapes a HELP text (only `\\` and `\n` are escapes there). */
function unescapeHelp(text: string, where: string): string {
  return text.replace(/\\(.?)/g, (_, c: string) => {
    if (c === "\\") return "\\";
    if (c === "n") return "\n";
    throw new Error(`${where}: invalid escape "\\${c}" in HELP`);
  });
}

/** The family a sample name belongs to, given the family declared last. */
function owner(sample: string, current: Family | undefined): boolean {
  if (current === undefined) return false;
  const n = current.name;
  switch (current.type) {
    case "histogram":
      return sample === `${n}_bucket` || sample === `${n}_sum` || sample === `${n}_count`;
    case "summary":
      return sample === n || sample === `${n}_sum` || sample === `${n}_count`;
    default:
      return sample === n;
  }
}

function parseSample(line: string, where: string): Sample {
  const name = METRIC_NAME.exec(line)?.[0];
  if (name === undefined) throw new Error(`${where}: bad metric name in ${JSON.stringify(line)}`);
  let i = name.length;
  const labels = new Map<string, string>();
  if (line[i] === "{") {
    i++;
    while (line[i] !== "}") {
      const label = LABEL_NAME.exec(line.slice(i))?.[0];
      if (label === undefined) throw new Error(`${where}: bad label name at ${i} in ${JSON.stringify(line)}`);
      if (label.startsWith("__")) throw new Error(`${where}: reserved label name ${label}`);
      if (labels.has(label)) throw new Error(`${where}: label ${label} given twice`);
      i += label.length;
      if (line.slice(i, i + 2) !== '="') throw new Error(`${where}: expected =" after ${label}`);
      i += 2;
      let value = "";
      for (;;) {
        const c = line[i++];
        if (c === undefined) throw new Error(`${where}: unterminated label value`);
        if (c === '"') break;
        if (c === "\\") {
          const e = line[i++];
          if (e === "\\" || e === '"') value += e;
          else if (e === "n") value += "\n";
          else throw new Error(`${where}: invalid escape "\\${e}" in a label value`);
        } else value += c;
      }
      labels.set(label, value);
      if (line[i] === ",") {
        i++;
        if (line[i] === "}") throw new Error(`${where}: trailing comma in labels`);
      } else if (line[i] !== "}") throw new Error(`${where}: expected , or } at ${i}`);
    }
    i++;
  }
  if (line[i] !== " ") throw new Error(`${where}: expected one space before the value`);
  const rest = line.slice(i + 1).split(" ");
  if (rest.length > 2 || (rest.length === 2 && !/^-?\d+$/.test(rest[1]))) {
    throw new Error(`${where}: bad value or timestamp ${JSON.stringify(line.slice(i + 1))}`);
  }
  return { name, labels, value: parseValue(rest[0], where) };
}

function seriesKey(name: string, labels: ReadonlyMap<string, string>, skip?: string): string {
  const pairs = [...labels].filter(([k]) => k !== skip).sort(([a], [b]) => (a < b ? -1 : 1));
  return `${name}${JSON.stringify(pairs)}`;
}

/** Parses `text` strictly and checks the semantic rules; throws naming the first violation. */
function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  if (text === "") return families;
  if (!text.endsWith("\n")) throw new Error("the exposition must end with a line feed");
  if (text.includes("\r")) throw new Error("carriage return in the exposition");
  const closed = new Set<string>();
  const series = new Set<string>();
  let current: Family | undefined;
  const lines = text.slice(0, -1).split("\n");
  lines.forEach((line, index) => {
    const where = `line ${index + 1}`;
    if (line === "") throw new Error(`${where}: empty line`);
    const meta = /^# (HELP|TYPE) ([^ ]+)(?: (.*))?$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta;
      if (!new RegExp(`${METRIC_NAME.source}$`).test(name)) throw new Error(`${where}: bad name ${name}`);
      if (current?.name !== name) {
        if (current) closed.add(current.name);
        if (closed.has(name)) throw new Error(`${where}: family ${name} is split (not contiguous)`);
        current = families.get(name) ?? { name, samples: [] };
        families.set(name, current);
      }
      if (current.samples.length > 0) throw new Error(`${where}: ${kind} of ${name} after its samples`);
      if (kind === "HELP") {
        if (current.help !== undefined) throw new Error(`${where}: second HELP for ${name}`);
        current.help = unescapeHelp(rest ?? "", where);
      } else {
        if (current.type !== undefined) throw new Error(`${where}: second TYPE for ${name}`);
        if (!TYPES.has(rest ?? "")) throw new Error(`${where}: unknown TYPE ${rest}`);
        current.type = rest;
      }
      return;
    }
    if (line.startsWith("#")) return;
    const sample = parseSample(line, where);
    if (!owner(sample.name, current)) {
      throw new Error(`${where}: sample ${sample.name} without its own HELP and TYPE before it`);
    }
    const key = seriesKey(sample.name, sample.labels);
    if (series.has(key)) throw new Error(`${where}: duplicate series ${line}`);
    series.add(key);
    current!.samples.push(sample);
  });
  for (const family of families.values()) checkFamily(family);
  return families;
}

function checkFamily(family: Family): void {
  const { name, type, samples } = family;
  if (family.help === undefined || type === undefined) throw new Error(`${name}: HELP or TYPE missing`);
  if (samples.length === 0) throw new Error(`${name}: a family without samples`);
  if (type === "counter") {
    for (const s of samples) {
      if (!(s.value >= 0)) throw new Error(`${name}: counter value ${s.value} is negative or NaN`);
    }
  }
  if (type !== "histogram") return;
  const groups = new Map<string, { les: number[]; counts: number[]; sum?: number; count?: number }>();
  const group = (s: Sample) => {
    const key = seriesKey("", s.labels, "le");
    let g = groups.get(key);
    if (!g) groups.set(key, g = { les: [], counts: [] });
    return g;
  };
  for (const s of samples) {
    const g = group(s);
    if (s.name === `${name}_bucket`) {
      const le = s.labels.get("le");
      if (le === undefined) throw new Error(`${name}: bucket without le`);
      g.les.push(parseValue(le, `${name} le`));
      g.counts.push(s.value);
    } else {
      if (s.labels.has("le")) throw new Error(`${name}: ${s.name} carries le`);
      if (s.name.endsWith("_sum")) g.sum = s.value;
      else g.count = s.value;
    }
  }
  for (const [key, g] of groups) {
    const at = `${name}${key}`;
    if (g.les.length === 0 || g.les[g.les.length - 1] !== Infinity) throw new Error(`${at}: no le="+Inf"`);
    for (let i = 1; i < g.les.length; i++) {
      if (!(g.les[i] > g.les[i - 1])) throw new Error(`${at}: le not strictly increasing`);
      if (!(g.counts[i] >= g.counts[i - 1])) throw new Error(`${at}: buckets not cumulative`);
    }
    if (g.sum === undefined || g.count === undefined) throw new Error(`${at}: _sum or _count missing`);
    if (g.counts[g.counts.length - 1] !== g.count) throw new Error(`${at}: +Inf bucket differs from _count`);
  }
}

/** The value of one series (labels matched exactly). */
function valueOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const want = seriesKey(name, new Map(Object.entries(labels)));
  for (const family of families.values()) {
    for (const s of family.samples) if (seriesKey(s.name, s.labels) === want) return s.value;
  }
  throw new Error(`no series ${want}`);
}

function counterSeries(families: Map<string, Family>): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of families.values()) {
    if (f.type === "counter" || f.type === "histogram") {
      for (const s of f.samples) if (!s.name.endsWith("_sum")) out.set(seriesKey(s.name, s.labels), s.value);
    }
  }
  return out;
}

/** Every counter (and bucket and _count) present in both scrapes did not go down. */
function assertNoDecrease(before: Map<string, number>, after: Map<string, number>) {
  for (const [key, value] of before) {
    const now = after.get(key);
    if (now !== undefined) assert.ok(now >= value, `${key} went from ${value} to ${now}`);
  }
}

Deno.test("the strict parser refuses what Prometheus refuses", async (t) => {
  const head = "# HELP m x\n# TYPE m counter\n";
  const cases: [string, string, RegExp][] = [
    ["a second TYPE line", head + "# TYPE m counter\nm 1\n", /second TYPE/],
    ["a sample before its TYPE", "m 1\n# TYPE m counter\n", /without its own HELP/],
    ["a split family", head + "m 1\n# HELP n y\n# TYPE n gauge\nn 1\n# HELP m x\n", /not contiguous/],
    ["an invalid escape", head + 'm{a="\\t"} 1\n', /invalid escape/],
    ["a raw quote", head + 'm{a="x"y"} 1\n', /expected , or \}/],
    ["a duplicate series", head + 'm{a="1",b="2"} 1\nm{b="2",a="1"} 2\n', /duplicate series/],
    ["a negative counter", head + "m -1\n", /negative/],
    [
      "kairos-rs's non-cumulative +Inf bucket",
      '# HELP h x\n# TYPE h histogram\nh_bucket{le="100"} 5\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 6\n',
      /not cumulative/,
    ],
    [
      "a histogram without _count",
      '# HELP h x\n# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 1\n',
      /_count missing/,
    ],
    ["a bad label name", head + 'm{1a="x"} 1\n', /bad label name/],
    ["a missing final line feed", head + "m 1", /line feed/],
  ];
  for (const [name, text, error] of cases) {
    await t.step(name, () => assert.throws(() => parseExposition(text), error));
  }
});

// ---------------------------------------------------------------------------------------------------
// The registry.

const HOSTILE = ['a"b', "back\\slash", "line\nfeed", "\\n literal", '\\"', "", "ünï 🙂", "{}=,"];

Deno.test("registry output of every kind passes the strict parser, and hostile labels and HELP round-trip", () => {
  const r = new MetricsRegistry();
  const help = 'Help with \\ backslash,\nnewline and "quotes"';
  const c = r.counter("c_total", help, ["v"]);
  const g = r.gauge("g", "gauge", ["v"]);
  const h = r.histogram("h_seconds", "hist", [0.1, 1, 10], ["v"]);
  for (const v of HOSTILE) {
    c.labels(v).inc(2);
    g.labels(v).set(-1.5);
    h.labels(v).observe(0.5);
  }
  r.gaugeFn("fn_g", "fn", () => [[{ v: 'x"\\\ny' }, 1], [undefined, 2]]);
  r.counterFn("fn_c_total", "fn", () => [[undefined, 3]]);
  const families = parseExposition(r.render());
  assert.equal(families.get("c_total")?.help, help);
  assert.deepEqual(
    families.get("c_total")?.samples.map((s) => s.labels.get("v")),
    HOSTILE,
  );
  assert.deepEqual(families.get("h_seconds")?.samples.filter((s) => s.name === "h_seconds_count").length, 8);
  assert.equal(valueOf(families, "fn_g", { v: 'x"\\\ny' }), 1);
});

Deno.test("histograms stay cumulative with +Inf equal to _count for any observation, NaN left out", () => {
  const r = new MetricsRegistry();
  const h = r.histogram("lat", "x", [1, 2]).labels();
  for (const v of [-5, 0, 1, 1.5, 2, 3, Infinity, NaN, 1e300]) h.observe(v);
  const families = parseExposition(r.render());
  assert.equal(valueOf(families, "lat_bucket", { le: "1" }), 3);
  assert.equal(valueOf(families, "lat_bucket", { le: "2" }), 5);
  assert.equal(valueOf(families, "lat_bucket", { le: "+Inf" }), 8);
  assert.equal(valueOf(families, "lat_count"), 8);
  // A NaN would have landed in the lowest bucket and made _sum NaN for good; +Inf is a real sum.
  assert.equal(valueOf(families, "lat_sum"), Infinity);
});

Deno.test("NaN and infinite sample values are written as Prometheus spells them", () => {
  const r = new MetricsRegistry();
  const g = r.gauge("g", "x", ["k"]);
  g.labels("nan").set(NaN);
  g.labels("inf").set(Infinity);
  g.labels("minf").set(-Infinity);
  g.labels("big").set(1e21);
  g.labels("small").set(5e-324);
  const text = r.render();
  assert.match(text, /^g\{k="nan"\} NaN$/m);
  assert.match(text, /^g\{k="inf"\} \+Inf$/m);
  assert.match(text, /^g\{k="minf"\} -Inf$/m);
  const families = parseExposition(text);
  assert.equal(valueOf(families, "g", { k: "big" }), 1e21);
  assert.equal(valueOf(families, "g", { k: "small" }), 5e-324);
});

Deno.test("the registry refuses a family whose series would collide with a histogram's", async (t) => {
  const cases: [string, (r: MetricsRegistry) => void][] = [
    ["a counter named like a histogram's _count", (r) => {
      r.histogram("h", "x", [1]);
      r.counter("h_count", "x");
    }],
    ["a histogram over an existing _sum gauge", (r) => {
      r.gauge("h_sum", "x");
      r.histogram("h", "x", [1]);
    }],
    ["a gauge function named like _bucket", (r) => {
      r.histogram("h", "x", [1]);
      r.gaugeFn("h_bucket", "x", () => []);
    }],
  ];
  for (const [name, register] of cases) {
    await t.step(name, () => {
      assert.throws(() => register(new MetricsRegistry()), /Cannot register metric "h\w*" as .* is taken/);
    });
  }
  // Distinct names that merely share a prefix are fine: kairos_response_time and kairos_response_time_avg.
  const r = new MetricsRegistry();
  r.histogram("t", "x", [1]);
  r.gauge("t_avg", "x");
});

// ---------------------------------------------------------------------------------------------------
// The gateway's series.

const KAIROS_RS: [string, string][] = [
  ["kairos_requests_total", "counter"],
  ["kairos_requests_success_total", "counter"],
  ["kairos_requests_error_total", "counter"],
  ["kairos_http_4xx_errors_total", "counter"],
  ["kairos_http_5xx_errors_total", "counter"],
  ["kairos_timeout_errors_total", "counter"],
  ["kairos_connection_errors_total", "counter"],
  ["kairos_response_time_avg", "gauge"],
  ["kairos_response_time", "histogram"],
  ["kairos_request_bytes_total", "counter"],
  ["kairos_response_bytes_total", "counter"],
  ["kairos_success_rate", "gauge"],
  ["kairos_active_connections", "gauge"],
  ["kairos_peak_connections", "gauge"],
  ["kairos_uptime_seconds", "counter"],
  ["kairos_circuit_breaker_state", "gauge"],
  ["kairos_circuit_breaker_failures", "counter"],
  ["kairos_circuit_breaker_successes", "counter"],
];

function busyGateway(route: string, backend: string) {
  const registry = new MetricsRegistry();
  const metrics = createGatewayMetrics(registry);
  const rec = metrics.routeRecorder(route);
  for (const [method, status, ms] of [["GET", 200, 3], ["POST", 502, 7000], ["BREW", 418, 120]] as const) {
    metrics.requestStarted();
    rec.record(method, status, ms, 10, 20);
    metrics.requestFinished();
  }
  rec.retry();
  rec.rateLimited();
  rec.authFailure("expired");
  const b = metrics.backendRecorder(backend);
  b.attempt("timeout");
  b.attempt("connect_error");
  b.breakerState("half_open");
  b.breakerFailures.inc();
  metrics.configReload("success");
  return { registry, metrics, rec };
}

Deno.test("gateway series are valid, carry every kairos-rs name and type, with hostile route and backend names", () => {
  const route = '/a"b\\c\nd/{id}';
  const backend = 'http://h"x\\y:1';
  const { registry } = busyGateway(route, backend);
  const families = parseExposition(registry.render());
  for (const [name, type] of KAIROS_RS) assert.equal(families.get(name)?.type, type, name);
  assert.deepEqual(
    families.get("kairos_response_time")?.samples.filter((s) => s.name.endsWith("_bucket")).map((s) =>
      s.labels.get("le")
    ),
    ["100", "500", "1000", "5000", "+Inf"],
  );
  assert.equal(valueOf(families, "kairos_response_time_bucket", { le: "+Inf" }), 3);
  assert.equal(valueOf(families, "kairos_circuit_breaker_state", { service: backend }), 2);
  assert.equal(
    valueOf(families, "kairos_http_requests_total", { route, method: "OTHER", status_class: "4xx" }),
    1,
  );
});

Deno.test("removing a route drops its labelled series while the kairos-rs totals never decrease", () => {
  const { registry, metrics, rec } = busyGateway("/gone", "http://127.0.0.1:1");
  const before = parseExposition(registry.render());
  metrics.removeRoute("/gone");
  rec.record("GET", 200, 1, 0, 0); // an in-flight request of the old snapshot finishing
  const after = parseExposition(registry.render());
  assertNoDecrease(counterSeries(before), counterSeries(after));
  for (const family of after.values()) {
    for (const s of family.samples) assert.notEqual(s.labels.get("route"), "/gone", `${s.name} kept /gone`);
  }
  assert.equal(valueOf(after, "kairos_requests_total"), 4);
});

Deno.test("a request of a removed route with a method or auth failure not seen before does not bring its series back", () => {
  const { registry, metrics, rec } = busyGateway("/gone", "http://127.0.0.1:1");
  metrics.removeRoute("/gone");
  rec.record("PUT", 200, 1, 0, 0);
  rec.authFailure("missing");
  assert.doesNotMatch(registry.render(), /route="\/gone"/);
  assert.equal(valueOf(parseExposition(registry.render()), "kairos_requests_total"), 4);
  // The route coming back in a later reload starts afresh under its own recorder.
  metrics.routeRecorder("/gone").record("PUT", 200, 1, 0, 0);
  const families = parseExposition(registry.render());
  assert.equal(
    valueOf(families, "kairos_http_requests_total", { route: "/gone", method: "PUT", status_class: "2xx" }),
    1,
  );
});

// ---------------------------------------------------------------------------------------------------
// Merging several workers' /metrics.

Deno.test("merged worker output is valid: one header per family, per-worker histograms, one-worker families", () => {
  const w0 = busyGateway("/a", "http://127.0.0.1:1").registry.render();
  const w1 = busyGateway("/b", "http://127.0.0.1:2").registry.render();
  const extra = new MetricsRegistry();
  extra.gauge("only_two", "only worker 2 has it").labels().set(1);
  extra.histogram("kairos_response_time", "Response time distribution in milliseconds", [
    100,
    500,
    1000,
    5000,
  ])
    .labels().observe(50);
  const merged = mergeWorkerMetrics([
    { worker: "0", text: w0 },
    { worker: "1", text: w1 },
    { worker: "2", text: extra.render() },
  ]);
  const families = parseExposition(merged);
  assert.equal(valueOf(families, "only_two", { worker: "2" }), 1);
  for (const worker of ["0", "1"]) {
    assert.equal(valueOf(families, "kairos_requests_total", { worker }), 3);
    assert.equal(valueOf(families, "kairos_response_time_bucket", { worker, le: "+Inf" }), 3);
  }
  assert.equal(valueOf(families, "kairos_response_time_count", { worker: "2" }), 1);
  assert.equal(merged.match(/^# TYPE kairos_response_time /gm)?.length, 1);
  for (const family of families.values()) {
    for (const s of family.samples) assert.ok(s.labels.has("worker"), `${s.name} lacks worker`);
  }
});

Deno.test("a worker that types a family otherwise is left out of that family, keeping the merge valid", () => {
  const a = "# HELP x X\n# TYPE x gauge\nx 1\n# HELP y Y\n# TYPE y counter\ny 1\n";
  const b = '# TYPE x histogram\n# HELP x X\nx_bucket{le="+Inf"} 1\nx_sum 1\nx_count 1\n# HELP y Y\n' +
    "# TYPE y counter\ny 2\n";
  const families = parseExposition(mergeWorkerMetrics([{ worker: "0", text: a }, { worker: "1", text: b }]));
  assert.equal(families.get("x")?.type, "gauge");
  assert.deepEqual(families.get("x")?.samples.map((s) => s.labels.get("worker")), ["0"]);
  assert.equal(valueOf(families, "y", { worker: "1" }), 2);
});

Deno.test("worker names are escaped like any label value", () => {
  const text = "# HELP m M\n# TYPE m counter\nm 1\n";
  const worker = 'w"1\\\n';
  const families = parseExposition(mergeWorkerMetrics([{ worker, text }, { worker: "2", text }]));
  assert.equal(valueOf(families, "m", { worker }), 1);
});

Deno.test("a restarted worker restarts its counters under the same worker label; the others never decrease", () => {
  const w0 = busyGateway("/a", "http://127.0.0.1:1");
  const w1 = busyGateway("/a", "http://127.0.0.1:1");
  const scrape = (one: MetricsRegistry) =>
    parseExposition(mergeWorkerMetrics([
      { worker: "0", text: w0.registry.render() },
      { worker: "1", text: one.render() },
    ]));
  const before = scrape(w1.registry);
  w0.rec.record("GET", 200, 1, 0, 0);
  const restarted = new MetricsRegistry();
  createGatewayMetrics(restarted);
  const after = scrape(restarted);
  // The same series going down is a counter reset, which rate() and increase() absorb.
  assert.equal(valueOf(after, "kairos_requests_total", { worker: "1" }), 0);
  const worker0 = (m: Map<string, number>) => new Map([...m].filter(([k]) => k.includes('["worker","0"]')));
  assertNoDecrease(worker0(counterSeries(before)), worker0(counterSeries(after)));
  assert.equal(valueOf(after, "kairos_requests_total", { worker: "0" }), 4);
});

// ---------------------------------------------------------------------------------------------------
// The logger.

/** Kills `child` if it is still running after `ms`, so a hung subprocess cannot hang the suite. */
function killAfter(child: Deno.ChildProcess, ms: number): ReturnType<typeof setTimeout> {
  return setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, ms);
}

function capture(level: LogLevel, format: "json" | "pretty") {
  const lines: string[] = [];
  return { log: createLogger({ level, format, write: (l) => lines.push(l), color: false }), lines };
}

Deno.test("json lines stay single valid lines that round-trip hostile strings", async (t) => {
  const cases = [
    'quote " and backslash \\',
    "line\nfeed\rreturn",
    "nul \0 bell \x07 esc \x1b[31m",
    "del \x7f c1 \x85 \x9b",
    "separators \u2028 \u2029",
    "lone surrogate \ud800 and \udfff",
    '{"json":"inside"}',
    "🙂 ünï",
  ];
  for (const text of cases) {
    await t.step(JSON.stringify(text), () => {
      const { log, lines } = capture("info", "json");
      log.info(text, { [text]: text, nested: [text, { k: text }] });
      assert.equal(lines.length, 1);
      assert.ok(!/[\n\r]/.test(lines[0]));
      const record = JSON.parse(lines[0]);
      assert.equal(record.msg, text);
      assert.equal(record[text], text);
      assert.deepEqual(record.nested, [text, { k: text }]);
    });
  }
});

Deno.test("json lines keep every field when one is circular, and shared objects are not mistaken for cycles", () => {
  const { log, lines } = capture("info", "json");
  const shared = { s: 1 };
  const loop: Record<string, unknown> = { shared, again: shared };
  loop.self = loop;
  log.error("oops", { request_id: "r1", loop, list: [loop] });
  const record = JSON.parse(lines[0]);
  assert.equal(record.msg, "oops");
  assert.equal(record.request_id, "r1");
  assert.deepEqual(record.loop, { shared: { s: 1 }, again: { s: 1 }, self: "[Circular]" });
  assert.deepEqual(record.list, [{ shared: { s: 1 }, again: { s: 1 }, self: "[Circular]" }]);
});

Deno.test("json lines show an error's cause chain, bounded when it loops", () => {
  const { log, lines } = capture("info", "json");
  const root = new Error("connect refused", { cause: { code: "ECONNREFUSED" } });
  const err = new Error("Cannot reach backend", { cause: new TypeError("fetch failed", { cause: root }) });
  const self = new Error("self");
  self.cause = self;
  log.error("failed", { err, self });
  const record = JSON.parse(lines[0]);
  assert.deepEqual(record.err, {
    name: "Error",
    message: "Cannot reach backend",
    cause: {
      name: "TypeError",
      message: "fetch failed",
      cause: { name: "Error", message: "connect refused", cause: { code: "ECONNREFUSED" } },
    },
  });
  let depth = 0;
  for (let e = record.self; typeof e === "object"; e = e.cause) depth++;
  assert.ok(depth > 1 && depth < 20, `self-cause depth ${depth}`);
});

Deno.test("json lines stay bounded with huge fields and keep the message", () => {
  const { log, lines } = capture("info", "json");
  const huge = "x".repeat(1_000_000);
  log.info("one huge field", { body: huge, id: 7 });
  log.info(
    "many fields",
    Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, "y".repeat(1000)])),
  );
  log.info(huge);
  for (const line of lines) assert.ok(line.length < 64 * 1024, `line of ${line.length}`);
  const [one, many, msg] = lines.map((l) => JSON.parse(l));
  assert.equal(one.id, 7);
  assert.ok(one.body.startsWith("xxx") && one.body.endsWith("more characters]"));
  assert.equal(many.msg, "many fields");
  assert.match(many.log_error, /fields dropped/);
  assert.ok(msg.msg.startsWith("xxx"));
});

Deno.test("levels filter as ordered: debug < info < warn < error", async (t) => {
  const order: LogLevel[] = ["debug", "info", "warn", "error"];
  for (const level of order) {
    await t.step(level, () => {
      const { log, lines } = capture(level, "json");
      for (const l of order) log[l](l);
      const expected = order.slice(order.indexOf(level));
      assert.deepEqual(lines.map((line) => JSON.parse(line).level), expected);
      assert.deepEqual(order.map((l) => log.enabled(l)), order.map((l) => expected.includes(l)));
    });
  }
});

Deno.test("pretty lines cannot be forged or recoloured by a message, a key or a value", () => {
  const { log, lines } = capture("debug", "pretty");
  log.info("first\n12:00:00.000 ERROR forged", {
    "k ey=x\nERROR": "v",
    ansi: "\x1b[31mred",
    csi: "\x9b31m",
    nl: "a\nb",
  });
  assert.equal(lines.length, 1);
  assert.ok(!/\p{Cc}/u.test(lines[0]), JSON.stringify(lines[0]));
  assert.match(lines[0], / INFO {2}"first\\n12:00:00\.000 ERROR forged" "k ey=x\\nERROR"=v /);
  assert.match(lines[0], / ansi="\\u001b\[31mred" csi="\\u009b31m" nl="a\\nb"$/);
});

Deno.test("a logger whose sink throws does not throw into its caller", () => {
  for (const format of ["json", "pretty"] as const) {
    const log = createLogger({
      level: "debug",
      format,
      write: () => {
        throw new Deno.errors.BrokenPipe("Broken pipe (os error 32)");
      },
    });
    log.error("x", { a: 1 });
  }
});

Deno.test({
  name: "logging to a stderr whose reader is gone neither throws nor kills the process",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const logger = new URL("../../src/observe/logger.ts", import.meta.url).href;
    const script = await Deno.makeTempFile({ suffix: ".ts" });
    try {
      await Deno.writeTextFile(
        script,
        `import { createLogger } from ${JSON.stringify(logger)};
const log = createLogger({ level: "info", format: "json" });
await new Promise((r) => setTimeout(r, 300));
log.info("after the reader left");
console.log("survived");`,
      );
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", script],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const deadline = killAfter(child, 30_000);
      try {
        await child.stderr.cancel();
        const out = await new Response(child.stdout).text();
        const status = await child.status;
        assert.equal(out, "survived\n");
        assert.equal(status.code, 0);
      } finally {
        clearTimeout(deadline);
      }
    } finally {
      await Deno.remove(script);
    }
  },
});

// ---------------------------------------------------------------------------------------------------
// writeAllSync.

Deno.test("writeAllSync() finishes partial writes, splits on line breaks within 4 KiB, and never spins", () => {
  const line = "z".repeat(99) + "\n";
  const text = line.repeat(200) + "w".repeat(9000) + "\n" + line;
  const bytes = new TextEncoder().encode(text);
  const writes: Uint8Array[] = [];
  writeAllSync({ writeSync: (p) => (writes.push(p.slice(0, 1000)), Math.min(p.length, 1000)) }, bytes);
  assert.equal(new TextDecoder().decode(new Uint8Array(writes.flatMap((w) => [...w]))), text);

  const chunks: string[] = [];
  writeAllSync({ writeSync: (p) => (chunks.push(new TextDecoder().decode(p)), p.length) }, bytes);
  assert.equal(chunks.join(""), text);
  for (const chunk of chunks) {
    assert.ok(chunk.endsWith("\n"), "a chunk ends on a line break");
    assert.ok(
      chunk.length <= 4096 || !chunk.slice(0, -1).includes("\n"),
      "only a lone long line passes 4 KiB",
    );
  }
  assert.throws(() => writeAllSync({ writeSync: () => 0 }, bytes), /Cannot write \d+ bytes/);
});

Deno.test({
  name: "two processes writing big batches into one pipe never interleave within a line",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const writer = new URL("../../src/observe/write_all_sync.ts", import.meta.url).href;
    const script = await Deno.makeTempFile({ suffix: ".ts" });
    try {
      await Deno.writeTextFile(
        script,
        `import { writeAllSync } from ${JSON.stringify(writer)};
const id = Deno.args[0];
const encoder = new TextEncoder();
for (let b = 0; b < 100; b++) {
  let batch = "";
  for (let i = 0; i < 300; i++) batch += JSON.stringify({ id, b, i, pad: "x".repeat(150) }) + "\\n";
  writeAllSync(Deno.stdout, encoder.encode(batch));
}`,
      );
      const deno = Deno.execPath();
      const child = new Deno.Command("sh", {
        args: ["-c", `"${deno}" run -A "${script}" A & "${deno}" run -A "${script}" B & wait`],
        stdin: "null",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const deadline = killAfter(child, 30_000);
      let text: string;
      try {
        // A late reader lets the pipe fill, so both writers block mid-batch: the racy case.
        await new Promise((r) => setTimeout(r, 400));
        text = await new Response(child.stdout).text();
        assert.equal((await child.status).code, 0);
      } finally {
        clearTimeout(deadline);
      }
      const lines = text.split("\n").filter((l) => l !== "");
      assert.equal(lines.length, 2 * 100 * 300);
      const broken = lines.filter((l) => {
        try {
          JSON.parse(l);
          return false;
        } catch {
          return true;
        }
      });
      assert.deepEqual(broken.slice(0, 1), []);
    } finally {
      await Deno.remove(script);
    }
  },
});

// ---------------------------------------------------------------------------------------------------
// The real process.

function twoRoutes(a: { port: number }, b: { port: number } | undefined, admin = true) {
  const route = (path: string, port: number) => ({
    external_path: `${path}/{*rest}`,
    internal_path: "/{rest}",
    methods: ["GET", "POST"],
    backends: [{ host: "http://127.0.0.1", port, weight: 1 }],
  });
  return {
    version: 1,
    admin: { enabled: admin },
    routers: [route("/a", a.port), ...(b ? [route("/b", b.port)] : [])],
  };
}

Deno.test({
  name: "the real /metrics is valid before and after a reload that removes a route; counters never decrease",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    await using a = startBackend(() => new Response("a"));
    await using b = startBackend(() => new Response("b"));
    await using gw = await startGateway(twoRoutes(a, b), { admin: true, env: { KAIROS_WATCH_CONFIG: "0" } });
    for (const path of ["/a/1", "/a/2", "/b/1", "/nope"]) await fetchText(`${gw.url}${path}`);
    const first = await fetchText(`${gw.adminUrl}/metrics`);
    assert.equal(first.headers.get("content-type"), PROMETHEUS_CONTENT_TYPE);
    const before = parseExposition(first.body);
    for (const [name, type] of KAIROS_RS) assert.equal(before.get(name)?.type, type, name);
    assert.ok(
      valueOf(before, "kairos_http_requests_total", {
        route: "/b/{*rest}",
        method: "GET",
        status_class: "2xx",
      }) === 1,
    );

    await Deno.writeTextFile(gw.configPath, JSON.stringify(twoRoutes(a, undefined)));
    gw.process.kill("SIGHUP");
    await gw.waitForOutput(/"msg":"config reloaded"/);
    await fetchText(`${gw.url}/a/3`);
    const after = parseExposition((await fetchText(`${gw.adminUrl}/metrics`)).body);
    assertNoDecrease(counterSeries(before), counterSeries(after));
    for (const family of after.values()) {
      for (const s of family.samples) assert.notEqual(s.labels.get("route"), "/b/{*rest}", s.name);
    }
    assert.equal(valueOf(after, "kairos_config_reloads_total", { result: "success" }), 1);
    assert.equal(await gw.stop(), 0);
  },
});

Deno.test({
  name: "with workers, the merged /metrics is valid and stays so across a worker restart",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    await using a = startBackend(() => new Response("a"));
    await using gw = await startGateway(twoRoutes(a, undefined, false), { args: ["--workers", "2"] });
    await gw.waitForOutput(/"msg":"listening","worker":1/);
    for (let i = 0; i < 10; i++) await fetchText(`${gw.url}/a/${i}`, { headers: { connection: "close" } });
    const before = parseExposition((await fetchText(`${gw.url}/metrics`)).body);
    assert.deepEqual(
      before.get("kairos_requests_total")?.samples.map((s) => s.labels.get("worker")),
      ["0", "1"],
    );
    const pid = Number(/"msg":"worker started","worker":1,"pid":(\d+)/.exec(gw.output())?.[1]);
    Deno.kill(pid, "SIGKILL");
    await gw.waitForOutput(/"msg":"worker exited; restarting it"[\s\S]*"msg":"listening","worker":1/);
    const after = parseExposition((await fetchText(`${gw.url}/metrics`)).body);
    const worker0 = (m: Map<string, number>) => new Map([...m].filter(([k]) => k.includes('["worker","0"]')));
    assertNoDecrease(worker0(counterSeries(before)), worker0(counterSeries(after)));
    assert.equal(await gw.stop(), 0);
  },
});
