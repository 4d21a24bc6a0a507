/**
 * `${ENV_NAME}` placeholders in config string values, replaced from the environment so secrets need not
 * live in the file. `$${` is a literal `${`. Only `${NAME}` with NAME = [A-Za-z_][A-Za-z0-9_]* is a
 * placeholder; other `${...}` text (e.g. the `${1}` group reference of a replacement) is left alone, and so is
 * `${name}` in a transformation's `replacement` when its `pattern` has a group of that name: kairos-rs
 * configs write group references that way, and reading them as variables would fail the load, or
 * silently put e.g. `$PATH` into a rewritten path (Windows variable names ignore case).
 */
import { type ConfigProblem, formatPath } from "./problems.ts";

/** Looks up one variable; undefined when unset. */
export type EnvLookup = (name: string) => string | undefined;

/** One `${NAME}` placeholder as a regex source; the JSON Schema accepts it where a string is constrained. */
export const PLACEHOLDER_SOURCE = String.raw`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`;
const PLACEHOLDER = new RegExp(String.raw`\$\$\{|` + PLACEHOLDER_SOURCE, "g");
// Named groups of a regex, `(?P<name>` (Rust) or `(?<name>`; an escaped look-alike only keeps a
// `${name}` from expansion, which then fails loudly as a reference to no group.
const GROUP_NAME = /\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/g;

/** An env lookup over a plain map, or over Deno.env when none is given (unreadable variables are unset). */
export function envLookup(env?: Record<string, string | undefined>): EnvLookup {
  if (env) return (name) => Object.hasOwn(env, name) ? env[name] : undefined;
  return (name) => {
    try {
      return Deno.env.get(name);
    } catch {
      // Without --allow-env the variable is unknowable; report it as unset rather than crash validation.
      return undefined;
    }
  };
}

/**
 * Returns a copy of `value` with placeholders in every string replaced; keys are not expanded.
 * Each unset variable is an error at the path of the string that names it.
 */
export function expandEnvPlaceholders(
  value: unknown,
  lookup: EnvLookup,
): { value: unknown; errors: ConfigProblem[] } {
  const errors: ConfigProblem[] = [];
  const walk = (node: unknown, path: (string | number)[], groups?: ReadonlySet<string>): unknown => {
    if (typeof node === "string") return node.includes("${") ? expandString(node, path, groups) : node;
    if (Array.isArray(node)) return node.map((item, i) => walk(item, [...path, i]));
    if (node !== null && typeof node === "object") {
      const record = node as Record<string, unknown>;
      const pattern = record.pattern;
      const named = typeof pattern === "string" && typeof record.replacement === "string"
        ? new Set([...pattern.matchAll(GROUP_NAME)].map((m) => m[1]))
        : undefined;
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(node)) {
        out[key] = walk(item, [...path, key], key === "replacement" ? named : undefined);
      }
      return out;
    }
    return node;
  };
  const expandString = (text: string, path: (string | number)[], groups?: ReadonlySet<string>): string =>
    text.replace(PLACEHOLDER, (match, name: string | undefined) => {
      if (name === undefined) return "${";
      if (groups?.has(name)) return match;
      const found = lookup(name);
      if (found === undefined) {
        errors.push({
          path: formatPath(path),
          message: `Cannot expand "${match}": environment variable ${name} is not set`,
        });
        return match;
      }
      return found;
    });
  return { value: walk(value, []), errors };
}
