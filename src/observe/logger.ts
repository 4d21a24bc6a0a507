/**
 * The process logger: JSON lines (default) or a human-readable format, to stderr. Disabled levels are a
 * shared no-op, so a filtered-out call builds nothing inside the logger.
 */
import { writeAllSync } from "./write_all_sync.ts";

/** Log severities, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Output formats. */
export type LogFormat = "json" | "pretty";

/** Logs one message with optional structured fields. */
export type LogFn = (msg: string, fields?: Record<string, unknown>) => void;

export interface Logger {
  readonly level: LogLevel;
  readonly debug: LogFn;
  readonly info: LogFn;
  readonly warn: LogFn;
  readonly error: LogFn;
  /** Whether `level` is logged, to guard expensive field building at call sites. */
  enabled(level: LogLevel): boolean;
}

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** Receives each line without its trailing newline. Default: a synchronous write to stderr. */
  write?: (line: string) => void;
  /** Colour pretty output. Default: only when writing to stderr, stderr is a TTY and NO_COLOR is unset. */
  color?: boolean;
}

const RANK: Readonly<Record<LogLevel, number>> = { debug: 0, info: 1, warn: 2, error: 3 };
const LABEL: Readonly<Record<LogLevel, string>> = {
  debug: "DEBUG",
  info: "INFO ",
  warn: "WARN ",
  error: "ERROR",
};
const COLOR: Readonly<Record<LogLevel, string>> = {
  debug: "\x1b[90m",
  info: "\x1b[32m",
  warn: "\x1b[33m",
  error: "\x1b[31m",
};
const RESET = "\x1b[0m";
const RESERVED = new Set(["time", "level", "msg"]);
// Controls (C0, DEL, C1) are never printed raw: an ESC or CSI in a logged value could drive the terminal.
const BARE_VALUE = /^[^\s"=\\\p{Cc}]+$/u;
const UNESCAPED_CONTROL = /[\x7f-\x9f]/g;
// A message or key with a control is quoted: a raw line feed would forge a log line.
const CONTROL = /\p{Cc}/u;
// A longer string field is cut, and a longer line keeps only its message: journald (LineMax 48K) and
// other collectors split long lines, which breaks the JSON, and a huge write holds the event loop.
const MAX_STRING_CHARS = 8192;
const MAX_LINE_CHARS = 48 * 1024;
// Error causes are followed this deep at most (a cause may be the error itself).
const MAX_CAUSE_DEPTH = 8;
const encoder = new TextEncoder();

function noop(): void {}

/** Creates a logger that drops messages below `level`. */
export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? writeStderrLine;
  const color = options.color ?? (options.write === undefined && !Deno.noColor && Deno.stderr.isTerminal());
  const threshold = RANK[options.level];
  const make = (level: LogLevel): LogFn => {
    if (RANK[level] < threshold) return noop;
    // Logging never fails its caller: a sink error (EPIPE once stderr's reader is gone) drops the line.
    if (options.format === "json") {
      return function logJson(msg, fields) {
        try {
          write(jsonLine(level, msg, fields));
        } catch { /* dropped */ }
      };
    }
    return function logPretty(msg, fields) {
      try {
        write(prettyLine(level, msg, fields, color));
      } catch { /* dropped */ }
    };
  };
  return {
    level: options.level,
    debug: make("debug"),
    info: make("info"),
    warn: make("warn"),
    error: make("error"),
    enabled: (level) => RANK[level] >= threshold,
  };
}

/**
 * Reads a level from an env value: `debug|info|warn|error`, or a RUST_LOG filter as kairos-rs used
 * (`trace` → debug, `kairos=debug,actix=warn` → the kairos directive, else the bare default). Empty → info.
 */
export function parseLogLevel(env: string | undefined): LogLevel {
  if (env === undefined || env.trim() === "") return "info";
  let global: LogLevel | undefined;
  let kairos: LogLevel | undefined;
  for (const raw of env.split(",")) {
    const directive = raw.split("/")[0].trim(); // RUST_LOG allows a trailing `/regex` filter.
    if (directive === "") continue;
    const eq = directive.indexOf("=");
    if (eq < 0) {
      // A bare word is either a level (the default) or a target name meaning "all levels for it".
      const level = toLevel(directive);
      if (level !== undefined) global = level;
      else if (isKairosTarget(directive)) kairos = mostVerbose(kairos, "debug");
      continue;
    }
    const target = directive.slice(0, eq).trim();
    if (!isKairosTarget(target)) continue;
    const value = directive.slice(eq + 1).trim();
    const level = toLevel(value);
    if (level === undefined) throw invalidLevel(env);
    kairos = mostVerbose(kairos, level);
  }
  const level = kairos ?? global;
  if (level !== undefined) return level;
  // One bare word that is no level is a typo ("verbose"), not a RUST_LOG target list.
  if (!/[,=]|::/.test(env)) throw invalidLevel(env);
  return "info";
}

function toLevel(word: string): LogLevel | undefined {
  switch (word.toLowerCase()) {
    case "trace":
    case "debug":
      return "debug";
    case "info":
      return "info";
    case "warn":
    case "warning":
      return "warn";
    case "error":
    case "off":
      return "error";
  }
  return undefined;
}

function isKairosTarget(target: string): boolean {
  return /^kairos([_-]rs)?(::|$)/.test(target.toLowerCase());
}

function mostVerbose(a: LogLevel | undefined, b: LogLevel): LogLevel {
  return a === undefined || RANK[b] < RANK[a] ? b : a;
}

function invalidLevel(env: string): TypeError {
  return new TypeError(
    `Cannot parse log level as it must be debug, info, warn, error or a RUST_LOG filter: current value is "${env}"`,
  );
}

function jsonLine(level: LogLevel, msg: string, fields: Record<string, unknown> | undefined): string {
  const record: Record<string, unknown> = { time: new Date().toISOString(), level, msg };
  if (fields !== undefined) {
    for (const key in fields) if (!RESERVED.has(key)) record[key] = fields[key];
  }
  let line: string;
  try {
    line = JSON.stringify(record, jsonReplacer);
  } catch {
    // A circular field: only now pay for tracking ancestors, so the other fields are kept.
    try {
      line = JSON.stringify(record, acyclicReplacer());
    } catch (err) {
      return JSON.stringify({ time: record.time, level, msg: truncate(msg), log_error: String(err) });
    }
  }
  if (line.length <= MAX_LINE_CHARS) return line;
  return JSON.stringify({
    time: record.time,
    level,
    msg: truncate(msg),
    log_error: `fields dropped: the line was ${line.length} characters (limit ${MAX_LINE_CHARS})`,
  });
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === "string") return truncate(value);
  if (value instanceof Error) return errorJson(value, 0);
  if (typeof value === "bigint") return value.toString();
  return value;
}

/** `jsonReplacer` that writes "[Circular]" for an object met again inside itself. */
function acyclicReplacer(): (this: unknown, key: string, value: unknown) => unknown {
  const ancestors: unknown[] = [];
  return function (this: unknown, key: string, value: unknown): unknown {
    const replaced = jsonReplacer(key, value);
    if (typeof replaced !== "object" || replaced === null) return replaced;
    // `this` holds `value`: every object entered after it has been left.
    while (ancestors.length > 0 && ancestors[ancestors.length - 1] !== this) ancestors.pop();
    if (ancestors.includes(value)) return "[Circular]";
    ancestors.push(replaced);
    return replaced;
  };
}

/** An error's name, message and cause chain (an Error's own fields are not enumerable). */
function errorJson(err: Error, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = { name: err.name, message: err.message };
  const cause = err.cause;
  if (cause instanceof Error) {
    out.cause = depth < MAX_CAUSE_DEPTH ? errorJson(cause, depth + 1) : "[cause chain truncated]";
  } else if (cause !== undefined) {
    out.cause = cause;
  }
  return out;
}

function truncate(text: string): string {
  if (text.length <= MAX_STRING_CHARS) return text;
  return `${text.slice(0, MAX_STRING_CHARS)}…[${text.length - MAX_STRING_CHARS} more characters]`;
}

function prettyLine(
  level: LogLevel,
  msg: string,
  fields: Record<string, unknown> | undefined,
  color: boolean,
): string {
  const d = new Date();
  const time = `${pad(d.getHours(), 2)}:${pad(d.getMinutes(), 2)}:${pad(d.getSeconds(), 2)}.` +
    pad(d.getMilliseconds(), 3);
  const text = CONTROL.test(msg) ? quote(msg) : truncate(msg);
  let line = color
    ? `${time} ${COLOR[level]}${LABEL[level]}${RESET} ${text}`
    : `${time} ${LABEL[level]} ${text}`;
  if (fields !== undefined) {
    for (const key in fields) {
      const name = BARE_VALUE.test(key) ? key : quote(key);
      const value = prettyValue(fields[key]);
      line += color ? ` \x1b[2m${name}=\x1b[22m${value}` : ` ${name}=${value}`;
    }
  }
  return line;
}

function prettyValue(value: unknown): string {
  if (typeof value === "string") {
    return BARE_VALUE.test(value) && value.length <= MAX_STRING_CHARS ? value : quote(value);
  }
  if (value instanceof Error) return quote(value.message);
  if (typeof value === "bigint") return value.toString();
  if (value === undefined) return "undefined";
  try {
    return (JSON.stringify(value, jsonReplacer) ?? String(value)).replace(UNESCAPED_CONTROL, escapeControl);
  } catch {
    return String(value);
  }
}

/** A JSON string literal, with DEL and C1 controls escaped too (JSON.stringify leaves them raw). */
function quote(text: string): string {
  return JSON.stringify(truncate(text)).replace(UNESCAPED_CONTROL, escapeControl);
}

function escapeControl(c: string): string {
  return `\\u00${c.charCodeAt(0).toString(16)}`;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

function writeStderrLine(line: string): void {
  writeAllSync(Deno.stderr, encoder.encode(line + "\n"));
}

/** A logger that adds `base` to every line (a worker's `worker: 2`), keeping the level. */
export function withFields(logger: Logger, base: Readonly<Record<string, unknown>>): Logger {
  const wrap = (log: LogFn): LogFn => (msg, fields) => log(msg, fields ? { ...base, ...fields } : base);
  return {
    level: logger.level,
    debug: wrap(logger.debug),
    info: wrap(logger.info),
    warn: wrap(logger.warn),
    error: wrap(logger.error),
    enabled: (level) => logger.enabled(level),
  };
}
