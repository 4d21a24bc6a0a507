/**
 * Route path patterns (`/users/{id}`, `/files/{*rest}`) and internal-path templates (`/v1/user-{id}`).
 * Both are parsed once when a snapshot is built; nothing here runs a regex per request.
 */
import { canonicalSegment } from "./request_target.ts";

/** One segment of a route pattern: the text between two slashes. */
export type PathSegment =
  | { readonly kind: "static"; readonly text: string }
  | { readonly kind: "param"; readonly name: string }
  | { readonly kind: "pattern"; readonly prefix: string; readonly name: string; readonly suffix: string }
  | { readonly kind: "catch_all"; readonly name: string };

/** An internal path compiled for substitution: `literals[0] + value(names[0]) + literals[1] + …`. */
export interface PathTemplate {
  readonly source: string;
  /** Literal text around the placeholders, percent-encoded where needed; always `names.length + 1` entries. */
  readonly literals: readonly string[];
  /** Parameter name of each placeholder (`{*rest}` and `{rest}` both give `rest`). */
  readonly names: readonly string[];
  /** Original text of each placeholder, rendered verbatim when its parameter is missing. */
  readonly placeholders: readonly string[];
}

// kairos-rs accepts what Rust's char::is_alphanumeric() does (Unicode letters and numbers) plus `_`.
const NAME = /^[\p{Alphabetic}\p{N}_]+$/u;

interface Placeholder {
  readonly open: number;
  readonly close: number;
  readonly name: string;
  readonly catchAll: boolean;
}

/** Finds the `{name}` / `{*name}` at or after `from` in `text`, or null; throws on malformed braces. */
function nextPlaceholder(text: string, from: number, what: string, source: string): Placeholder | null {
  const open = text.indexOf("{", from);
  const stray = text.indexOf("}", from);
  if (stray !== -1 && (open === -1 || stray < open)) {
    throw new TypeError(`Cannot parse ${what} "${source}": "}" at index ${stray} has no matching "{"`);
  }
  if (open === -1) return null;
  const close = text.indexOf("}", open + 1);
  if (close === -1) {
    throw new TypeError(`Cannot parse ${what} "${source}": "{" at index ${open} is not closed`);
  }
  const inner = text.slice(open + 1, close);
  const catchAll = inner.startsWith("*");
  const name = catchAll ? inner.slice(1) : inner;
  if (!NAME.test(name)) {
    throw new TypeError(
      `Cannot parse ${what} "${source}": a parameter name must be letters, digits or _, got "${name}"`,
    );
  }
  // Params are plain objects: this name would set their prototype instead of a property.
  if (name === "__proto__") {
    throw new TypeError(`Cannot parse ${what} "${source}": parameter name "__proto__" is reserved`);
  }
  return { open, close, name, catchAll };
}

/**
 * Parses a route pattern into segments, their literal text in the canonical form requests are matched in
 * (`/café` and `/caf%C3%A9` are one pattern). Throws `TypeError` on an invalid pattern: missing leading "/",
 * unbalanced braces, a bad or duplicate name, two parameters in one segment, a catch-all that is not a
 * whole last segment, a malformed %-escape, or a `.` / `..` segment (requests never hold one).
 */
export function parsePathPattern(pattern: string): PathSegment[] {
  const what = "path pattern";
  if (!pattern.startsWith("/")) {
    throw new TypeError(`Cannot parse ${what} "${pattern}": it must start with "/"`);
  }
  const segments: PathSegment[] = [];
  const seen = new Set<string>();
  let start = 1;
  while (true) {
    const slash = pattern.indexOf("/", start);
    const end = slash === -1 ? pattern.length : slash;
    // Scanning within [start, end) only: slicing keeps the error indices relative to the whole pattern.
    const segment = pattern.slice(0, end);
    const found = nextPlaceholder(segment, start, what, pattern);
    if (found === null) {
      const text = literal(pattern, start, end);
      if (text === "." || text === "..") {
        throw new TypeError(
          `Cannot parse ${what} "${pattern}": a "${text}" segment can never match, as requests are matched ` +
            "with dot segments removed",
        );
      }
      segments.push({ kind: "static", text });
    } else {
      if (nextPlaceholder(segment, found.close + 1, what, pattern) !== null) {
        throw new TypeError(
          `Cannot parse ${what} "${pattern}": a segment may hold at most one parameter, got "${
            pattern.slice(start, end)
          }"`,
        );
      }
      if (seen.has(found.name)) {
        throw new TypeError(`Cannot parse ${what} "${pattern}": parameter "${found.name}" appears twice`);
      }
      seen.add(found.name);
      const prefix = literal(pattern, start, found.open);
      const suffix = literal(pattern, found.close + 1, end);
      if (found.catchAll) {
        if (slash !== -1 || prefix !== "" || suffix !== "") {
          throw new TypeError(
            `Cannot parse ${what} "${pattern}": catch-all "{*${found.name}}" must be the whole last segment`,
          );
        }
        segments.push({ kind: "catch_all", name: found.name });
      } else if (prefix === "" && suffix === "") {
        segments.push({ kind: "param", name: found.name });
      } else {
        segments.push({ kind: "pattern", prefix, name: found.name, suffix });
      }
    }
    if (slash === -1) return segments;
    start = slash + 1;
  }
}

/** The canonical form of `pattern.slice(start, end)`; throws for a malformed %-escape. */
function literal(pattern: string, start: number, end: number): string {
  const text = canonicalSegment(pattern.slice(start, end));
  if (text === null) {
    throw new TypeError(
      `Cannot parse path pattern "${pattern}": "${
        pattern.slice(start, end)
      }" holds a "%" that starts no %XX escape (write "%25" for a literal "%")`,
    );
  }
  return text;
}

// Characters a request target cannot hold raw (RFC 9112 §3.2, RFC 3986 §2): the http1 client refuses them and
// fetch re-encodes some, so a template's literal text is encoded once, here.
const NOT_IN_TARGET = /[^\x21-\x7e]|["<>\\^`{|}]/gu;

function encodeLiteral(text: string, source: string): string {
  try {
    return text.replace(NOT_IN_TARGET, (c) => encodeURIComponent(c));
  } catch {
    throw new TypeError(`Cannot parse internal path "${source}": it holds a lone UTF-16 surrogate`);
  }
}

/**
 * Compiles an internal path for substitution. Placeholders may sit anywhere (`/v1/user-{id}`);
 * `{*rest}` means the same as `{rest}`. Literal text that a request target cannot hold raw (`/v1/café`) is
 * percent-encoded. Throws `TypeError` on unbalanced braces or a bad name.
 */
export function compileTemplate(internalPath: string): PathTemplate {
  const literals: string[] = [];
  const names: string[] = [];
  const placeholders: string[] = [];
  let from = 0;
  let found = nextPlaceholder(internalPath, 0, "internal path", internalPath);
  while (found !== null) {
    literals.push(encodeLiteral(internalPath.slice(from, found.open), internalPath));
    names.push(found.name);
    placeholders.push(internalPath.slice(found.open, found.close + 1));
    from = found.close + 1;
    found = nextPlaceholder(internalPath, from, "internal path", internalPath);
  }
  literals.push(encodeLiteral(internalPath.slice(from), internalPath));
  return { source: internalPath, literals, names, placeholders };
}

/**
 * Substitutes captured values into a compiled template. Values go in raw (they are already
 * percent-encoded path text); a placeholder without a value stays literal, as in kairos-rs.
 */
export function renderTemplate(t: PathTemplate, params: Readonly<Record<string, string>>): string {
  const names = t.names;
  if (names.length === 0) return t.literals[0];
  let out = t.literals[0];
  for (let i = 0; i < names.length; i++) {
    const value = params[names[i]];
    // typeof, not `!== undefined`: a name like "toString" must not pick up Object.prototype members.
    out += (typeof value === "string" ? value : t.placeholders[i]) + t.literals[i + 1];
  }
  return out;
}

/** The pattern with names erased (`/a/{}/b-{}/{*}`), so `/a/{x}` and `/a/{y}` compare equal. */
export function patternShape(segments: readonly PathSegment[]): string {
  let shape = "";
  for (const segment of segments) {
    if (segment.kind === "static") shape += "/" + segment.text;
    else if (segment.kind === "param") shape += "/{}";
    else if (segment.kind === "pattern") shape += `/${segment.prefix}{}${segment.suffix}`;
    else shape += "/{*}";
  }
  return shape;
}

/** True when a segment of `path` is `..` (also percent-encoded), which could climb out of a backend prefix. */
export function hasTraversal(path: string): boolean {
  return path.split("/").some((segment) => canonicalSegment(segment) === "..");
}
