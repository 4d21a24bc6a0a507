/**
 * API keys for service-to-service routes (`auth.api_keys`). The config holds only SHA-256 digests;
 * a presented key is hashed and compared with every digest in constant time, so neither the match
 * nor its position leaks through timing.
 */
import { Buffer } from "node:buffer";
import { createHash, timingSafeEqual } from "node:crypto";
import type { ApiKeysConfig } from "../config/policy_schema.ts";
import type { RequestContext } from "../proxy/context.ts";
import { PolicyConfigError } from "./policy_config_error.ts";
import { editQuery, type QueryEdit } from "./query_edit.ts";

/** A compiled key list. */
export interface ApiKeyMatcher {
  /** The presented key, from the header or the query parameter; undefined when none was sent. */
  extract(ctx: RequestContext): string | undefined;
  /** The matching key's id, or undefined. */
  match(presented: string): string | undefined;
  /** Removes the key from what goes upstream (it is a secret of the caller). */
  strip(ctx: RequestContext): void;
}

/** Compiles `api_keys` (config path `path`). */
export function compileApiKeys(config: ApiKeysConfig, path: string): ApiKeyMatcher {
  if (config.header === null && config.query === undefined) {
    throw new PolicyConfigError(path, 'expected "header" or "query" to say where the key is sent');
  }
  const header = config.header?.toLowerCase();
  const query = config.query;
  const removeQuery: QueryEdit[] = query ? [{ kind: "remove", name: query }] : [];
  const seen = new Set<string>();
  const keys = config.keys.map((key, i) => {
    const hex = key.sha256.toLowerCase();
    if (seen.has(hex)) throw new PolicyConfigError(`${path}.keys[${i}].sha256`, "duplicate key digest");
    seen.add(hex);
    return { id: key.id, digest: Buffer.from(hex, "hex") };
  });

  return {
    extract(ctx) {
      if (header) {
        const value = ctx.request.headers.get(header);
        if (value !== null) return value;
      }
      if (query && ctx.query.length > 1) {
        const value = new URLSearchParams(ctx.query).get(query);
        if (value !== null) return value;
      }
      return undefined;
    },
    match(presented) {
      const digest = createHash("sha256").update(presented).digest();
      let id: string | undefined;
      for (const key of keys) {
        // No early exit: the loop takes the same time wherever the key is.
        if (timingSafeEqual(digest, key.digest) && id === undefined) id = key.id;
      }
      return id;
    },
    strip(ctx) {
      if (header) ctx.upstreamHeaders.delete(header);
      if (query && ctx.upstreamQuery.length > 1) {
        ctx.upstreamQuery = editQuery(ctx.upstreamQuery, removeQuery);
      }
    },
  };
}
