/**
 * kairos-rs's section endpoints (`POST /api/config/{jwt,rate-limit,cors,server,metrics,ai}`) as edits of
 * the config document. kairos-rs stored some and ignored others; here each one is validated with the
 * whole config (dialects included) and applied, and what cannot apply is refused, not "received".
 */
import type { ConfigEdit } from "../runtime/config_store.ts";
import { ApiError } from "./api_error.ts";
import { isEnvPlaceholder, REDACTED } from "./redact_secrets.ts";

/** The section names in the URL. */
export const SECTION_NAMES = ["jwt", "rate-limit", "cors", "server", "metrics", "ai"] as const;
export type SectionName = typeof SECTION_NAMES[number];

/** An edit to apply (none when the body asks for what is already true), what it is, and caveats. */
export interface SectionChange {
  readonly edit: ConfigEdit | undefined;
  readonly what: string;
  readonly note?: string;
}

type Obj = Record<string, unknown>;

function isObject(value: unknown): value is Obj {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Builds the change for `section` from a kairos-rs (or canonical) body; throws ApiError 400. */
export function sectionChange(section: SectionName, body: unknown): SectionChange {
  if (!isObject(body)) throw new ApiError(400, `Cannot update ${section}: expected a JSON object`);
  switch (section) {
    case "jwt":
      checkNewJwtSecret(body.secret);
      return {
        edit: (draft) => {
          delete draft.jwt_secret; // the README dialect's spelling of the same secret
          draft.jwt = body;
        },
        what: "JWT configuration updated",
      };
    case "rate-limit":
      return { edit: replace("rate_limit", body), what: "Rate limit configuration updated" };
    case "cors":
      return { edit: replace("cors", body), what: "CORS configuration updated" };
    case "ai":
      return {
        edit: (draft) => {
          // kairos-rs clients never send api_key (it is skip_serializing there) and kairos-rs's save then
          // erased it from the file: a body without one keeps the stored key.
          const before = draft.ai;
          const keep = isObject(before) && before.api_key !== undefined && !("api_key" in body);
          draft.ai = keep ? { ...body, api_key: before.api_key } : body;
        },
        what: "AI configuration updated",
        note: "stored in the config; Kairos does not call LLM providers",
      };
    case "server":
      return serverChange(body);
    case "metrics":
      return metricsChange(body);
  }
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

function replace(key: string, body: Obj): ConfigEdit {
  return (draft) => {
    draft[key] = body;
  };
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
