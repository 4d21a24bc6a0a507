/**
 * The compiled route table: a segment trie searched most-specific-first, so the result never depends on
 * config order and matching cost does not grow with the number of routes.
 */
import { parsePathPattern } from "./path_template.ts";

/** A route as the table sees it: a path pattern, its methods (exact, uppercase) and an opaque value. */
export interface RouteEntry<T> {
  readonly pattern: string;
  readonly methods: readonly string[];
  readonly value: T;
}

/**
 * Outcome of `match()`. On `method_not_allowed`, `allow` lists every method of every route matching the
 * path, and `value`/`params` are those of the most specific one (e.g. to answer a CORS preflight).
 */
export type MatchResult<T> =
  | { readonly kind: "found"; readonly value: T; readonly params: Record<string, string> }
  | {
    readonly kind: "method_not_allowed";
    readonly allow: string;
    readonly value: T;
    readonly params: Record<string, string>;
  }
  | { readonly kind: "not_found" };

/** Matches a method and a URL pathname (no query; canonical, see `canonicalPath()`) against the compiled routes. */
export interface RouteTable<T> {
  match(method: string, path: string): MatchResult<T>;
  readonly size: number;
}

interface Leaf<T> {
  readonly value: T;
  readonly pattern: string;
  /** Parameter names in capture order. */
  readonly names: readonly string[];
}

/** The routes whose patterns share one shape (`/u/{id}` and `/u/{uid}`), told apart by method only. */
interface Terminal<T> {
  readonly leaves: Leaf<T>[];
  readonly byMethod: Map<string, Leaf<T>>;
  /** Methods answered here, HEAD included when GET is. */
  readonly methods: string[];
}

interface PatternChild<T> {
  readonly prefix: string;
  readonly suffix: string;
  readonly node: Node<T>;
}

interface Node<T> {
  statics: Map<string, Node<T>> | null;
  patterns: PatternChild<T>[] | null;
  param: Node<T> | null;
  catchAll: Node<T> | null;
  terminal: Terminal<T> | null;
}

/** Per-match scratch space, reused: match() is synchronous, so one search runs at a time. */
interface SearchState<T> {
  method: string;
  readonly starts: number[];
  readonly ends: number[];
  /** Most specific route matching the path but not the method, with its params. */
  miss: Leaf<T> | null;
  missParams: Record<string, string> | null;
  allowed: Set<string> | null;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Z-]+$/;
// Allow header order: the usual methods first, others alphabetically after them.
const METHOD_RANK = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"];

function newNode<T>(): Node<T> {
  return { statics: null, patterns: null, param: null, catchAll: null, terminal: null };
}

function compareMethods(a: string, b: string): number {
  const ra = METHOD_RANK.indexOf(a) >>> 0; // -1 becomes the largest rank
  const rb = METHOD_RANK.indexOf(b) >>> 0;
  return ra !== rb ? ra - rb : a < b ? -1 : a > b ? 1 : 0;
}

// A longer literal is more specific; the rest only makes the order independent of config order.
function comparePatterns<T>(a: PatternChild<T>, b: PatternChild<T>): number {
  const byLength = b.prefix.length + b.suffix.length - (a.prefix.length + a.suffix.length);
  if (byLength !== 0) return byLength;
  if (a.prefix.length !== b.prefix.length) return b.prefix.length - a.prefix.length;
  const ka = a.prefix + "{}" + a.suffix;
  const kb = b.prefix + "{}" + b.suffix;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/**
 * Walks (and grows) the trie along `pattern`, returning the node where it ends, its param names and, for
 * a fully static pattern, its canonical path.
 */
function insertPath<T>(
  root: Node<T>,
  pattern: string,
): { node: Node<T>; names: string[]; staticPath: string | null } {
  const names: string[] = [];
  let node = root;
  let staticPath: string | null = "";
  for (const segment of parsePathPattern(pattern)) {
    staticPath = segment.kind === "static" && staticPath !== null ? `${staticPath}/${segment.text}` : null;
    switch (segment.kind) {
      case "static": {
        node.statics ??= new Map();
        let child = node.statics.get(segment.text);
        if (child === undefined) node.statics.set(segment.text, child = newNode());
        node = child;
        break;
      }
      case "pattern": {
        names.push(segment.name);
        node.patterns ??= [];
        const { prefix, suffix } = segment;
        let child = node.patterns.find((p) => p.prefix === prefix && p.suffix === suffix);
        if (child === undefined) {
          child = { prefix, suffix, node: newNode() };
          node.patterns.push(child);
          node.patterns.sort(comparePatterns);
        }
        node = child.node;
        break;
      }
      case "param":
        names.push(segment.name);
        node = node.param ??= newNode();
        break;
      case "catch_all":
        names.push(segment.name);
        node = node.catchAll ??= newNode();
        break;
    }
  }
  return { node, names, staticPath };
}

function addEntry<T>(
  root: Node<T>,
  entry: RouteEntry<T>,
): { terminal: Terminal<T>; staticPath: string | null } {
  if (entry.methods.length === 0) {
    throw new TypeError(`Cannot compile route "${entry.pattern}": at least one method is required`);
  }
  for (const method of entry.methods) {
    if (!TOKEN.test(method)) {
      throw new TypeError(
        `Cannot compile route "${entry.pattern}": a method must be an uppercase token, got "${method}"`,
      );
    }
  }
  const { node, names, staticPath } = insertPath(root, entry.pattern);
  const terminal: Terminal<T> = node.terminal ??= { leaves: [], byMethod: new Map(), methods: [] };
  const leaf: Leaf<T> = { value: entry.value, pattern: entry.pattern, names };
  for (const method of entry.methods) {
    const other = terminal.byMethod.get(method);
    if (other !== undefined && other !== leaf) {
      throw new TypeError(
        `Cannot compile route "${entry.pattern}": it duplicates route "${other.pattern}" for method ${method}`,
      );
    }
    terminal.byMethod.set(method, leaf);
  }
  terminal.leaves.push(leaf);
  return { terminal, staticPath };
}

/** Adds the implicit HEAD (RFC 9110 §9.3.2: HEAD is GET without content) and fixes the method list. */
function finishTerminal<T>(terminal: Terminal<T>): void {
  const get = terminal.byMethod.get("GET");
  if (get !== undefined && !terminal.byMethod.has("HEAD")) terminal.byMethod.set("HEAD", get);
  terminal.methods.push(...[...terminal.byMethod.keys()].sort(compareMethods));
}

function finishTree<T>(node: Node<T>): number {
  let maxDepth = 0;
  if (node.terminal !== null) finishTerminal(node.terminal);
  for (const child of node.statics?.values() ?? []) maxDepth = Math.max(maxDepth, finishTree(child));
  for (const child of node.patterns ?? []) maxDepth = Math.max(maxDepth, 1 + finishTree(child.node));
  if (node.param !== null) maxDepth = Math.max(maxDepth, 1 + finishTree(node.param));
  if (node.catchAll !== null) maxDepth = Math.max(maxDepth, 1 + finishTree(node.catchAll));
  return maxDepth;
}

function buildParams<T>(s: SearchState<T>, leaf: Leaf<T>, path: string): Record<string, string> {
  const params: Record<string, string> = {};
  const names = leaf.names;
  for (let i = 0; i < names.length; i++) params[names[i]] = path.slice(s.starts[i], s.ends[i]);
  return params;
}

/** The path is consumed at `node`: the route there wins if it takes the method, else it is noted for 405. */
function atEnd<T>(s: SearchState<T>, node: Node<T>, path: string): Leaf<T> | undefined {
  const terminal = node.terminal;
  if (terminal === null) return undefined;
  const leaf = terminal.byMethod.get(s.method);
  if (leaf !== undefined) return leaf;
  if (s.miss === null) {
    s.miss = terminal.leaves[0];
    s.missParams = buildParams(s, s.miss, path);
  }
  s.allowed ??= new Set();
  for (const method of terminal.methods) s.allowed.add(method);
  return undefined;
}

/**
 * Depth-first search, most specific child first: static, pattern, param, catch-all. `pos` is where the
 * next segment starts, or -1 once the path is consumed; `depth` counts captured params so far.
 */
function search<T>(
  s: SearchState<T>,
  node: Node<T>,
  path: string,
  pos: number,
  depth: number,
): Leaf<T> | undefined {
  if (pos === -1) return atEnd(s, node, path);
  const slash = path.indexOf("/", pos);
  const end = slash === -1 ? path.length : slash;
  const next = slash === -1 ? -1 : slash + 1;
  let found: Leaf<T> | undefined;
  if (node.statics !== null) {
    const child = node.statics.get(path.slice(pos, end));
    if (child !== undefined && (found = search(s, child, path, next, depth)) !== undefined) return found;
  }
  const length = end - pos;
  if (node.patterns !== null) {
    for (const p of node.patterns) {
      if (
        length > p.prefix.length + p.suffix.length && path.startsWith(p.prefix, pos) &&
        path.endsWith(p.suffix, end)
      ) {
        s.starts[depth] = pos + p.prefix.length;
        s.ends[depth] = end - p.suffix.length;
        if ((found = search(s, p.node, path, next, depth + 1)) !== undefined) return found;
      }
    }
  }
  // A param is one non-empty segment, like kairos-rs's `([^/]+)`.
  if (node.param !== null && length > 0) {
    s.starts[depth] = pos;
    s.ends[depth] = end;
    if ((found = search(s, node.param, path, next, depth + 1)) !== undefined) return found;
  }
  // A catch-all takes the rest, slashes included, possibly empty (`/api/` for `/api/{*rest}`).
  if (node.catchAll !== null) {
    s.starts[depth] = pos;
    s.ends[depth] = path.length;
    return atEnd(s, node.catchAll, path);
  }
  return undefined;
}

/**
 * Compiles routes into a table. Throws `TypeError` on an invalid pattern or method, or when two routes
 * with the same pattern shape (param names aside) share a method.
 */
export function compileRouteTable<T>(entries: readonly RouteEntry<T>[]): RouteTable<T> {
  const root = newNode<T>();
  // Fully static patterns: one Map lookup answers most requests without walking the trie.
  const statics = new Map<string, Terminal<T>>();
  for (const entry of entries) {
    const { terminal, staticPath } = addEntry(root, entry);
    if (staticPath !== null) statics.set(staticPath, terminal);
  }
  const maxDepth = finishTree(root);
  const state: SearchState<T> = {
    method: "",
    starts: new Array<number>(maxDepth).fill(0),
    ends: new Array<number>(maxDepth).fill(0),
    miss: null,
    missParams: null,
    allowed: null,
  };
  const size = entries.length;

  return {
    size,
    match(method: string, path: string): MatchResult<T> {
      const exact = statics.get(path);
      if (exact !== undefined) {
        // A fully static match is the most specific one there is; other routes matter only for 405.
        const leaf = exact.byMethod.get(method);
        if (leaf !== undefined) return { kind: "found", value: leaf.value, params: {} };
      }
      if (path.charCodeAt(0) !== 47 /* "/" */) return { kind: "not_found" };
      state.method = method;
      const leaf = search(state, root, path, 1, 0);
      const { miss, missParams, allowed } = state;
      state.miss = state.missParams = state.allowed = null;
      if (leaf !== undefined) {
        return { kind: "found", value: leaf.value, params: buildParams(state, leaf, path) };
      }
      if (miss === null || missParams === null || allowed === null) return { kind: "not_found" };
      const allow = [...allowed].sort(compareMethods).join(", ");
      return { kind: "method_not_allowed", allow, value: miss.value, params: missParams };
    },
  };
}
