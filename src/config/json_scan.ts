/**
 * A structural pass over JSON text for what JSON.parse does not tell: keys repeated in one object (it keeps
 * the last one silently, where kairos-rs's serde refuses a repeated field), and where a syntax error is when
 * V8's message has no position (`Unexpected token ']'`), naming trailing commas as such.
 */
import type { PathSegments } from "./problems.ts";

/** A repeated key: its path (ending with the key) and the offset of the repeat. */
export type DuplicateKey = { path: PathSegments; offset: number };

/** What the scan found: repeated keys in valid JSON, or the first syntax error's offset. */
export type JsonScan =
  | { ok: true; duplicates: DuplicateKey[] }
  | { ok: false; offset: number; trailingComma: boolean };

type Frame = { keys: Set<string> | null; at: string | number; comma: number };

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** Scans `text` (without a BOM); iterative, so deep nesting cannot overflow the stack. */
export function scanJson(text: string): JsonScan {
  const duplicates: DuplicateKey[] = [];
  const stack: Frame[] = [];
  let expect: "value" | "key" | "colon" | "after" = "value";
  let i = 0;
  const fail = (offset: number, trailingComma = false): JsonScan => ({ ok: false, offset, trailingComma });
  for (;;) {
    i = skipWhitespace(text, i);
    const top = stack[stack.length - 1];
    if (i >= text.length) {
      return stack.length === 0 && expect === "after" ? { ok: true, duplicates } : fail(i);
    }
    const c = text[i];
    if (expect === "after") {
      if (!top) return fail(i);
      if (c === ",") {
        top.comma = i++;
        if (top.keys) expect = "key";
        else {
          top.at = (top.at as number) + 1;
          expect = "value";
        }
      } else if (c === (top.keys ? "}" : "]")) {
        stack.pop();
        i++;
      } else return fail(i);
      continue;
    }
    if (expect === "colon") {
      if (c !== ":") return fail(i);
      i++;
      expect = "value";
      continue;
    }
    // A closing bracket where a key or value belongs: an empty container, or a trailing comma.
    if (top && c === (expect === "key" ? "}" : "]") && (expect === "key" || !top.keys)) {
      if (top.comma >= 0) return fail(top.comma, true);
      stack.pop();
      i++;
      expect = "after";
      continue;
    }
    if (top) top.comma = -1;
    if (expect === "key") {
      const end = stringEnd(text, i);
      if (c !== '"' || end < 0) return fail(i);
      let key = text.slice(i + 1, end - 1);
      if (key.includes("\\")) {
        try {
          key = JSON.parse(text.slice(i, end));
        } catch {
          return fail(i);
        }
      }
      const keys = top.keys!;
      // `_comment`-style keys and `$schema` are ignored, so repeating them is harmless.
      if (keys.has(key) && !key.startsWith("_") && key !== "$schema") {
        duplicates.push({ path: [...stack.slice(0, -1).map((frame) => frame.at), key], offset: i });
      }
      keys.add(key);
      top.at = key;
      i = end;
      expect = "colon";
      continue;
    }
    // expect === "value"
    if (c === "{" || c === "[") {
      stack.push({ keys: c === "{" ? new Set() : null, at: c === "{" ? "" : 0, comma: -1 });
      i++;
      expect = c === "{" ? "key" : "value";
      continue;
    }
    let end = -1;
    if (c === '"') end = stringEnd(text, i);
    else if (c === "-" || (c >= "0" && c <= "9")) {
      NUMBER.lastIndex = i;
      if (NUMBER.test(text)) end = NUMBER.lastIndex;
    } else {
      const word = ["true", "false", "null"].find((w) => text.startsWith(w, i));
      if (word) end = i + word.length;
    }
    if (end < 0) return fail(i);
    i = end;
    expect = "after";
  }
}

/** Offset just past the string literal starting at `start`, or -1 if it is not closed. Control
 * characters are left to JSON.parse, which reports their position itself. */
function stringEnd(text: string, start: number): number {
  if (text[start] !== '"') return -1;
  for (let j = text.indexOf('"', start + 1); j >= 0; j = text.indexOf('"', j + 1)) {
    let backslashes = 0;
    while (text.charCodeAt(j - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return j + 1;
  }
  return -1;
}

function skipWhitespace(text: string, i: number): number {
  for (;;) {
    const code = text.charCodeAt(i);
    if (code !== 0x20 && code !== 0x0a && code !== 0x0d && code !== 0x09) return i;
    i++;
  }
}
