/**
 * Regexes and replacements in kairos-rs's dialect (the Rust `regex` crate) for JavaScript, translated
 * once at compile time. The dialect is part of the config language, so it lives with the config: the
 * cross-checks and the policies (header actions, path rewrites, conditions) all read patterns through
 * it. Rust spells some things differently, and JavaScript (without the `u` flag) reads several Rust
 * constructs as literals without complaint, so each one is translated or refused:
 *
 * - `(?P<name>…)` becomes `(?<name>…)`; leading inline flags `(?i)`, `(?ms)` become the regex's flags,
 *   others (`(?-i)`, or in the middle) a modifier group `(?i:…)` running to the end of the enclosing
 *   group, as in Rust;
 * - `\A` / `\z` become start / end of input, `\a` the bell, `[[:alpha:]]`-style classes ASCII ranges;
 * - a letter escape JavaScript would read as the letter (`\p{L}`, `\x{41}`, `\e`), a nested class and
 *   flags other than i, m, s are refused instead of silently matching something else.
 *
 * Replacements follow Rust: `$1`, `${1}`, `$name`, `${name}` (the longest name: `$1a` is group "1a"),
 * `$0` the whole match, `$$` a dollar; any other `$` is literal. A reference to a group the pattern
 * lacks, which Rust would replace with nothing, is refused.
 */

/** ASCII classes Rust accepts inside brackets (`[[:digit:]]`), as JavaScript class ranges. */
const POSIX_CLASSES: Readonly<Record<string, string>> = {
  alnum: "0-9A-Za-z",
  alpha: "A-Za-z",
  ascii: "\\x00-\\x7F",
  blank: "\\t ",
  cntrl: "\\x00-\\x1F\\x7F",
  digit: "0-9",
  graph: "!-~",
  lower: "a-z",
  print: " -~",
  punct: "!-\\/:-@\\[-`{-~",
  space: "\\t\\n\\v\\f\\r ",
  upper: "A-Z",
  word: "0-9A-Za-z_",
  xdigit: "0-9A-Fa-f",
};
/** Letter escapes with one meaning in both dialects (`\c`, `\k` and digits are JavaScript's own). */
const SHARED_LETTER_ESCAPES = new Set("bBdDsSwWfnrtvck");
const INLINE_FLAGS = /^\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?\)/;
const UNBOUNDED = /[*+]|\{\d+,\}/y;

/** A translated pattern: the JavaScript source and the flags its leading `(?i)`-style group asked for. */
export type JsPattern = { readonly source: string; readonly flags: string };

/** Translates a Rust-dialect pattern; throws SyntaxError naming the problem. */
export function translateRustRegex(pattern: string): JsPattern {
  let out = "";
  let flags = "";
  // Per open group: how many modifier groups opened by inline flags must close with it.
  const closers: number[] = [0];
  // Without multiline anywhere, `\A` / `\z` are plain `^` / `$`. Lookarounds and modifier groups are
  // avoided where possible: V8's linear-time fallback for runaway backtracking cannot run them.
  const multiline = /\(\?[a-zA-Z]*m[a-zA-Z]*(-[a-zA-Z]*)?[:)]/.test(pattern);
  let i = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at offset ${i}`);
  };
  while (i < pattern.length) {
    const c = pattern[i];
    if (c === "\\") {
      const next = pattern[i + 1];
      if (!multiline && (next === "A" || next === "z")) out += next === "A" ? "^" : "$";
      else out += escape(pattern, i, false, fail);
      i += 2;
    } else if (c === "[") {
      const end = classEnd(pattern, i, fail);
      out += translateClass(pattern.slice(i, end), (what) => fail(what));
      i = end;
    } else if (c === "(") {
      const inline = INLINE_FLAGS.exec(pattern.slice(i));
      if (inline) {
        const on = inline[1], off = inline[2] ?? "";
        if (!/^[ims]*$/.test(on + off) || on + off === "") {
          fail(`unsupported inline flags "${inline[0]}" (only i, m and s)`);
        }
        if (out === "" && closers.length === 1 && closers[0] === 0 && off === "") {
          flags += on; // a leading group sets the whole pattern's flags
        } else {
          out += `(?${on}${off ? `-${off}` : ""}:`;
          closers[closers.length - 1]++;
        }
        i += inline[0].length;
        continue;
      }
      if (pattern.startsWith("(?P<", i)) {
        out += "(?<";
        i += 4;
      } else if (pattern.startsWith("(?P", i)) {
        fail('unsupported "(?P" group (only "(?P<name>")');
      } else {
        out += "(";
        i++;
      }
      closers.push(0);
    } else if (c === ")") {
      if (closers.length > 1) out += ")".repeat(closers.pop()!);
      out += ")";
      i++;
    } else {
      out += c;
      i++;
    }
  }
  return { source: out + ")".repeat(closers[0]), flags: [...new Set(flags)].join("") };
}

/** Compiles a Rust-dialect pattern with extra `flags`; throws SyntaxError (translation or JavaScript's). */
export function rustRegex(pattern: string, flags = ""): RegExp {
  const js = translateRustRegex(pattern);
  return new RegExp(js.source, [...new Set(js.flags + flags)].join(""));
}

/**
 * True when an unboundedly repeated group holds another unbounded repetition (`(a+)+`, `(\w+\s?)*`).
 * Rust's engine runs such patterns in linear time; JavaScript's backtracks and can take exponential time
 * on a hostile input of a few dozen characters.
 */
export function hasNestedQuantifier(source: string): boolean {
  // Per open group: whether it holds an unbounded repetition so far.
  const groups: boolean[] = [false];
  const unboundedAt = (at: number) => {
    UNBOUNDED.lastIndex = at;
    return UNBOUNDED.test(source);
  };
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === "\\") {
      i++;
      if (unboundedAt(i + 1)) groups[groups.length - 1] = true;
    } else if (c === "[") {
      while (i < source.length && source[i] !== "]") i += source[i] === "\\" ? 2 : 1;
      if (unboundedAt(i + 1)) groups[groups.length - 1] = true;
    } else if (c === "(") groups.push(false);
    else if (c === ")" && groups.length > 1) {
      const inner = groups.pop()!;
      if (unboundedAt(i + 1)) {
        if (inner) return true;
        groups[groups.length - 1] = true;
      } else if (inner) groups[groups.length - 1] = true;
    } else if (c !== "*" && c !== "+" && c !== "?" && c !== "{" && unboundedAt(i + 1)) {
      groups[groups.length - 1] = true;
    }
  }
  return false;
}

/** The names of `regex`'s named groups and its group count. */
function groupsOf(regex: RegExp): { count: number; names: ReadonlySet<string> } {
  // An empty alternative always matches, revealing every group (undefined) without any input.
  const probe = new RegExp(`${regex.source}|`).exec("")!;
  return { count: probe.length - 1, names: new Set(Object.keys(probe.groups ?? {})) };
}

/**
 * Translates a Rust replacement for `regex` into a JavaScript replacement string; throws SyntaxError
 * for a reference to a group `regex` does not have.
 */
export function rustReplacement(replacement: string, regex: RegExp): string {
  if (!replacement.includes("$")) return replacement;
  const groups = groupsOf(regex);
  let out = "";
  let i = 0;
  while (i < replacement.length) {
    const c = replacement[i];
    if (c !== "$") {
      out += c;
      i++;
      continue;
    }
    if (replacement[i + 1] === "$") {
      out += "$$";
      i += 2;
      continue;
    }
    const braced = /^\{([^}]*)\}/.exec(replacement.slice(i + 1));
    const bare = braced ? undefined : /^[A-Za-z0-9_]+/.exec(replacement.slice(i + 1));
    const name = braced ? braced[1] : bare?.[0];
    if (name === undefined || name === "") {
      out += "$$"; // Rust: a `$` that starts no reference is literal
      i++;
      continue;
    }
    i += 1 + (braced ? braced[0].length : name.length);
    if (/^[0-9]+$/.test(name)) {
      const n = Number(name);
      if (n > groups.count) {
        throw new SyntaxError(`"$${name}" refers to group ${n}, but the pattern has ${groups.count}`);
      }
      if (n > 99) throw new SyntaxError(`"$${name}": at most 99 numbered groups can be referred to`);
      // Two digits, so a literal digit after the reference is never read as part of it.
      out += n === 0 ? "$&" : `$${String(n).padStart(2, "0")}`;
    } else if (groups.names.has(name)) {
      out += `$<${name}>`;
    } else {
      const written = braced ? braced[0] : name;
      const digits = bare ? /^[0-9]+/.exec(name)?.[0] : undefined;
      const hint = digits ? ` (Rust reads the longest name; write "\${${digits}}" for group ${digits})` : "";
      throw new SyntaxError(`"$${written}" refers to no group of the pattern${hint}`);
    }
  }
  return out;
}

/** One escape (`pattern[i]` is the backslash), translated. */
function escape(pattern: string, i: number, inClass: boolean, fail: (what: string) => never): string {
  const next = pattern[i + 1];
  if (next === undefined) return fail("trailing backslash");
  if (!/[A-Za-z]/.test(next)) return `\\${next}`; // digits (backreferences) and punctuation: same meaning
  if (SHARED_LETTER_ESCAPES.has(next)) return `\\${next}`;
  if (next === "x" && /^[0-9A-Fa-f]{2}$/.test(pattern.slice(i + 2, i + 4))) return "\\x";
  if (next === "u" && /^[0-9A-Fa-f]{4}$/.test(pattern.slice(i + 2, i + 6))) return "\\u";
  if (next === "a") return "\\x07";
  if (!inClass && next === "A") return "(?<![\\s\\S])";
  if (!inClass && next === "z") return "(?![\\s\\S])";
  return fail(`unsupported escape "\\${next}"`);
}

/** The index just past the class that opens at `pattern[start]` (`[`). */
function classEnd(pattern: string, start: number, fail: (what: string) => never): number {
  let i = start + 1;
  if (pattern[i] === "^") i++;
  while (i < pattern.length) {
    const c = pattern[i];
    if (c === "\\") i += 2;
    else if (pattern.startsWith("[:", i)) {
      const close = pattern.indexOf(":]", i + 2);
      i = close < 0 ? i + 1 : close + 2;
    } else if (c === "]") return i + 1;
    else i++;
  }
  return fail("unclosed character class");
}

/** A whole class `[...]`, translated. */
function translateClass(body: string, fail: (what: string) => never): string {
  let out = "[";
  let i = 1;
  if (body[i] === "^") {
    out += "^";
    i++;
  }
  while (i < body.length - 1) {
    const c = body[i];
    if (c === "\\") {
      out += escape(body, i, true, fail);
      i += 2;
    } else if (body.startsWith("[:", i)) {
      const close = body.indexOf(":]", i + 2);
      const name = close < 0 ? "" : body.slice(i + 2, close);
      const ranges = POSIX_CLASSES[name];
      if (ranges === undefined) fail(`unsupported class "${body.slice(i, close < 0 ? i + 2 : close + 2)}"`);
      out += ranges;
      i = close + 2;
    } else if (c === "[") {
      fail('nested character classes are not supported (escape a literal "[" as "\\[")');
    } else if (c === "&" && body[i + 1] === "&") {
      fail('class intersection "&&" is not supported');
    } else {
      out += c;
      i++;
    }
  }
  return out + "]";
}
