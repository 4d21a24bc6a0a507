/**
 * Route path templates: `{name}` captures one segment's text and may sit inside a segment
 * (`/v1/user-{id}`); `{*name}` captures the rest of the path and must be the whole last segment of an
 * external_path. Names are [A-Za-z0-9_]+ (kairos-rs's RouteMatcher rule, ASCII only).
 */

/** One piece of a segment. */
export type PathPart =
  | { kind: "literal"; text: string }
  | { kind: "param"; name: string }
  | { kind: "wildcard"; name: string };

/** A parsed template: the parts of each `/`-separated segment, and the placeholder names in order. */
export type PathTemplate = { segments: PathPart[][]; params: string[] };

const NAME = /^[A-Za-z0-9_]+$/;

/**
 * Parses an external_path (`"external"`: unique names, wildcard only as the last segment) or an
 * internal_path (`"internal"`: a substitution template, names may repeat); returns an error message on failure.
 */
export function parsePathTemplate(path: string, mode: "external" | "internal"): PathTemplate | string {
  const raw = path.startsWith("/") ? path.slice(1).split("/") : path.split("/");
  const segments: PathPart[][] = [];
  const params: string[] = [];
  for (let s = 0; s < raw.length; s++) {
    const parts = parseSegment(raw[s]);
    if (typeof parts === "string") return parts;
    for (const part of parts) {
      if (part.kind === "literal") continue;
      if (part.kind === "wildcard" && mode === "external" && (parts.length !== 1 || s !== raw.length - 1)) {
        return `{*${part.name}} must be the whole last segment of the path`;
      }
      if (params.includes(part.name)) {
        if (mode === "external") return `duplicate placeholder "${part.name}"`;
      } else params.push(part.name);
    }
    segments.push(parts);
  }
  return { segments, params };
}

function parseSegment(segment: string): PathPart[] | string {
  const parts: PathPart[] = [];
  let i = 0;
  while (i < segment.length) {
    const open = segment.indexOf("{", i);
    const stray = segment.indexOf("}", i);
    if (stray >= 0 && (open < 0 || stray < open)) return `unmatched "}" in path`;
    if (open < 0) {
      parts.push({ kind: "literal", text: segment.slice(i) });
      break;
    }
    if (open > i) parts.push({ kind: "literal", text: segment.slice(i, open) });
    const close = segment.indexOf("}", open);
    if (close < 0) return `unclosed "{" in path`;
    const inner = segment.slice(open + 1, close);
    if (inner === "" || inner === "*") return `empty placeholder "{${inner}}" in path`;
    const wildcard = inner.startsWith("*");
    const name = wildcard ? inner.slice(1) : inner;
    if (!NAME.test(name)) {
      return `invalid placeholder "{${inner}}": names use only letters, digits and "_"`;
    }
    // Two placeholders with nothing between them could split the text anywhere.
    if (parts.length > 0 && parts[parts.length - 1].kind !== "literal") {
      return `placeholders must be separated by literal text, got "{${inner}}" right after another`;
    }
    parts.push({ kind: wildcard ? "wildcard" : "param", name });
    i = close + 1;
  }
  return parts;
}

/** The template with names erased (`/a/{}/{*}`), so `/a/{x}` and `/a/{y}` compare equal. */
export function templateShape(template: PathTemplate): string {
  return "/" +
    template.segments.map((parts) =>
      parts.map((p) => p.kind === "literal" ? p.text : p.kind === "param" ? "{}" : "{*}").join("")
    ).join("/");
}

/** True when a segment of `path` is `..` (also percent-encoded), which could climb out of a backend prefix. */
export function hasTraversal(path: string): boolean {
  return path.split("/").some((segment) => segment.replaceAll(/%2e/gi, ".") === "..");
}
