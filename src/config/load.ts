/**
 * Loading a config file: read (at most 10 MiB, like kairos-rs) → parse by extension (.yaml/.yml → YAML,
 * anything else JSON) → validate → attach line numbers to every problem.
 */
import { type ConfigFormat, parseConfigText } from "./parse_text.ts";
import { validateConfig, type ValidateOptions, type ValidationResult } from "./validate.ts";
import { locateProblems } from "./source_positions.ts";

// The loading API in one import for callers (CLI, runtime, admin API).
export { type ConfigFormat, parseConfigText, type ParseResult } from "./parse_text.ts";
export { validateConfig, type ValidateOptions, type ValidationResult } from "./validate.ts";

/** A validation result plus what was read: the format, the text ("" if unreadable) and the parsed data. */
export type LoadResult = ValidationResult & { format: ConfigFormat; text: string; raw: unknown };

/** kairos-rs's limit (`config/settings.rs`): a bigger file is a mistake, not a config. */
export const MAX_CONFIG_BYTES = 10 * 1024 * 1024;

/** Picks the format from the file extension. */
export function configFormatOf(path: string): ConfigFormat {
  return /\.ya?ml$/i.test(path) ? "yaml" : "json";
}

/** Reads, parses and validates a config file; never throws for file or config problems. */
export async function loadConfigFile(path: string, options: ValidateOptions = {}): Promise<LoadResult> {
  const format = configFormatOf(path);
  const fail = (message: string): LoadResult => ({
    ok: false,
    errors: [{ path: "", message: `Cannot read config file ${JSON.stringify(path)}: ${message}` }],
    warnings: [],
    format,
    text: "",
    raw: undefined,
  });
  let text: string;
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) return fail("not a regular file");
    if (info.size > MAX_CONFIG_BYTES) {
      return fail(`it is ${info.size} bytes, above the limit of ${MAX_CONFIG_BYTES} bytes (10 MiB)`);
    }
    const bytes = await Deno.readFile(path);
    if (bytes.length > MAX_CONFIG_BYTES) return fail(`it grew above the limit of ${MAX_CONFIG_BYTES} bytes`);
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (error) {
    return fail(describeReadError(error));
  }
  const parsed = await parseConfigText(text, format);
  if (!parsed.ok) return { ok: false, errors: parsed.errors, warnings: [], format, text, raw: undefined };
  const result = validateConfig(parsed.raw, options);
  const errors = result.ok ? [] : result.errors;
  const located = await locateProblems(text, [...errors, ...result.warnings]);
  const warnings = located.slice(errors.length);
  if (result.ok) return { ...result, warnings, format, text, raw: parsed.raw };
  return { ok: false, errors: located.slice(0, errors.length), warnings, format, text, raw: parsed.raw };
}

/** Why a file could not be read, in a few words (`not found`, `permission denied`, …). */
export function describeReadError(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "not found";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.NotCapable) return "read access not granted (run with --allow-read)";
  if (error instanceof TypeError) return "not valid UTF-8"; // TextDecoder with fatal: true
  return error instanceof Error ? error.message : String(error);
}
