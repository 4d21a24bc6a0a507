/**
 * The pure validation pipeline shared by the CLI, the file loader and the management API:
 * strip ignored keys → expand `${ENV}` → normalize kairos-rs dialects → zod → cross-checks → deep freeze.
 */
import { type Config, configSchema } from "./schema.ts";
import type { z } from "zod";
import { type ConfigProblem, describeValue, formatPath, type PathSegments, sourcePath } from "./problems.ts";
import { envLookup, expandEnvPlaceholders } from "./env_placeholders.ts";
import { normalizeConfig, stripIgnoredKeys } from "./normalize.ts";
import { issueToProblem, unknownKeyProblems, valueAt } from "./zod_issues.ts";
import { crossCheckConfig } from "./cross_checks.ts";
import { deepFreeze } from "./deep_freeze.ts";
import { validatePolicyConfig } from "../policy/validate_policy_config.ts";

/** `strict` turns unknown keys into errors; `env` replaces the process environment for `${NAME}`. */
export type ValidateOptions = { strict?: boolean; env?: Record<string, string | undefined> };

/** A frozen config plus warnings, or the errors that prevent loading (warnings too). */
export type ValidationResult =
  | { ok: true; config: Config; warnings: ConfigProblem[] }
  | { ok: false; errors: ConfigProblem[]; warnings: ConfigProblem[] };

type Issue = z.core.$ZodIssue;

/** Validates parsed config data (from JSON, YAML or an API body). Pure apart from reading env variables. */
export function validateConfig(raw: unknown, options: ValidateOptions = {}): ValidationResult {
  const errors: ConfigProblem[] = [];
  const warnings: ConfigProblem[] = [];
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    errors.push({
      path: "",
      message: `expected a config object at the top level, got ${describeValue(raw)}`,
    });
    return { ok: false, errors, warnings };
  }
  const deep = pathDeeperThan(raw, MAX_DEPTH);
  if (deep) {
    // The walks below recurse; a hostile document must get an answer, not a stack overflow.
    errors.push({ path: formatPath(deep), message: `nested deeper than ${MAX_DEPTH} levels` });
    return { ok: false, errors, warnings };
  }
  const expanded = expandEnvPlaceholders(stripIgnoredKeys(raw), envLookup(options.env));
  errors.push(...expanded.errors);
  const normalized = normalizeConfig(expanded.value);
  // A string whose placeholder failed is reported once, not again as the wrong type.
  for (const problem of expanded.errors) normalized.suppress.add(problem.path);
  errors.push(...normalized.errors);
  warnings.push(...normalized.warnings);
  const input = normalized.value;
  // Problems name canonical paths; report them as the file spells them (`routers[0].port` of a legacy
  // route, not `routers[0].backends[0].port`). Paths the file already spells pass through unchanged.
  const asWritten = (list: ConfigProblem[]) =>
    list.map((problem) => ({ ...problem, path: sourcePath(problem.path, normalized.renamed) }));

  let parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    const { unknown, other } = splitIssues(parsed.error.issues);
    for (const issue of unknown) {
      (options.strict ? errors : warnings).push(...unknownKeyProblems(issue, input, configSchema));
    }
    for (const issue of other) {
      const problem = issueToProblem(issue, input);
      if (!normalized.suppress.has(problem.path)) errors.push(problem);
    }
    if (!options.strict && unknown.length > 0 && other.length === 0) {
      // Unknown keys only warn: drop them and validate again so the rest of the config still loads.
      for (const issue of unknown) {
        const holder = valueAt(input, issue.path) as Record<string, unknown>;
        for (const key of issue.keys) delete holder[key];
      }
      parsed = configSchema.safeParse(input);
      if (!parsed.success) errors.push(...parsed.error.issues.map((issue) => issueToProblem(issue, input)));
    }
  }
  if (!parsed.success || errors.length > 0) {
    return { ok: false, errors: asWritten(errors), warnings: asWritten(warnings) };
  }

  const checks = crossCheckConfig(parsed.data);
  warnings.push(...checks.warnings);
  // Policies compile their own sections (regexes, conditions, keys); their problems carry paths too.
  // Some overlap the cross-checks (JWT presence, CIDRs, regexes): one problem per path, and the
  // cross-check's kairos-rs wording wins.
  const checked = new Set(checks.errors.map((problem) => problem.path));
  const policyProblems = validatePolicyConfig(parsed.data).filter((problem) => !checked.has(problem.path));
  const allErrors = asWritten([...checks.errors, ...policyProblems]);
  if (allErrors.length > 0) return { ok: false, errors: allErrors, warnings: asWritten(warnings) };
  return { ok: true, config: deepFreeze(parsed.data), warnings: asWritten(warnings) };
}

/** A real config nests about 8 levels; anything this deep is a mistake or an attack. */
const MAX_DEPTH = 64;

/** The path of the first container nested deeper than `max` levels, or undefined (iterative). */
function pathDeeperThan(root: unknown, max: number): PathSegments | undefined {
  const stack: { value: unknown; path: PathSegments }[] = [{ value: root, path: [] }];
  while (stack.length > 0) {
    const { value, path } = stack.pop()!;
    if (value === null || typeof value !== "object") continue;
    if (path.length >= max) return path;
    for (const [key, item] of Object.entries(value)) {
      stack.push({ value: item, path: [...path, Array.isArray(value) ? Number(key) : key] });
    }
  }
  return undefined;
}

function splitIssues(issues: readonly Issue[]) {
  const unknown = issues.filter((i): i is z.core.$ZodIssueUnrecognizedKeys => i.code === "unrecognized_keys");
  const other = issues.filter((i) => i.code !== "unrecognized_keys");
  return { unknown, other };
}
