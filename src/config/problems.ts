/**
 * Config problems: one error or warning tied to a JSON path, and the helpers that format paths, values
 * and problem lists for humans (`routers[3].backends[0].port: expected 1-65535, got 0`).
 */

/** One config error or warning; `path` looks like `routers[3].backends[0].port` ("" is the root). */
export type ConfigProblem = { path: string; message: string; line?: number; column?: number };

/** Where a pass puts what it finds; passes append, never replace. */
export type ProblemLists = { errors: ConfigProblem[]; warnings: ConfigProblem[] };

/** A path as a list of keys and indexes, the form zod issues and the normalizer use. */
export type PathSegments = readonly (string | number)[];

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** Formats path segments as `routers[3].backends[0].port`; keys that are not identifiers are quoted. */
export function formatPath(segments: readonly PropertyKey[]): string {
  let out = "";
  for (const segment of segments) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (typeof segment === "string" && IDENTIFIER.test(segment)) {
      out += out === "" ? segment : `.${segment}`;
    } else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out;
}

/** Parses a path made by `formatPath` back into segments; undefined when it is not such a path. */
export function parsePath(path: string): (string | number)[] | undefined {
  const segments: (string | number)[] = [];
  let i = 0;
  while (i < path.length) {
    if (path[i] === "[") {
      const close = path[i + 1] === '"' ? findQuoteEnd(path, i + 1) + 1 : path.indexOf("]", i);
      if (close <= i || path[close] !== "]") return undefined;
      const inner = path.slice(i + 1, close);
      if (inner.startsWith('"')) segments.push(JSON.parse(inner) as string);
      else if (/^\d+$/.test(inner)) segments.push(Number(inner));
      else return undefined;
      i = close + 1;
    } else {
      if (path[i] === ".") {
        if (segments.length === 0) return undefined;
        i++;
      }
      let end = i;
      while (end < path.length && path[end] !== "." && path[end] !== "[") end++;
      if (end === i) return undefined;
      segments.push(path.slice(i, end));
      i = end;
    }
  }
  return segments;
}

function findQuoteEnd(path: string, start: number): number {
  for (let i = start + 1; i < path.length; i++) {
    if (path[i] === "\\") i++;
    else if (path[i] === '"') return i;
  }
  return -1;
}

/**
 * Where the file spelled a canonical path, for the kairos-rs dialect keys that normalize.ts renames
 * (`retry` ← `retry_config`, a legacy route's `backends[0]` ← the route itself, ...): problems must name
 * the key the operator wrote, not one that exists only after normalization. Keys are formatted canonical paths.
 */
export type Renames = Map<string, PathSegments>;

/** Records that canonical `to` was written at `from`; `from` may itself lie under an earlier rename. */
export function recordRename(renames: Renames, to: PathSegments, from: PathSegments): void {
  renames.set(formatPath(to), toSourceSegments(from, renames));
}

/** `path` as the file spelled it: the longest renamed prefix is replaced by its source. */
export function sourcePath(path: string, renames: Renames): string {
  if (renames.size === 0) return path;
  const segments = parsePath(path);
  return segments ? formatPath(toSourceSegments(segments, renames)) : path;
}

function toSourceSegments(segments: PathSegments, renames: Renames): PathSegments {
  for (let i = segments.length; i > 0; i--) {
    const source = renames.get(formatPath(segments.slice(0, i)));
    if (source) return [...source, ...segments.slice(i)];
  }
  return segments;
}

/** Makes a problem from path segments and a message. */
export function problemAt(segments: readonly PropertyKey[], message: string): ConfigProblem {
  return { path: formatPath(segments), message };
}

/** Describes a config value for a message: strings quoted and shortened, containers by kind. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (typeof value === "string") {
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  }
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === "object") return "an object";
  return String(value);
}

/** One line per problem: `line 12, column 5: routers[3].backends[0].port: expected 1-65535, got 0`. */
export function formatProblems(problems: readonly ConfigProblem[]): string {
  return problems.map(formatProblem).join("\n");
}

function formatProblem(problem: ConfigProblem): string {
  let prefix = "";
  if (problem.line !== undefined) {
    prefix = problem.column !== undefined
      ? `line ${problem.line}, column ${problem.column}: `
      : `line ${problem.line}: `;
  }
  return problem.path === "" ? `${prefix}${problem.message}` : `${prefix}${problem.path}: ${problem.message}`;
}
