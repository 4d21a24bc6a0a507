/** Config text → plain data, for JSON and YAML, with syntax errors carrying line and column. */
import type { ConfigProblem } from "./problems.ts";
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
  try {
    return { ok: true, raw: JSON.parse(text) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // V8: `Expected ',' or '}' after property value in JSON at position 42 (line 3 column 5)`.
    const at = /\s+in JSON at position (\d+)(?: \(line \d+ column \d+\))?/.exec(message);
    const problem: ConfigProblem = {
      path: "",
      message: `Cannot parse JSON: ${at ? message.replace(at[0], "") : message}`,
    };
    if (at) Object.assign(problem, lineAndColumn(text, Number(at[1])));
    else if (/end of JSON input/.test(message)) Object.assign(problem, lineAndColumn(text, text.length));
    return { ok: false, errors: [problem] };
  }
}

async function parseYaml(text: string): Promise<ParseResult> {
  const { LineCounter, parseDocument } = await yamlModule();
  const lineCounter = new LineCounter();
  try {
    const doc = parseDocument(text, { lineCounter, prettyErrors: false });
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
