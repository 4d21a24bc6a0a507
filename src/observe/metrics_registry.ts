/**
 * A dependency-free Prometheus registry. Children are resolved once (at snapshot build) with
 * `family.labels(...)`; the per-request path is then a property increment on the child, with no
 * allocation and no string work. `render()` writes text exposition format 0.0.4.
 */

/** The Content-Type of `render()`'s output (Prometheus text format 0.0.4). */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Label values by label name, as returned by `gaugeFn`/`counterFn` collectors. */
export type Labels = Readonly<Record<string, string>>;

/** Samples produced at scrape time: `[labels or undefined, value]`. */
export type Collect = () => Iterable<readonly [Labels | undefined, number]>;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A monotonically increasing value. `inc` takes non-negative amounts only (not checked: hot path). */
export class CounterChild {
  value = 0;
  constructor(readonly labelValues: readonly string[], readonly labelText: string) {}
  inc(n = 1): void {
    this.value += n;
  }
}

/** A value that goes up and down. */
export class GaugeChild {
  value = 0;
  constructor(readonly labelValues: readonly string[], readonly labelText: string) {}
  set(v: number): void {
    this.value = v;
  }
  inc(n = 1): void {
    this.value += n;
  }
  dec(n = 1): void {
    this.value -= n;
  }
}

/** Observations counted per bucket (stored non-cumulative, rendered cumulative), with sum and count. */
export class HistogramChild {
  sum = 0;
  count = 0;
  /** counts[i] = observations in (bounds[i-1], bounds[i]]; the last slot is (last bound, +Inf). */
  readonly counts: number[];
  constructor(
    readonly labelValues: readonly string[],
    /** Label pairs followed by a comma when non-empty, so `le` can be appended. */
    readonly labelPrefix: string,
    readonly labelText: string,
    readonly bounds: readonly number[],
  ) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }
  observe(v: number): void {
    // NaN falls in no bucket and would turn `_sum` into NaN for good.
    if (v !== v) return;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && v > bounds[i]) i++;
    this.counts[i]++;
    this.sum += v;
    this.count++;
  }
}

type Child = CounterChild | GaugeChild | HistogramChild;
type MetricType = "counter" | "gauge" | "histogram";

/** A named metric with a fixed label schema; `labels(...values)` returns its cached child. */
export class MetricFamily<C extends Child> {
  readonly #children = new Map<string, C>();
  readonly #make: (values: readonly string[], labelText: string, prefix: string) => C;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
    readonly labelNames: readonly string[],
    make: (values: readonly string[], labelText: string, prefix: string) => C,
  ) {
    this.#make = make;
    // An unlabelled series exists from the start, at 0, like the Prometheus client libraries do.
    if (labelNames.length === 0) this.labels();
  }

  /** The child for these label values (in `labelNames` order), created on first use. Not for hot paths. */
  labels(...values: string[]): C {
    if (values.length !== this.labelNames.length) {
      throw new TypeError(
        `Cannot resolve labels of metric "${this.name}" as it takes ${this.labelNames.length} values ` +
          `(${this.labelNames.join(", ")}): got ${values.length}`,
      );
    }
    const key = JSON.stringify(values);
    let child = this.#children.get(key);
    if (child === undefined) {
      const pairs = this.labelNames.map((n, i) => `${n}="${escapeLabelValue(values[i])}"`).join(",");
      child = this.#make(
        Object.freeze(values),
        pairs === "" ? "" : `{${pairs}}`,
        pairs === "" ? "" : pairs + ",",
      );
      this.#children.set(key, child);
    }
    return child;
  }

  /** Drops every child whose labels include all of `match` (e.g. `{ backend }` after a reload). Returns the count. */
  remove(match: Labels): number {
    const wanted: [number, string][] = [];
    for (const [name, value] of Object.entries(match)) {
      const i = this.labelNames.indexOf(name);
      if (i < 0) {
        throw new TypeError(
          `Cannot remove children of metric "${this.name}" as it has no label "${name}": ` +
            `labels are (${this.labelNames.join(", ")})`,
        );
      }
      wanted.push([i, value]);
    }
    if (this.labelNames.length === 0) return 0;
    let removed = 0;
    for (const [key, child] of this.#children) {
      if (wanted.every(([i, v]) => child.labelValues[i] === v)) {
        this.#children.delete(key);
        removed++;
      }
    }
    return removed;
  }

  /** Whether `child` is still one of this family's children (not dropped by `remove`). */
  has(child: C): boolean {
    return this.#children.get(JSON.stringify(child.labelValues)) === child;
  }

  /** The current children, in creation order. */
  children(): IterableIterator<C> {
    return this.#children.values();
  }
}

/** A family whose samples are computed by a callback at scrape time. */
interface FnFamily {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge";
  readonly collect: Collect;
}

/** The set of metric families rendered by one `/metrics` endpoint. */
export class MetricsRegistry {
  readonly #families = new Map<string, MetricFamily<Child> | FnFamily>();
  /** Every sample name rendered, histogram suffixes included, so no two families print the same series. */
  readonly #sampleNames = new Set<string>();

  /** Registers a counter family. */
  counter(name: string, help: string, labelNames: readonly string[] = []): MetricFamily<CounterChild> {
    checkNames(name, labelNames, false);
    const family = new MetricFamily(name, help, "counter", labelNames, (v, t) => new CounterChild(v, t));
    return this.#add(family);
  }

  /** Registers a gauge family. */
  gauge(name: string, help: string, labelNames: readonly string[] = []): MetricFamily<GaugeChild> {
    checkNames(name, labelNames, false);
    const family = new MetricFamily(name, help, "gauge", labelNames, (v, t) => new GaugeChild(v, t));
    return this.#add(family);
  }

  /** Registers a histogram family; `buckets` are strictly increasing finite upper bounds (`+Inf` is implied). */
  histogram(
    name: string,
    help: string,
    buckets: readonly number[],
    labelNames: readonly string[] = [],
  ): MetricFamily<HistogramChild> {
    checkNames(name, labelNames, true);
    const bounds = buckets.filter((b) => b !== Infinity);
    for (let i = 0; i < bounds.length; i++) {
      if (!Number.isFinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
        throw new RangeError(
          `Cannot register histogram "${name}" as buckets must be finite and strictly increasing: ` +
            `current value is [${buckets.join(", ")}]`,
        );
      }
    }
    Object.freeze(bounds);
    const family = new MetricFamily(
      name,
      help,
      "histogram",
      labelNames,
      (v, t, p) => new HistogramChild(v, p, t, bounds),
    );
    return this.#add(family);
  }

  /** Registers a gauge whose samples `collect` computes at each scrape. */
  gaugeFn(name: string, help: string, collect: Collect): void {
    checkNames(name, [], false);
    this.#add({ name, help, type: "gauge", collect });
  }

  /** Registers a counter whose samples `collect` computes at each scrape (e.g. uptime). */
  counterFn(name: string, help: string, collect: Collect): void {
    checkNames(name, [], false);
    this.#add({ name, help, type: "counter", collect });
  }

  /** All families in Prometheus text format 0.0.4, in registration order. Empty labelled families are omitted. */
  render(): string {
    const out: string[] = [];
    for (const family of this.#families.values()) {
      const start = out.length;
      out.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
      const before = out.length;
      if (family instanceof MetricFamily) renderFamily(family, out);
      else renderFn(family, out);
      if (out.length === before) out.length = start;
    }
    return out.length === 0 ? "" : out.join("\n") + "\n";
  }

  #add<F extends MetricFamily<Child> | FnFamily>(family: F): F {
    const name = family.name;
    const samples = family.type === "histogram" ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [];
    for (const taken of [name, ...samples]) {
      if (this.#sampleNames.has(taken)) {
        const what = taken === name ? "the name" : `its series name "${taken}"`;
        throw new TypeError(`Cannot register metric "${name}" as ${what} is taken`);
      }
    }
    this.#families.set(name, family);
    this.#sampleNames.add(name);
    for (const sample of samples) this.#sampleNames.add(sample);
    return family;
  }
}

function renderFamily(family: MetricFamily<Child>, out: string[]): void {
  const name = family.name;
  for (const child of family.children()) {
    if (child instanceof HistogramChild) {
      let cumulative = 0;
      for (let i = 0; i < child.counts.length; i++) {
        cumulative += child.counts[i];
        const le = i < child.bounds.length ? formatValue(child.bounds[i]) : "+Inf";
        out.push(`${name}_bucket{${child.labelPrefix}le="${le}"} ${cumulative}`);
      }
      out.push(`${name}_sum${child.labelText} ${formatValue(child.sum)}`);
      out.push(`${name}_count${child.labelText} ${child.count}`);
    } else {
      out.push(`${name}${child.labelText} ${formatValue(child.value)}`);
    }
  }
}

function renderFn(family: FnFamily, out: string[]): void {
  for (const [labels, value] of family.collect()) {
    let text = "";
    if (labels !== undefined) {
      const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
      if (pairs.length > 0) text = `{${pairs.join(",")}}`;
    }
    out.push(`${family.name}${text} ${formatValue(value)}`);
  }
}

function checkNames(name: string, labelNames: readonly string[], histogram: boolean): void {
  if (!METRIC_NAME.test(name)) {
    throw new TypeError(
      `Cannot register metric as its name must match ${METRIC_NAME.source}: current value is "${name}"`,
    );
  }
  for (const label of labelNames) {
    if (!LABEL_NAME.test(label) || label.startsWith("__") || (histogram && label === "le")) {
      throw new TypeError(
        `Cannot register metric "${name}" as label names must match ${LABEL_NAME.source}, ` +
          `not start with "__" and not be "le" on histograms: current value is "${label}"`,
      );
    }
  }
  if (new Set(labelNames).size !== labelNames.length) {
    throw new TypeError(
      `Cannot register metric "${name}" as label names must be unique: current value is (${
        labelNames.join(", ")
      })`,
    );
  }
}

/** Label values escape backslash, double quote and line feed (exposition format 0.0.4). */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : "\\" + c));
}

/** HELP text escapes backslash and line feed only. */
function escapeHelp(help: string): string {
  return help.replace(/[\\\n]/g, (c) => (c === "\n" ? "\\n" : "\\\\"));
}

function formatValue(v: number): string {
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v); // NaN prints as "NaN", as the format wants.
}
