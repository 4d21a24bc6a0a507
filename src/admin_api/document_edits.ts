/**
 * What every admin write does to a config document before the store validates it: restore redacted
 * secrets from the running document, and carry over what the API does not model (`_comment`-style keys,
 * `$schema`, unknown top-level sections) when a client replaces a whole document or route.
 */
import { normalizeConfig, stripIgnoredKeys } from "../config/normalize.ts";
import { configSchema } from "../config/schema.ts";
import { ConfigChangeError } from "../runtime/config_change_error.ts";
import { restoreSecrets } from "./redact_secrets.ts";

type Obj = Record<string, unknown>;

function isObject(value: unknown): value is Obj {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Keys the API never shows as config: comments (`_…`) and `$schema`. */
export function isIgnoredKey(key: string): boolean {
  return key.startsWith("_") || key === "$schema";
}

/**
 * `next` with every `REDACTED` replaced from `previous` (the running file document) or, for a secret
 * the file spells in a kairos-rs dialect (`jwt_secret`), from its canonical shape. Throws
 * ConfigChangeError 400 naming the paths it could not fill.
 */
export function restoreRedacted(next: unknown, previous: unknown): unknown {
  const sources = [previous, normalizeConfig(stripIgnoredKeys(previous)).value];
  const restored = restoreSecrets(next, sources);
  if (restored.unresolved.length > 0) {
    const errors = restored.unresolved.map((path) => ({
      path,
      message:
        "Cannot restore the redacted secret here: there is no secret at this place to keep; send the real value",
    }));
    throw new ConfigChangeError(
      400,
      `Cannot restore redacted secrets at ${restored.unresolved.join(", ")}`,
      errors,
    );
  }
  return restored.value;
}

/**
 * Copies into `next` what `previous` has and the API does not model, where `next` lacks it: ignored keys
 * at every level (routes matched by `external_path`), and top-level sections the schema does not know.
 */
export function keepUnmodeledKeys(next: unknown, previous: unknown): unknown {
  if (!isObject(next) || !isObject(previous)) return next;
  const out = carryIgnored(next, previous);
  for (const [key, value] of Object.entries(previous)) {
    // `jwt_secret` is a kairos-rs spelling of jwt.secret, not an unknown section.
    if (!(key in configSchema.shape) && key !== "jwt_secret" && !Object.hasOwn(out, key)) out[key] = value;
  }
  return out;
}

/** Copies `_…` keys and `$schema` from `previous` into `next` where it lacks them, at every level. */
export function keepIgnoredKeys(next: unknown, previous: unknown): unknown {
  return isObject(next) && isObject(previous) ? carryIgnored(next, previous) : next;
}

function carryIgnored(next: Obj, previous: Obj): Obj {
  const out: Obj = {};
  // Comments first, where a reader expects them.
  for (const [key, value] of Object.entries(previous)) {
    if (isIgnoredKey(key) && !Object.hasOwn(next, key)) out[key] = value;
  }
  for (const [key, value] of Object.entries(next)) {
    const before = previous[key];
    if (isObject(value) && isObject(before)) out[key] = carryIgnored(value, before);
    else if (Array.isArray(value) && Array.isArray(before)) out[key] = carryIgnoredItems(key, value, before);
    else out[key] = value;
  }
  return out;
}

function carryIgnoredItems(key: string, next: unknown[], previous: unknown[]): unknown[] {
  return next.map((item, i) => {
    const before = key === "routers" && isObject(item)
      ? previous.find((r) => isObject(r) && r.external_path === item.external_path)
      : previous[i];
    return isObject(item) && isObject(before) ? carryIgnored(item, before) : item;
  });
}
