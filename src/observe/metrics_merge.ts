/**
 * Merges the Prometheus text of several worker processes into one exposition: every sample gains a
 * `worker` label, and each family keeps one HELP/TYPE header with all workers' samples under it (the
 * text format wants a family's samples together). Counters stay per worker; `sum by (…)` adds them up.
 */
import { escapeLabelValue } from "./metrics_registry.ts";

/** One worker's `/metrics` text. */
export interface WorkerMetrics {
  readonly worker: string;
  readonly text: string;
}

interface Family {
  readonly header: string[];
  readonly samples: string[];
  type?: string;
}

/** The merged text; families appear in the order the workers first mention them. */
export function mergeWorkerMetrics(sources: readonly WorkerMetrics[]): string {
  const families = new Map<string, Family>();
  const loose: string[] = [];
  for (const { worker, text } of sources) {
    const label = `worker="${escapeLabelValue(worker)}"`;
    // Families this worker types otherwise than the first worker did: one family has one TYPE, so
    // their samples are left out (null below) rather than printed under the wrong one.
    const conflicting = new Set<string>();
    let current: Family | null | undefined;
    for (const line of text.split("\n")) {
      if (line === "") continue;
      const meta = /^# (HELP|TYPE) (\S+)(?: (.*))?/.exec(line);
      if (meta) {
        const name = meta[2];
        let family = families.get(name);
        if (meta[1] === "TYPE" && family?.type !== undefined && family.type !== meta[3]) {
          conflicting.add(name);
        }
        if (conflicting.has(name)) {
          current = null;
          continue;
        }
        if (!family) families.set(name, family = { header: [], samples: [] });
        if (meta[1] === "TYPE") family.type ??= meta[3];
        // The first worker's header is kept; later workers repeat the same text.
        if (!family.header.some((h) => h.startsWith(`# ${meta[1]} `))) family.header.push(line);
        current = family;
        continue;
      }
      if (line.startsWith("#") || current === null) continue;
      (current?.samples ?? loose).push(withLabel(line, label));
    }
  }
  const out: string[] = [];
  for (const family of families.values()) out.push(...family.header, ...family.samples);
  out.push(...loose);
  return out.length === 0 ? "" : out.join("\n") + "\n";
}

/** `name{a="b"} 1` → `name{worker="0",a="b"} 1`; `name 1` → `name{worker="0"} 1`. */
function withLabel(sample: string, label: string): string {
  const brace = sample.indexOf("{");
  const space = sample.indexOf(" ");
  if (brace >= 0 && (space < 0 || brace < space)) {
    const empty = sample[brace + 1] === "}";
    return sample.slice(0, brace + 1) + label + (empty ? "" : ",") + sample.slice(brace + 1);
  }
  if (space < 0) return sample;
  return `${sample.slice(0, space)}{${label}}${sample.slice(space)}`;
}
