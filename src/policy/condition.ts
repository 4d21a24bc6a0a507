/**
 * The condition language of `status_code_mappings[].condition`, compiled once at snapshot build.
 *
 *   expr     := and ( "||" and )*
 *   and      := unary ( "&&" unary )*
 *   unary    := "!" unary | "(" expr ")" | operand [ op literal ]
 *   operand  := method | path | query | status | header.<name> | response_header.<name> | query.<name>
 *   op       := == | != | ~ (regex match, Rust syntax as in config/rust_regex.ts) | !~ | < | <= | > | >=
 *   literal  := "string" (only \" and \\ are escapes, so regexes keep their backslashes) | number
 *
 * A bare operand is true when the value is present and non-empty. `path` is the client's raw path,
 * `status` the upstream status. `<`, `>`, ... compare numbers (false when the value is not one).
 * Examples: `method == "GET"`, `path ~ "^/v1/" && !header.x-debug`, `status >= 500 || query.debug == "1"`.
 */
import type { RequestContext } from "../proxy/context.ts";
import { PolicyConfigError } from "./policy_config_error.ts";
import { rustRegex } from "../config/rust_regex.ts";

/** A compiled condition; `response` is absent when evaluated before the upstream answered. */
export type Condition = (ctx: RequestContext, response?: Response) => boolean;

type Getter = (ctx: RequestContext, response?: Response) => string | null | undefined;
type Token = { kind: "ident" | "string" | "number" | "op"; text: string; at: number };

const OPERATORS = ["==", "!=", "!~", "<=", ">=", "&&", "||", "~", "<", ">", "!", "(", ")"];
const COMPARISONS = new Set(["==", "!=", "~", "!~", "<", "<=", ">", ">="]);
const IDENT = /[A-Za-z0-9_.-]/;

/** Compiles `source`; throws PolicyConfigError (at `path`) naming the column of the first mistake. */
export function compileCondition(source: string, path: string): Condition {
  const tokens = tokenize(source, path);
  let pos = 0;
  const fail = (message: string): never => {
    const token = tokens[pos];
    const where = token ? `at column ${token.at + 1}, found "${token.text}"` : "at the end";
    throw new PolicyConfigError(
      path,
      `Cannot compile condition ${JSON.stringify(source)}: ${message} ${where}`,
    );
  };
  const peek = (text: string) => tokens[pos]?.kind === "op" && tokens[pos].text === text;

  const parseOr = (): Condition => {
    const parts = [parseAnd()];
    while (peek("||")) {
      pos++;
      parts.push(parseAnd());
    }
    return parts.length === 1 ? parts[0] : (ctx, res) => parts.some((part) => part(ctx, res));
  };
  const parseAnd = (): Condition => {
    const parts = [parseUnary()];
    while (peek("&&")) {
      pos++;
      parts.push(parseUnary());
    }
    return parts.length === 1 ? parts[0] : (ctx, res) => parts.every((part) => part(ctx, res));
  };
  const parseUnary = (): Condition => {
    if (peek("!")) {
      pos++;
      const inner = parseUnary();
      return (ctx, res) => !inner(ctx, res);
    }
    if (peek("(")) {
      pos++;
      const inner = parseOr();
      if (!peek(")")) fail('expected ")"');
      pos++;
      return inner;
    }
    const token = tokens[pos];
    if (token?.kind !== "ident") return fail("expected an operand (method, path, status, header.NAME, ...)");
    const get = operand(token.text) ?? fail("unknown operand");
    pos++;
    const op = tokens[pos];
    if (op?.kind !== "op" || !COMPARISONS.has(op.text)) return (ctx, res) => !!get(ctx, res);
    pos++;
    const literal = tokens[pos];
    if (literal?.kind !== "string" && literal?.kind !== "number") {
      return fail("expected a quoted string or a number");
    }
    pos++;
    return comparison(get, op.text, literal, (message) => {
      pos--;
      return fail(message);
    });
  };

  const condition = parseOr();
  if (pos < tokens.length) fail('expected "&&", "||" or the end');
  return condition;
}

function operand(name: string): Getter | undefined {
  switch (name.toLowerCase()) {
    case "method":
      return (ctx) => ctx.method;
    case "path":
      return (ctx) => ctx.path;
    case "query":
      return (ctx) => ctx.query.slice(1);
    case "status":
      return (_ctx, res) => res ? String(res.status) : undefined;
  }
  const dot = name.indexOf(".");
  const key = name.slice(dot + 1);
  if (dot < 0 || key === "") return undefined;
  switch (name.slice(0, dot).toLowerCase()) {
    case "header":
      return (ctx) => ctx.request.headers.get(key.toLowerCase());
    case "response_header":
      return (_ctx, res) => res?.headers.get(key.toLowerCase());
    case "query":
      return (ctx) => new URLSearchParams(ctx.query).get(key);
  }
  return undefined;
}

function comparison(get: Getter, op: string, literal: Token, fail: (message: string) => never): Condition {
  const text = literal.text;
  if (op === "~" || op === "!~") {
    if (literal.kind !== "string") fail("expected a quoted regular expression");
    let regex: RegExp;
    try {
      regex = rustRegex(text); // the same (Rust) dialect as transformation patterns
    } catch (err) {
      return fail(`invalid regular expression (${(err as Error).message})`);
    }
    const negate = op === "!~";
    return (ctx, res) => {
      const value = get(ctx, res);
      return value == null ? negate : regex.test(value) !== negate;
    };
  }
  if (op === "==" || op === "!=") {
    const negate = op === "!=";
    if (literal.kind === "number") {
      const expected = Number(text);
      return (ctx, res) => (toNumber(get(ctx, res)) === expected) !== negate;
    }
    return (ctx, res) => (get(ctx, res) === text) !== negate;
  }
  if (literal.kind !== "number") fail(`expected a number after "${op}"`);
  const bound = Number(text);
  const test = op === "<"
    ? (n: number) => n < bound
    : op === "<="
    ? (n: number) => n <= bound
    : op === ">"
    ? (n: number) => n > bound
    : (n: number) => n >= bound;
  return (ctx, res) => test(toNumber(get(ctx, res)));
}

function toNumber(value: string | null | undefined): number {
  return value == null || value === "" ? NaN : Number(value);
}

function tokenize(source: string, path: string): Token[] {
  const tokens: Token[] = [];
  const fail = (at: number, message: string): never => {
    throw new PolicyConfigError(
      path,
      `Cannot compile condition ${JSON.stringify(source)}: ${message} at column ${at + 1}`,
    );
  };
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    if (c === " " || c === "\t") {
      i++;
    } else if (c === '"') {
      const at = i;
      let text = "";
      i++;
      while (i < source.length && source[i] !== '"') {
        if (source[i] === "\\" && (source[i + 1] === '"' || source[i + 1] === "\\")) i++;
        text += source[i++];
      }
      if (i >= source.length) fail(at, "unterminated string");
      i++;
      tokens.push({ kind: "string", text, at });
    } else if (/[0-9]/.test(c)) {
      const match = /^[0-9]+(\.[0-9]+)?/.exec(source.slice(i))!;
      tokens.push({ kind: "number", text: match[0], at: i });
      i += match[0].length;
    } else if (IDENT.test(c)) {
      const at = i;
      while (i < source.length && IDENT.test(source[i])) i++;
      tokens.push({ kind: "ident", text: source.slice(at, i), at });
    } else {
      const op = OPERATORS.find((candidate) => source.startsWith(candidate, i)) ??
        fail(i, `unexpected character "${c}"`);
      tokens.push({ kind: "op", text: op, at: i });
      i += op.length;
    }
  }
  if (tokens.length === 0) fail(0, "empty condition");
  return tokens;
}
