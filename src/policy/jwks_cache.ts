/**
 * JSON Web Key Sets fetched from `jwt.jwks_url`, one entry per URL, shared by every route and
 * snapshot of a process (so a reload does not refetch). A set is used until it is `cacheMs` old, then
 * refreshed in the background while the old keys stay in use. A token with an unknown `kid` triggers
 * a refetch (key rotation), at most once per `cooldownMs`. A failed fetch keeps the last good set:
 * an identity provider outage does not lock users out while their keys are known.
 */
import type { createLocalJWKSet, FlattenedJWSInput, JWSHeaderParameters } from "jose";
import { joseModule } from "./jose_module.ts";
import { readBytesUpTo } from "../proxy/body_bytes.ts";

/** Resolves the verification key for a token's protected header (jose's key-function shape). */
export type JwksKeyFunction = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;

/** The key function of one URL, with a counter that changes whenever a new set is loaded. */
export type JwksKeys = JwksKeyFunction & { readonly generation: number };

export interface JwksOptions {
  /** Age after which the set is refreshed in the background. */
  readonly cacheMs: number;
  /** Least time between two fetches after the first. */
  readonly cooldownMs: number;
  /** Fetch timeout. */
  readonly timeoutMs: number;
  readonly log?: (level: "warn" | "info", msg: string, fields?: Record<string, unknown>) => void;
}

/** The shared cache. */
export interface JwksCache {
  /** The key function for `url` (the entry is created on first use; later options win). */
  keys(url: string, options: JwksOptions): JwksKeys;
  /** Aborts fetches in flight and forgets every set. */
  dispose(): void;
}

/** Thrown when no key set could ever be fetched for a URL (the token cannot be judged). */
export class JwksUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "JwksUnavailableError";
  }
}

const MAX_JWKS_BYTES = 1 << 20;

/** Creates an empty cache; `fetchFn` is for tests. */
export function createJwksCache(fetchFn: typeof fetch = fetch): JwksCache {
  const entries = new Map<string, JwksEntry>();
  return {
    keys(url, options) {
      let entry = entries.get(url);
      if (!entry) entries.set(url, entry = new JwksEntry(url, fetchFn));
      entry.options = options;
      return entry.keys;
    },
    dispose() {
      for (const entry of entries.values()) entry.dispose();
      entries.clear();
    },
  };
}

type LocalSet = ReturnType<typeof createLocalJWKSet>;

class JwksEntry {
  options!: JwksOptions;
  #url: string;
  #fetch: typeof fetch;
  #set: LocalSet | undefined;
  #fetchedAt = 0;
  #attemptedAt = -Infinity;
  #inflight: Promise<void> | undefined;
  #controller: AbortController | undefined;
  #generation = 0;
  /** `resolve` with the generation attached (so verifiers can drop what they cached for older sets). */
  readonly keys: JwksKeys;

  constructor(url: string, fetchFn: typeof fetch) {
    this.#url = url;
    this.#fetch = fetchFn;
    this.keys = Object.defineProperty(this.resolve, "generation", {
      get: () => this.#generation,
    }) as JwksKeys;
  }

  resolve = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> => {
    const now = Date.now();
    if (!this.#set) {
      if (this.#inflight || this.#cooledDown(now)) await this.#refresh(now);
      if (!this.#set) throw new JwksUnavailableError(`Cannot fetch signing keys from ${this.#url}`);
    } else if (now - this.#fetchedAt >= this.options.cacheMs && this.#cooledDown(now)) {
      void this.#refresh(now); // background: errors are logged there, the current set stays in use
    }
    try {
      return await this.#set(header, token);
    } catch (err) {
      // An unknown kid may be a rotated key: refetch (or join the fetch in flight), then retry once.
      if ((err as { code?: string }).code !== "ERR_JWKS_NO_MATCHING_KEY") throw err;
      if (!this.#inflight && !this.#cooledDown(now)) throw err;
      await this.#refresh(now);
      return await this.#set!(header, token);
    }
  };

  dispose(): void {
    this.#controller?.abort();
    this.#set = undefined;
  }

  #cooledDown(now: number): boolean {
    return !this.#inflight && now - this.#attemptedAt >= this.options.cooldownMs;
  }

  /** Fetches the set once (concurrent callers share the fetch); never throws. */
  #refresh(now: number): Promise<void> {
    if (this.#inflight) return this.#inflight;
    this.#attemptedAt = now;
    return this.#inflight = this.#load().then(
      (set) => {
        this.#set = set;
        this.#fetchedAt = Date.now();
        this.#generation++;
      },
      (err) => {
        this.options.log?.("warn", "JWKS fetch failed; keeping the last good keys", {
          url: this.#url,
          error: err instanceof Error ? err.message : String(err),
          has_keys: this.#set !== undefined,
        });
      },
    ).finally(() => this.#inflight = undefined);
  }

  async #load(): Promise<LocalSet> {
    const controller = this.#controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new Error(`timed out after ${this.options.timeoutMs} ms`)),
      this.options.timeoutMs,
    );
    try {
      const response = await this.#fetch(this.#url, {
        signal: controller.signal,
        headers: { accept: "application/jwk-set+json, application/json" },
      });
      if (!response.ok) {
        await response.body?.cancel();
        throw new Error(`HTTP status ${response.status}`);
      }
      const { createLocalJWKSet } = await joseModule();
      return createLocalJWKSet(JSON.parse(await readLimited(response, MAX_JWKS_BYTES)));
    } finally {
      clearTimeout(timer);
    }
  }
}

async function readLimited(response: Response, limit: number): Promise<string> {
  if (!response.body) return "";
  const bytes = await readBytesUpTo(
    response.body,
    limit,
    () => new Error(`key set larger than ${limit} bytes`),
  );
  return new TextDecoder().decode(bytes);
}
