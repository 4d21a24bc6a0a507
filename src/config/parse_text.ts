/** Config text → plain data, for JSON and YAML, with syntax errors carrying line and column. */
import { type ConfigProblem, formatPath } from "./problems.ts";
import { scanJson } from "./json_scan.ts";
import { yamlModule } from "./yaml_module.ts";

/** The two config file formats. */
export type ConfigFormat = "json" | "yaml";

/** Parsed data, or syntax errors (path "" with line and column where known). */
export type ParseResult = { ok: true; raw: unknown } | { ok: false; errors: ConfigProblem[] };

/** Parses config text; YAML aliases are expanded with the yaml package's alias-count guard. */
export function parseConfigText(text: string, format: ConfigFormat): Promise<ParseResult> {
  const body = text.startsWith("\uFEFF") ? text.slice(1) : text;
  if (body.trim() === "") {
    return Promise.resolve({
      ok: false,
      errors: [{ path: "", message: "Cannot parse config: it is empty" }],
    });
  }
  return format === "json" ? Promise.resolve(parseJson(body)) : parseYaml(body);
}

function parseJson(text: string): ParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // V8: `Expected ',' or '}' after property value in JSON at position 42 (line 3 column 5)`.
    // `after JSON at position 9` for trailing text. Positions become line and column below.
    const at = /\s+(?:in JSON\s+)?at position (\d+)(?: \(line \d+ column \d+\))?/.exec(message);
    // `Unexpected token 'N', "{"a": NaN}" is not valid JSON` quotes the text; the line and column say where.
    const reason = (at ? message.replace(at[0], "") : message).replace(
      /, (?:\.\.\.)?".*" is not valid JSON$/s,
      "",
    );
    const problem: ConfigProblem = { path: "", message: `Cannot parse JSON: ${reason}` };
    // V8 gives no position for `Unexpected token` (a trailing comma in an array, NaN, a comment...).
    const scan = scanJson(text);
    if (!scan.ok && scan.trailingComma) {
      problem.message = "Cannot parse JSON: trailing comma after the last item (JSON allows none)";
      Object.assign(problem, lineAndColumn(text, scan.offset));
    } else if (at) Object.assign(problem, lineAndColumn(text, Number(at[1])));
    else if (!scan.ok) Object.assign(problem, lineAndColumn(text, scan.offset));
    else if (/end of JSON input/.test(message)) Object.assign(problem, lineAndColumn(text, text.length));
    return { ok: false, errors: [problem] };
  }
  // JSON.parse keeps the last of two equal keys silently; kairos-rs refuses a repeated field.
  const scan = scanJson(text);
  if (scan.ok && scan.duplicates.length > 0) {
    return {
      ok: false,
      errors: scan.duplicates.map(({ path, offset }) => ({
        path: formatPath(path),
        message: `Cannot parse JSON: key ${
          JSON.stringify(path[path.length - 1])
        } appears twice in one object; keep one`,
        ...lineAndColumn(text, offset),
      })),
    };
  }
  return { ok: true, raw };
}

async function parseYaml(text: string): Promise<ParseResult> {
  const { LineCounter, parseDocument } = await yamlModule();
  const lineCounter = new LineCounter();
  try {
    // `<<: *defaults` merge keys (YAML 1.1, still common) would otherwise become a literal "<<" key.
    const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true });
    if (doc.errors.length > 0) {
      return {
        ok: false,
        errors: doc.errors.map((error) => {
          const { line, col } = lineCounter.linePos(error.pos[0]);
          return { path: "", message: `Cannot parse YAML: ${error.message}`, line, column: col };
        }),
      };
    }
    return { ok: true, raw: doc.toJS() };
  } catch (error) {
    // The yaml package reads LOG_TOKENS from the environment, so without --allow-env it throws NotCapable.
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, errors: [{ path: "", message: `Cannot parse YAML: ${reason}` }] };
  }
}

/** 1-based line and column of a UTF-16 offset. */
function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}
