/**
 * Reading an admin API request body: content type (415), size (413, counted while streaming, so a lying
 * or absent Content-Length does not help), and JSON or YAML syntax (400 with line and column).
 */
import { parseConfigText } from "../config/parse_text.ts";
import { readBytesUpTo } from "../proxy/body_bytes.ts";
import type { ConfigFormat } from "../config/parse_text.ts";
import { ApiError } from "./api_error.ts";

/** Body limit of the admin API (a whole config may be up to 10 MiB, like a config file). */
export const MAX_ADMIN_BODY_BYTES = 10 * 1024 * 1024;

export interface ReadBodyOptions {
  /** Accept `application/yaml` too (whole-config endpoints). */
  readonly yaml?: boolean;
  readonly limit?: number;
}

/** A parsed body, its format and text (for line numbers). */
export interface ParsedBody {
  readonly value: unknown;
  readonly format: ConfigFormat;
  readonly text: string;
}

/** Reads and parses the body; throws ApiError 415, 413 or 400. */
export async function readBody(request: Request, options: ReadBodyOptions = {}): Promise<ParsedBody> {
  const format = bodyFormat(request.headers.get("content-type"), options.yaml ?? false);
  const limit = options.limit ?? MAX_ADMIN_BODY_BYTES;
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > limit) {
    await request.body?.cancel();
    throw tooLarge(declared, limit);
  }
  const text = await readText(request, limit);
  if (text.trim() === "") {
    throw new ApiError(400, `Request body is empty: expected a ${label(format)} document`);
  }
  const parsed = await parseConfigText(text, format);
  if (!parsed.ok) {
    const problem = parsed.errors[0];
    const where = problem.line !== undefined ? ` (line ${problem.line}, column ${problem.column ?? 1})` : "";
    throw new ApiError(
      400,
      `${problem.message.replace(/^Cannot parse/, "Cannot parse the request body as")}${where}`,
      {
        line: problem.line ?? null,
        column: problem.column ?? null,
      },
    );
  }
  return { value: parsed.raw, format, text };
}

function bodyFormat(contentType: string | null, yaml: boolean): ConfigFormat {
  const type = (contentType ?? "").split(";")[0].trim().toLowerCase();
  if (type === "application/json" || (type.startsWith("application/") && type.endsWith("+json"))) {
    return "json";
  }
  if (yaml && (type === "application/yaml" || type === "application/x-yaml" || type === "text/yaml")) {
    return "yaml";
  }
  const accepted = yaml ? "application/json or application/yaml" : "application/json";
  throw new ApiError(
    415,
    `Cannot read the request body as its Content-Type must be ${accepted}: got ${
      contentType === null ? "none" : JSON.stringify(contentType)
    }`,
  );
}

async function readText(request: Request, limit: number): Promise<string> {
  if (!request.body) return "";
  const bytes = await readBytesUpTo(request.body, limit, (size) => tooLarge(size, limit));
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ApiError(400, "Cannot read the request body as it is not valid UTF-8");
  }
}

function tooLarge(size: number, limit: number): ApiError {
  return new ApiError(
    413,
    `Cannot accept the request body as it exceeds ${limit} bytes: got at least ${size} bytes`,
  );
}

function label(format: ConfigFormat): string {
  return format === "json" ? "JSON" : "YAML";
}
