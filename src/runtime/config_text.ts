/**
 * Turns an edited config document back into file text in the file's own format. JSON keeps the file's
 * indentation; YAML is patched node by node into the previous text, so comments, key order and the
 * flow style of untouched (and replaced) collections survive an edit made through the admin API.
 */
import { isDeepStrictEqual } from "node:util";
import type { Document } from "yaml";
import type { ConfigFormat } from "../config/parse_text.ts";
import { type YamlModule, yamlModule } from "../config/yaml_module.ts";

type Key = string | number;

// `[GET, PUT]` rather than the yaml package's default `[ GET, PUT ]`.
const STRINGIFY = { flowCollectionPadding: false } as const;

/** Renders `raw` as `format`; with `previous` (the current file text) the edit is kept minimal. */
export async function renderConfigText(raw: unknown, format: ConfigFormat, previous = ""): Promise<string> {
  if (format === "json") return JSON.stringify(raw, null, jsonIndent(previous)) + "\n";
  const yaml = await yamlModule();
  const { parseDocument } = yaml;
  const body = previous.startsWith("\uFEFF") ? previous.slice(1) : previous;
  if (body.trim() !== "") {
    const doc = parseDocument(body);
    if (doc.errors.length === 0 && isRecord(doc.toJS()) && isRecord(raw)) {
      // An edit inside an anchored node would also change its aliases (or the yaml package refuses it):
      // when the patched text would not read back as `raw`, write it afresh (comments lost, config right).
      if (patched(yaml, doc, raw)) return doc.toString(STRINGIFY);
    }
  }
  const doc = parseDocument("{}");
  doc.contents = doc.createNode(raw) as typeof doc.contents;
  return doc.toString(STRINGIFY);
}

function patched(yaml: YamlModule, doc: Document, raw: Record<string, unknown>): boolean {
  try {
    patch(yaml, doc, [], doc.toJS(), raw);
  } catch {
    return false;
  }
  return isDeepStrictEqual(doc.toJS(), raw);
}

function jsonIndent(previous: string): string | number {
  const indent = /\n([ \t]+)["}\]]/.exec(previous)?.[1];
  return indent && indent.length <= 8 ? indent : 2;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function same(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

/** Applies the difference between `before` (the document's current value) and `after` to `doc`. */
function patch(yaml: YamlModule, doc: Document, path: Key[], before: unknown, after: unknown): void {
  if (same(before, after)) return;
  // An alias cannot be edited through (setIn throws); the changed value replaces it.
  if (yaml.isAlias(doc.getIn(path, true))) {
    doc.setIn(path, doc.createNode(after));
    return;
  }
  if (isRecord(before) && isRecord(after)) {
    for (const key of Object.keys(before)) if (!Object.hasOwn(after, key)) doc.deleteIn([...path, key]);
    for (const [key, value] of Object.entries(after)) {
      if (Object.hasOwn(before, key)) patch(yaml, doc, [...path, key], before[key], value);
      else doc.setIn([...path, key], doc.createNode(value));
    }
    return;
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const common = Math.min(before.length, after.length);
    for (let i = 0; i < common; i++) patch(yaml, doc, [...path, i], before[i], after[i]);
    for (let i = before.length - 1; i >= after.length; i--) doc.deleteIn([...path, i]);
    for (let i = before.length; i < after.length; i++) doc.addIn(path, doc.createNode(after[i]));
    return;
  }
  const node = doc.createNode(after);
  const old = doc.getIn(path, true);
  // Keep `methods: [GET, PUT]` on one line when it is replaced by another list.
  if (yaml.isCollection(old) && old.flow && yaml.isCollection(node)) node.flow = true;
  doc.setIn(path, node);
}
