/**
 * Turns zod issues into config problems an operator can act on: the JSON path, what was expected and the
 * value found (`routers[3].backends[0].port: expected 1-65535, got 0`), and "did you mean" for unknown keys.
 */
import type { z } from "zod";
import { type ConfigProblem, describeValue, formatPath } from "./problems.ts";
import { closestMatch } from "./did_you_mean.ts";

type Issue = z.core.$ZodIssue;
type AnySchema = z.core.$ZodType;

const TYPE_NAMES: Record<string, string> = {
  int: "an integer",
  number: "a number",
  string: "a string",
  boolean: "true or false",
  object: "an object",
  array: "an array",
};

/** The value at `path` inside `root`, or undefined. */
export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const key of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/** One problem for an issue other than `unrecognized_keys`; `input` is what zod parsed. */
export function issueToProblem(issue: Issue, input: unknown): ConfigProblem {
  if (issue.code === "invalid_union") {
    // When the value has the shape of exactly one branch (all its issues lie deeper), that branch's own
    // problem says what is wrong: `jwt.audience[1]: expected a string`, not "expected a string or an array".
    const matched = issue.errors.filter((branch) =>
      branch.length > 0 && branch.every((i) => i.path.length > 0)
    );
    if (matched.length === 1) {
      const inner = matched[0][0];
      return issueToProblem({ ...inner, path: [...issue.path, ...inner.path] } as Issue, input);
    }
  }
  return { path: formatPath(issue.path), message: issueMessage(issue, valueAt(input, issue.path)) };
}

/** One problem per unknown key, at the key's own path, with a suggestion from the schema's keys. */
export function unknownKeyProblems(
  issue: Issue & { code: "unrecognized_keys" },
  input: unknown,
  schema: AnySchema,
): ConfigProblem[] {
  const present = valueAt(input, issue.path);
  const known = knownKeysAt(schema, issue.path).filter((k) =>
    !(present !== null && typeof present === "object" && k in present)
  );
  return issue.keys.map((key) => {
    const suggestion = closestMatch(key, known);
    const hint = suggestion ? ` (did you mean "${suggestion}"?)` : "";
    return { path: formatPath([...issue.path, key]), message: `unknown key "${key}"${hint}` };
  });
}

function issueMessage(issue: Issue, value: unknown): string {
  const got = gotSuffix(value);
  switch (issue.code) {
    case "invalid_type": {
      const expected = TYPE_NAMES[issue.expected] ?? issue.expected;
      return value === undefined
        ? `required (expected ${expected})`
        : `expected ${expected}, got ${describeValue(value)}`;
    }
    case "invalid_value": {
      const values = issue.values.map((v) => JSON.stringify(v));
      return `expected ${values.length > 1 ? "one of " : ""}${values.join(", ")}${got}`;
    }
    case "too_small":
    case "too_big": {
      const isDefault = /^Too (small|big)/.test(issue.message);
      return (isDefault ? rangeMessage(issue) : issue.message) + got;
    }
    case "invalid_format":
      return issue.message + got;
    case "invalid_union":
      return `expected ${unionExpectation(issue.errors)}, got ${describeValue(value)}`;
    case "invalid_key": {
      // A record key (e.g. a header name): the path ends with the key, the inner issue says what is wrong.
      const key = issue.path[issue.path.length - 1];
      const inner = issue.issues[0];
      return inner ? `invalid key: ${issueMessage(inner, String(key))}` : "invalid key";
    }
    default:
      return issue.message;
  }
}

function gotSuffix(value: unknown): string {
  if (typeof value === "number" || typeof value === "boolean" || value === null) return `, got ${value}`;
  if (typeof value === "string" && value !== "") return `, got ${describeValue(value)}`;
  return "";
}

function rangeMessage(issue: Issue & { code: "too_small" | "too_big" }): string {
  const small = issue.code === "too_small";
  const bound = Number(
    small ? (issue as { minimum: number | bigint }).minimum : (issue as { maximum: number | bigint }).maximum,
  );
  const unit = issue.origin === "array" || issue.origin === "set"
    ? "item"
    : issue.origin === "string"
    ? "character"
    : "";
  if (unit) return `expected at ${small ? "least" : "most"} ${bound} ${unit}${bound === 1 ? "" : "s"}`;
  const inclusive = issue.inclusive !== false;
  return `expected ${small ? ">" : "<"}${inclusive ? "=" : ""} ${bound}`;
}

/** Summarizes what each union branch wanted at the union's own level: `one of "ip", "route" or an object`. */
function unionExpectation(branches: readonly (readonly Issue[])[]): string {
  const forms = new Set<string>();
  for (const branch of branches) {
    for (const issue of branch) {
      if (issue.path.length > 0) continue;
      if (issue.code === "invalid_value") issue.values.forEach((v) => forms.add(JSON.stringify(v)));
      else if (issue.code === "invalid_type") forms.add(TYPE_NAMES[issue.expected] ?? issue.expected);
    }
  }
  if (forms.size === 0) return "a value matching one of the allowed forms";
  const list = [...forms];
  if (list.length === 1) return list[0];
  // "one of" reads well before quoted values, not before kinds: "a string or an array".
  const prefix = list.some((form) => form.startsWith('"')) ? "one of " : "";
  return `${prefix}${list.slice(0, -1).join(", ")} or ${list[list.length - 1]}`;
}

/** Keys that the object schema(s) at `path` accept; unions contribute the keys of every object branch. */
export function knownKeysAt(schema: AnySchema, path: readonly PropertyKey[]): string[] {
  let nodes = expand(schema);
  for (const segment of path) {
    const next: AnySchema[] = [];
    for (const node of nodes) {
      const def = node._zod.def as unknown as Record<string, unknown>;
      if (def.type === "object" && typeof segment === "string") {
        const child = (def.shape as Record<string, AnySchema>)[segment];
        if (child) next.push(...expand(child));
      } else if (def.type === "array" && typeof segment === "number") {
        next.push(...expand(def.element as AnySchema));
      } else if (def.type === "record") next.push(...expand(def.valueType as AnySchema));
    }
    nodes = next;
  }
  const keys = new Set<string>();
  for (const node of nodes) {
    const def = node._zod.def as unknown as Record<string, unknown>;
    if (def.type === "object") Object.keys(def.shape as object).forEach((k) => keys.add(k));
  }
  return [...keys];
}

/** Unwraps optional/default/pipe wrappers and flattens unions into their branches. */
function expand(schema: AnySchema): AnySchema[] {
  const def = schema._zod.def as unknown as Record<string, unknown>;
  switch (def.type) {
    case "optional":
    case "nullable":
    case "default":
    case "prefault":
    case "nonoptional":
    case "readonly":
    case "catch":
      return expand(def.innerType as AnySchema);
    case "pipe":
      return expand(def.in as AnySchema);
    case "union":
      return (def.options as AnySchema[]).flatMap(expand);
    default:
      return [schema];
  }
}
