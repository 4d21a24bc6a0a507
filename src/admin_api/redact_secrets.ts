/**
 * Secrets out of admin API reads, and back into writes. A GET replaces every secret with `REDACTED`;
 * a client that sends the document back unchanged (the admin page does) gets the real secret restored
 * from the running config, so a round trip never writes the placeholder into the file.
 */

/** What a secret reads as. */
export const REDACTED = "***redacted***";

// jwt.secret, kairos-rs's jwt_secret, admin.token, api_keys[].sha256 (a short key's hash can be brute
// forced offline), and the usual credential names for sections added later.
const SECRET_KEYS =
  /^(secret|jwt_secret|token|password|passwd|client_secret|private_key|api_key|apikey|sha256)$/i;
// Header and query-parameter actions whose value is a credential (`{action, name, value}`; a `replace`
// action writes its `replacement` into the header).
const SECRET_NAMES =
  /^(authorization|proxy-authorization|cookie|x-api-key|api[-_]?key|.*(token|secret|password).*)$/i;
// scheme://user:password@host
const URL_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*:)([^/?#@]+)@/i;
// A whole value that is a `${NAME}` placeholder names a variable; it is not the secret itself.
const PLACEHOLDER = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/;

type Obj = Record<string, unknown>;

function isObject(value: unknown): value is Obj {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Whether a whole value is a `${NAME}` placeholder (it names a variable, it is not a secret). */
export function isEnvPlaceholder(value: string): boolean {
  return PLACEHOLDER.test(value);
}

function secretField(key: string, holder: Obj): boolean {
  if (SECRET_KEYS.test(key)) return true;
  return (key === "value" || key === "replacement") && typeof holder.name === "string" &&
    SECRET_NAMES.test(holder.name);
}

/** A copy of `value` with secrets replaced by `REDACTED` (URL passwords in place). */
export function redactSecrets<T>(value: T): T {
  return redact(value) as T;
}

function redact(node: unknown): unknown {
  if (typeof node === "string") return node.replace(URL_PASSWORD, `$1${REDACTED}@`);
  if (Array.isArray(node)) return node.map(redact);
  if (!isObject(node)) return node;
  const out: Obj = {};
  for (const [key, item] of Object.entries(node)) {
    out[key] = typeof item === "string" && secretField(key, node) && !isEnvPlaceholder(item)
      ? REDACTED
      : redact(item);
  }
  return out;
}

/** The restored document, and the paths of placeholders no source could fill. */
export interface RestoreResult {
  readonly value: unknown;
  readonly unresolved: string[];
}

/**
 * Replaces `REDACTED` in `next` with the value at the same place in the first source that has one.
 * Routes (`routers[]`) are matched by `external_path` so a reordered or shortened list still matches;
 * other arrays by index. Sources are tried in order (the file document first, so `${ENV}` placeholders
 * stay placeholders).
 */
export function restoreSecrets(next: unknown, sources: readonly unknown[]): RestoreResult {
  const unresolved: string[] = [];
  const walk = (node: unknown, counterparts: readonly unknown[], path: string, key: string): unknown => {
    if (typeof node === "string") {
      if (!node.includes(REDACTED)) return node;
      for (const candidate of counterparts) {
        if (typeof candidate !== "string") continue;
        if (node === REDACTED || candidate.replace(URL_PASSWORD, `$1${REDACTED}@`) === node) return candidate;
      }
      unresolved.push(path);
      return node;
    }
    if (Array.isArray(node)) {
      return node.map((item, i) => {
        const parts = counterparts.map((c) => Array.isArray(c) ? counterpartIn(c, item, i, key) : undefined);
        return walk(item, parts, `${path}[${i}]`, "");
      });
    }
    if (!isObject(node)) return node;
    const out: Obj = {};
    for (const [k, item] of Object.entries(node)) {
      const parts = counterparts.map((c) => isObject(c) ? c[k] : undefined);
      out[k] = walk(item, parts, path === "" ? k : `${path}.${k}`, k);
    }
    return out;
  };
  const value = walk(next, sources, "", "");
  return { value, unresolved };
}

function counterpartIn(list: readonly unknown[], item: unknown, index: number, key: string): unknown {
  if (key === "routers" && isObject(item) && typeof item.external_path === "string") {
    return list.find((r) => isObject(r) && r.external_path === item.external_path);
  }
  return list[index];
}
