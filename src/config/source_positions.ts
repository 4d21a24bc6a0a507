/**
 * Maps problem paths back to lines in the config text. JSON is (nearly) a subset of YAML 1.2, so one yaml
 * `parseDocument` + `LineCounter` serves both. Paths name the canonical shape; where the file used a
 * kairos-rs spelling the walk tries the aliases, and otherwise stops at the deepest node it found.
 */
import type { Node } from "yaml";
import { type ConfigProblem, parsePath } from "./problems.ts";
import { type YamlModule, yamlModule } from "./yaml_module.ts";

// Canonical key → the dialect spellings normalize.ts accepts for it.
const ALIASES: Record<string, string[]> = {
  retry: ["retry_config"],
  retry_on_status_codes: ["retryable_status_codes"],
  initial_backoff_ms: ["base_delay_ms"],
  max_backoff_ms: ["max_delay_ms"],
  algorithms: ["algorithm"],
  algorithm: ["window_type", "strategy"],
  key: ["strategy"],
  requests_per_window: ["requests_per_second", "requests_per_minute", "requests_per_hour"],
  window_ms: ["window_duration", "requests_per_second", "requests_per_minute", "requests_per_hour"],
  burst: ["burst_allowance", "burst_size"],
};

/** Returns the problems with `line`/`column` filled where the path can be found in `text`. */
export async function locateProblems(
  text: string,
  problems: readonly ConfigProblem[],
): Promise<ConfigProblem[]> {
  if (problems.every((p) => p.line !== undefined)) return [...problems];
  const yaml = await yamlModule();
  const lineCounter = new yaml.LineCounter();
  let root: unknown;
  try {
    root = yaml.parseDocument(text, { lineCounter, prettyErrors: false }).contents;
  } catch {
    return [...problems]; // positions are a nicety; never fail a load over them
  }
  return problems.map((problem) => {
    if (problem.line !== undefined) return problem;
    const segments = parsePath(problem.path);
    const offset = segments && segments.length > 0 ? findOffset(yaml, root, segments) : undefined;
    if (offset === undefined) return problem;
    const { line, col } = lineCounter.linePos(offset);
    return { ...problem, line, column: col };
  });
}

/** Offset of the deepest node (a map key where possible) that `segments` reaches. */
function findOffset(yaml: YamlModule, root: unknown, segments: (string | number)[]): number | undefined {
  const { isMap, isScalar, isSeq } = yaml;
  let node = root as Node | null;
  let offset = node?.range?.[0];
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    if (isSeq(node) && typeof segment === "number") {
      const item = node.items[segment] as Node | undefined;
      if (!item?.range) break;
      node = item;
      offset = item.range[0];
      continue;
    }
    if (!isMap(node)) break;
    const map = node;
    const pair = [String(segment), ...(ALIASES[segment] ?? [])]
      .map((key) => map.items.find((p) => isScalar(p.key) && String(p.key.value) === key))
      .find((p) => p !== undefined);
    if (pair) {
      node = pair.value as Node | null;
      offset = (pair.key as Node).range?.[0] ?? offset;
      continue;
    }
    // Legacy route host/port became backends[0]; a README jwt_secret became jwt.secret.
    if (segment === "backends" && segments[i + 1] === 0) {
      i++;
      continue;
    }
    if (segment === "jwt" && segments[i + 1] === "secret") {
      const legacy = map.items.find((p) => isScalar(p.key) && p.key.value === "jwt_secret");
      if (legacy) offset = (legacy.key as Node).range?.[0] ?? offset;
    }
    break;
  }
  return offset;
}
