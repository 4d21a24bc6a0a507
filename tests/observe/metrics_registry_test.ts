import assert from "node:assert/strict";
import { MetricsRegistry, PROMETHEUS_CONTENT_TYPE } from "../../src/observe/metrics_registry.ts";

Deno.test("PROMETHEUS_CONTENT_TYPE is text format 0.0.4", () => {
  assert.equal(PROMETHEUS_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
});

Deno.test("render() prints HELP and TYPE once per family and groups samples under it", () => {
  const r = new MetricsRegistry();
  const c = r.counter("a_total", "Things counted", ["k"]);
  const g = r.gauge("b", "A level");
  c.labels("x").inc();
  g.labels().set(-2.5);
  c.labels("y").inc(3);
  c.labels("x").inc();
  assert.equal(
    r.render(),
    [
      "# HELP a_total Things counted",
      "# TYPE a_total counter",
      'a_total{k="x"} 2',
      'a_total{k="y"} 3',
      "# HELP b A level",
      "# TYPE b gauge",
      "b -2.5",
      "",
    ].join("\n"),
  );
});

Deno.test("render() escapes label values and HELP text", () => {
  const r = new MetricsRegistry();
  r.counter("e_total", 'Help with \\ and\nnewline and "quotes"', ["v"]).labels('a\\b"c\nd').inc();
  assert.equal(
    r.render(),
    '# HELP e_total Help with \\\\ and\\nnewline and "quotes"\n# TYPE e_total counter\n' +
      'e_total{v="a\\\\b\\"c\\nd"} 1\n',
  );
});

Deno.test("render() writes histograms with cumulative buckets, +Inf, _sum and _count", () => {
  const r = new MetricsRegistry();
  const h = r.histogram("lat", "Latency", [0.1, 1, 5], ["route"]);
  const child = h.labels("/a");
  for (const v of [0.05, 0.1, 0.5, 3, 9]) child.observe(v);
  r.histogram("empty_h", "Unlabelled", [1]);
  assert.equal(
    r.render(),
    [
      "# HELP lat Latency",
      "# TYPE lat histogram",
      'lat_bucket{route="/a",le="0.1"} 2',
      'lat_bucket{route="/a",le="1"} 3',
      'lat_bucket{route="/a",le="5"} 4',
      'lat_bucket{route="/a",le="+Inf"} 5',
      'lat_sum{route="/a"} 12.65',
      'lat_count{route="/a"} 5',
      "# HELP empty_h Unlabelled",
      "# TYPE empty_h histogram",
      'empty_h_bucket{le="1"} 0',
      'empty_h_bucket{le="+Inf"} 0',
      "empty_h_sum 0",
      "empty_h_count 0",
      "",
    ].join("\n"),
  );
});

Deno.test("render() omits labelled families without children but keeps unlabelled ones at 0", () => {
  const r = new MetricsRegistry();
  r.counter("labelled_total", "L", ["x"]);
  r.counter("plain_total", "P");
  assert.equal(r.render(), "# HELP plain_total P\n# TYPE plain_total counter\nplain_total 0\n");
});

Deno.test("render() formats special values as the text format wants", () => {
  const r = new MetricsRegistry();
  const g = r.gauge("s", "S", ["v"]);
  g.labels("nan").set(NaN);
  g.labels("pinf").set(Infinity);
  g.labels("ninf").set(-Infinity);
  assert.match(r.render(), /s\{v="nan"\} NaN\ns\{v="pinf"\} \+Inf\ns\{v="ninf"\} -Inf\n$/);
});

Deno.test("labels() returns the same cached child for the same values", () => {
  const r = new MetricsRegistry();
  const f = r.counter("c_total", "C", ["a", "b"]);
  const child = f.labels("1", "2");
  assert.equal(f.labels("1", "2"), child);
  assert.notEqual(f.labels("12", ""), child);
  assert.notEqual(f.labels("2", "1"), child);
  assert.deepEqual(child.labelValues, ["1", "2"]);
});

Deno.test("labels() rejects the wrong number of values", () => {
  const f = new MetricsRegistry().counter("c_total", "C", ["a", "b"]);
  assert.throws(() => f.labels("1"), /Cannot resolve labels of metric "c_total" as it takes 2 values/);
});

Deno.test("gauge children set, inc and dec", () => {
  const g = new MetricsRegistry().gauge("g", "G").labels();
  g.set(5);
  g.inc();
  g.dec(3);
  assert.equal(g.value, 3);
});

Deno.test("remove() drops only children matching every given label", () => {
  const r = new MetricsRegistry();
  const f = r.counter("u_total", "U", ["backend", "outcome"]);
  f.labels("a", "ok").inc();
  f.labels("a", "err").inc();
  f.labels("b", "ok").inc();
  assert.equal(f.remove({ backend: "a" }), 2);
  assert.equal(r.render(), '# HELP u_total U\n# TYPE u_total counter\nu_total{backend="b",outcome="ok"} 1\n');
  assert.equal(f.labels("a", "ok").value, 0, "a removed child starts again from 0");
  assert.throws(() => f.remove({ service: "a" }), /has no label "service"/);
});

Deno.test("gaugeFn() and counterFn() compute samples at scrape time", () => {
  const r = new MetricsRegistry();
  let n = 1;
  r.gaugeFn("live", "Live", () => [[undefined, n], [{ k: 'q"' }, n * 2]]);
  r.counterFn("up_total", "Up", () => [[undefined, 7]]);
  n = 4;
  assert.equal(
    r.render(),
    '# HELP live Live\n# TYPE live gauge\nlive 4\nlive{k="q\\""} 8\n# HELP up_total Up\n# TYPE up_total counter\nup_total 7\n',
  );
});

Deno.test("registration rejects bad names, reserved labels, duplicates and bad buckets", async (t) => {
  const cases: [string, (r: MetricsRegistry) => unknown, RegExp][] = [
    ["a metric name with a dash", (r) => r.counter("bad-name", "x"), /its name must match/],
    ["a label starting with __", (r) => r.counter("ok", "x", ["__x"]), /label names must match/],
    ["le on a histogram", (r) => r.histogram("h", "x", [1], ["le"]), /label names must match/],
    ["duplicate label names", (r) => r.gauge("g", "x", ["a", "a"]), /must be unique/],
    ["unsorted buckets", (r) => r.histogram("h", "x", [1, 0.5]), /strictly increasing/],
    ["a NaN bucket", (r) => r.histogram("h", "x", [NaN]), /strictly increasing/],
    ["a taken name", (r) => {
      r.counter("dup", "x");
      r.gauge("dup", "y");
    }, /Cannot register metric "dup" as the name is taken/],
  ];
  for (const [name, register, error] of cases) {
    await t.step(name, () => assert.throws(() => register(new MetricsRegistry()), error));
  }
});

Deno.test("histogram() accepts an explicit +Inf bucket without duplicating it", () => {
  const r = new MetricsRegistry();
  r.histogram("h", "H", [1, Infinity]).labels().observe(2);
  assert.equal(r.render().match(/le="\+Inf"/g)?.length, 1);
  assert.match(r.render(), /h_bucket\{le="1"\} 0\nh_bucket\{le="\+Inf"\} 1\n/);
});
