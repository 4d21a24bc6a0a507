/**
 * kairos-rs's section endpoints (`POST /api/config/{jwt,rate-limit,cors,server,metrics,ai}`) as edits of
 * the config document. kairos-rs stored some and ignored others; here each one is validated with the
 * whole config (dialects included) and applied, and what cannot apply is refused, not "received".
 */
import type { ConfigEdit } from "../runtime/config_store.ts";
import { ApiError } from "./api_error.ts";
import { isIgnoredKey } from "./document_edits.ts";
import { isEnvPlaceholder, REDACTED } from "./redact_secrets.ts";

/** The section names in the URL. */
export const SECTION_NAMES = ["jwt", "rate-limit", "cors", "server", "metrics", "ai"] as const;
export type SectionName = typeof SECTION_NAMES[number];

/**
 * An edit to apply (none when the body asks for what is already true), what it is, and caveats. `kept`
 * lists, once the edit ran, the settings it carried over because the body left them out.
 */
export interface SectionChange {
  readonly edit: ConfigEdit | undefined;
  readonly what: string;
  readonly note?: string;
  readonly kept?: readonly string[];
}

type Obj = Record<string, unknown>;
type MergedSection = "jwt" | "rate-limit" | "cors" | "ai";

function isObject(value: unknown): value is Obj {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * The keys each section endpoint sets as kairos-rs did: kairos-rs replaced the whole struct, so one of
 * these left out of the body is reset to its default. Every other key (Kairos-only settings such as
 * `jwt.require_exp` or `cors.max_age`, `_comment`s) keeps its value unless the body sets it or sends
 * `null`. A kairos-rs client cannot send what it does not know, so it never loses those. Every rate-limit
 * setting is a kairos-rs one in some spelling (window_duration, window_ms, requests_per_second…), so that
 * section is replaced whole; `ai.api_key` is a kairos-rs field its clients never receive (skip_serializing)
 * and kairos-rs's save erased from the file, so it is kept too.
 */
const KAIROS_RS_KEYS: Record<MergedSection, readonly string[] | "all"> = {
  jwt: ["secret", "issuer", "audience", "required_claims"],
  "rate-limit": "all",
  cors: ["allowed_origins", "allowed_methods", "allowed_headers", "allow_credentials"],
  ai: ["provider", "model"],
};

/** Spellings of one setting: a body setting one of them replaces the stored others. */
const SPELLINGS: Partial<Record<MergedSection, readonly (readonly string[])[]>> = {
  jwt: [["algorithms", "algorithm"]], // the gateway README's `"algorithm": "HS256"`
};

const CONFIG_KEYS: Record<MergedSection, string> = {
  jwt: "jwt",
  "rate-limit": "rate_limit",
  cors: "cors",
  ai: "ai",
};

/** Builds the change for `section` from a kairos-rs (or canonical) body; throws ApiError 400. */
export function sectionChange(section: SectionName, body: unknown): SectionChange {
  if (!isObject(body)) throw new ApiError(400, `Cannot update ${section}: expected a JSON object`);
  switch (section) {
    case "jwt":
      checkNewJwtSecret(body.secret);
      return merged(section, body, "JWT configuration updated", (draft) => {
        delete draft.jwt_secret; // the README dialect's spelling of the same secret
      });
    case "rate-limit":
      return merged(section, body, "Rate limit configuration updated");
    case "cors":
      return merged(section, body, "CORS configuration updated");
    case "ai":
      return {
        ...merged(section, body, "AI configuration updated"),
        note: "stored in the config; Kairos does not call LLM providers",
      };
    case "server":
      return serverChange(body);
    case "metrics":
      return metricsChange(body);
  }
}

/** The change that sets `section` from `body` by the rule of KAIROS_RS_KEYS. */
function merged(
  section: MergedSection,
  body: Obj,
  what: string,
  before?: (draft: Obj) => void,
): SectionChange {
  const key = CONFIG_KEYS[section];
  const kept: string[] = [];
  return {
    edit: (draft) => {
      before?.(draft);
      kept.length = 0;
      draft[key] = mergeSection(section, draft[key], body, (k) => kept.push(`${key}.${k}`));
    },
    what,
    kept,
  };
}

/**
 * `body` over the stored section: stored keys stay in their place, keys the body sets or resets take
 * theirs; a `null` for a key kairos-rs does not have removes it (null means "absent" to kairos-rs's serde,
 * and a body key that is absent would be kept).
 */
function mergeSection(
  section: MergedSection,
  stored: unknown,
  body: Obj,
  onKept: (key: string) => void,
): Obj {
  const replaced = KAIROS_RS_KEYS[section];
  const isKairosRs = (key: string) => replaced === "all" ? !isIgnoredKey(key) : replaced.includes(key);
  const spellings = SPELLINGS[section] ?? [];
  const inBody = (key: string) =>
    (spellings.find((names) => names.includes(key)) ?? [key]).some((name) => Object.hasOwn(body, name));
  const out: Obj = {};
  // defineProperty: a JSON body's own `__proto__` key stays a key (and fails validation as unknown).
  const set = (key: string, value: unknown) =>
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  for (const [key, value] of Object.entries(isObject(stored) ? stored : {})) {
    if (Object.hasOwn(body, key)) set(key, body[key]);
    else if (!isKairosRs(key) && !inBody(key)) {
      set(key, value);
      if (!isIgnoredKey(key)) onKept(key);
    }
  }
  for (const [key, value] of Object.entries(body)) {
    if (!Object.hasOwn(out, key)) set(key, value);
    if (value === null && !isKairosRs(key)) delete out[key];
  }
  return out;
}

const DEFAULT_JWT_SECRET = "please-change-this-secret";
const MIN_JWT_SECRET_BYTES = 32;

/**
 * kairos-rs's 400s for a secret set through this endpoint, in its words. A config file may still hold a
 * weak secret (it loads with a warning, like kairos-rs's own README example); a new one sent here may not.
 * The redacted placeholder (keep the stored secret) and `${ENV}` placeholders are not new secrets.
 */
function checkNewJwtSecret(secret: unknown): void {
  if (typeof secret !== "string" || secret === REDACTED || isEnvPlaceholder(secret)) return;
  if (secret === "") throw new ApiError(400, "JWT secret cannot be empty");
  if (secret === DEFAULT_JWT_SECRET) throw new ApiError(400, "JWT secret must be changed from default value");
  if (new TextEncoder().encode(secret).length < MIN_JWT_SECRET_BYTES) {
    throw new ApiError(400, "JWT secret should be at least 32 characters for security");
  }
}

/** kairos-rs's `{host, port, workers, keep_alive}` merged into `server`; the listener is bound and the
 * workers are running, so host, port and workers apply at the next start. */
function serverChange(body: Obj): SectionChange {
  if (typeof body.port === "number" && body.port <= 0) throw new ApiError(400, "Port must be greater than 0");
  if (typeof body.workers === "number" && body.workers <= 0) {
    throw new ApiError(400, "Workers must be greater than 0");
  }
  const { keep_alive, ...rest } = body;
  const notes: string[] = [];
  if ("host" in rest || "port" in rest || "workers" in rest) {
    notes.push(
      "host, port and workers take effect at the next restart (KAIROS_HOST/KAIROS_PORT/KAIROS_WORKERS and flags still win)",
    );
  }
  if (keep_alive !== undefined) {
    notes.push("keep_alive is ignored: Kairos always keeps client connections alive");
  }
  return {
    edit: (draft) => {
      draft.server = { ...(isObject(draft.server) ? draft.server : {}), ...rest };
    },
    what: "Server configuration updated",
    ...(notes.length > 0 ? { note: notes.join("; ") } : {}),
  };
}

/** Kairos always serves `/metrics` with per-route series; a body asking for exactly that is a no-op. */
function metricsChange(body: Obj): SectionChange {
  if (body.endpoint !== undefined && body.endpoint !== "/metrics") {
    throw new ApiError(
      400,
      `Cannot move the metrics endpoint: Kairos serves Prometheus metrics at /metrics on both listeners, got ${
        JSON.stringify(body.endpoint)
      }`,
    );
  }
  if (body.enable_per_route_metrics === false) {
    throw new ApiError(400, "Cannot turn per-route metrics off: Kairos always records them");
  }
  return {
    edit: undefined,
    what: "Metrics configuration unchanged: /metrics with per-route series is always on",
  };
}
