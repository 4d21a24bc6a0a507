/**
 * The config's source of truth next to the running Gateway: the file document (with `_comment`s, unknown
 * sections and `${ENV}` placeholders as written), its text, and the history of reloads. Every change (file,
 * SIGHUP, admin API) goes through here, one at a time, and reaches the Gateway through `apply()`, the one
 * place that swaps the snapshot. API edits are validated, applied, then persisted atomically.
 */
import { createHash } from "node:crypto";
import type { ConfigFormat } from "../config/parse_text.ts";
import { loadConfigFile, type LoadResult, validateConfig, type ValidationResult } from "../config/load.ts";
import { locateProblems } from "../config/source_positions.ts";
import { type ConfigProblem, formatProblems } from "../config/problems.ts";
import type { Config } from "../config/schema.ts";
import type { ReloadResult } from "../observe/gateway_metrics.ts";
import type { Logger } from "../observe/logger.ts";
import { atomicWriteTextFile } from "./atomic_write.ts";
import { ConfigChangeError } from "./config_change_error.ts";
import { renderConfigText } from "./config_text.ts";
import type { ReloadOutcome } from "./gateway.ts";

/** The part of the Gateway the store drives. */
export interface ConfigTarget {
  readonly snapshot: { readonly version: number; readonly config: Config };
  apply(config: Config): ReloadOutcome;
  /** Resolves once the other worker processes run `config` too (server.workers > 1). */
  settled?(config: Config): Promise<void>;
  readonly metrics: { configReload(result: ReloadResult): void };
}

/** What started a reload. */
export type ReloadTrigger = "startup" | "api" | "file" | "signal";

/** The outcome of the last reload, as `/api/config/status` shows it. */
export interface ReloadRecord {
  readonly result: ReloadResult;
  readonly trigger: ReloadTrigger;
  readonly at: string;
  readonly version: number;
  readonly duration_ms: number;
  readonly errors: readonly ConfigProblem[];
  readonly warnings: readonly ConfigProblem[];
}

/** Who asks for a change and what it is, for the audit line; `ifMatch` is the client's `If-Match`. */
export interface ChangeMeta {
  readonly who: string;
  readonly action: string;
  readonly target?: string;
  readonly ifMatch?: string | null;
}

/** A change that was applied. `persisted` false: it runs, but the file still holds the old config. */
export interface ChangeApplied {
  readonly version: number;
  readonly changed: boolean;
  readonly persisted: boolean;
  readonly persistError?: string;
  readonly warnings: readonly ConfigProblem[];
  readonly hash: string;
  readonly durationMs: number;
}

/** Edits a copy of the file document in place, or returns a whole new document. */
export type ConfigEdit = (draft: Record<string, unknown>) => unknown;

export interface ConfigStoreOptions {
  readonly path: string;
  /** The startup load (must be ok). */
  readonly loaded: LoadResult & { ok: true };
  readonly target: ConfigTarget;
  readonly logger: Logger;
}

/** SHA-256 of `text` as hex. Synchronous, so a change and its hash land in the same step. */
export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Owns the config document and serializes every change to it. */
export class ConfigStore {
  readonly path: string;
  readonly format: ConfigFormat;
  readonly #target: ConfigTarget;
  readonly #logger: Logger;
  #raw: Record<string, unknown>;
  #text: string;
  #fileHash = "";
  #hash = "";
  #loadedAt = new Date();
  #persisted = true;
  #persistError: string | undefined;
  #last: ReloadRecord;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: ConfigStoreOptions) {
    this.path = options.path;
    this.format = options.loaded.format;
    this.#target = options.target;
    this.#logger = options.logger;
    this.#raw = options.loaded.raw as Record<string, unknown>;
    this.#text = options.loaded.text;
    this.#last = this.#record("success", "startup", 0, [], options.loaded.warnings);
    this.#fileHash = sha256Hex(this.#text);
    this.#hash = sha256Hex(JSON.stringify(this.config));
  }

  /** The running config (validated, env placeholders expanded). */
  get config(): Config {
    return this.#target.snapshot.config;
  }

  /** The config version: the snapshot version, bumped by every change that took effect. */
  get version(): number {
    return this.#target.snapshot.version;
  }

  /** The document as the file has it (or would, when it could not be written). Do not mutate. */
  get document(): Readonly<Record<string, unknown>> {
    return this.#raw;
  }

  /** Everything `/api/config/status` reports. */
  status() {
    return {
      version: this.version,
      hash: this.#hash,
      loaded_at: this.#loadedAt.toISOString(),
      path: this.path,
      format: this.format,
      persisted: this.#persisted,
      persist_error: this.#persistError ?? null,
      last_reload: this.#last,
    };
  }

  /** Validates a document as `update()` would, without applying it. */
  validate(document: unknown): ValidationResult {
    return validateConfig(document);
  }

  /** Rereads the file and applies it. A `file` trigger whose text did not change is skipped. */
  reloadFromFile(trigger: ReloadTrigger): Promise<ReloadRecord> {
    return this.#exclusive(async () => {
      const started = performance.now();
      const loaded = await loadConfigFile(this.path);
      const fileHash = sha256Hex(loaded.text);
      if (trigger === "file" && fileHash === this.#fileHash) return this.#last;
      this.#fileHash = fileHash;
      if (!loaded.ok) return this.#failed(trigger, started, loaded.errors, loaded.warnings);
      const outcome = this.#target.apply(loaded.config);
      if (!outcome.ok) {
        const errors = await locateProblems(loaded.text, outcome.errors);
        return this.#failed(trigger, started, errors, loaded.warnings, false);
      }
      this.#raw = loaded.raw as Record<string, unknown>;
      this.#text = loaded.text;
      this.#persisted = true;
      this.#persistError = undefined;
      // No await between the swap and these: /api/config/status never shows the new version with the
      // old hash or the old last reload.
      if (outcome.changed) this.#changed();
      const record = this.#last = this.#record(
        outcome.changed ? "success" : "unchanged",
        trigger,
        started,
        [],
        loaded.warnings,
      );
      if (outcome.changed) await this.#target.settled?.(loaded.config);
      return record;
    });
  }

  /**
   * Applies an edit of the file document: validate, swap the snapshot, persist atomically, audit.
   * Throws ConfigChangeError (412 stale `If-Match`, 400 invalid) and whatever `edit` throws.
   */
  update(edit: ConfigEdit, meta: ChangeMeta): Promise<ChangeApplied> {
    return this.#exclusive(async () => {
      const started = performance.now();
      if (meta.ifMatch && !etagMatches(meta.ifMatch, this.version)) {
        throw new ConfigChangeError(
          412,
          `Cannot apply the change as the config changed: If-Match is ${meta.ifMatch}, current version is "${this.version}"`,
        );
      }
      await this.#refuseUnloadedFileEdit();
      const draft = structuredClone(this.#raw);
      const replaced = edit(draft);
      const next = replaced === undefined ? draft : replaced;
      const result = this.validate(next);
      if (!result.ok) {
        throw new ConfigChangeError(
          400,
          `Config validation failed:\n${formatProblems(result.errors)}`,
          result.errors,
        );
      }
      const document = next as Record<string, unknown>;
      const beforeHash = this.#hash;
      const outcome = this.#target.apply(result.config);
      if (!outcome.ok) {
        throw new ConfigChangeError(
          400,
          `Cannot apply the config:\n${formatProblems(outcome.errors)}`,
          outcome.errors,
        );
      }
      this.#raw = document;
      if (outcome.changed) this.#changed();
      this.#last = this.#record(
        outcome.changed ? "success" : "unchanged",
        "api",
        started,
        [],
        result.warnings,
      );
      // Answered only when every worker routes by the new config, so "applied at once" holds for all.
      if (outcome.changed) await this.#target.settled?.(result.config);
      const written = await this.#persist(document);
      const durationMs = Math.round((performance.now() - started) * 100) / 100;
      this.#logger.info("config change", {
        who: meta.who,
        action: meta.action,
        ...(meta.target !== undefined ? { target: meta.target } : {}),
        before_hash: beforeHash.slice(0, 16),
        after_hash: this.#hash.slice(0, 16),
        version: this.version,
        persisted: written.persisted,
      });
      return {
        version: this.version,
        changed: outcome.changed,
        ...written,
        warnings: result.warnings,
        hash: this.#hash,
        durationMs,
      };
    });
  }

  #changed(): void {
    this.#hash = sha256Hex(JSON.stringify(this.config));
    this.#loadedAt = new Date();
  }

  /**
   * Writing the document over a file edited since it was last loaded (the watcher waits for the edit to
   * settle; a broken edit does not load) would silently lose that edit: refuse, as for a stale If-Match.
   * A missing or unreadable file has no edit to keep (the persist step reports what it can).
   */
  async #refuseUnloadedFileEdit(): Promise<void> {
    let text;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(await Deno.readFile(this.path));
    } catch {
      return;
    }
    if (text === this.#text) return;
    throw new ConfigChangeError(
      409,
      `Cannot apply the change as the config file "${this.path}" was edited since it was last loaded ` +
        `and the change would overwrite that edit: reload it (POST /api/config/reload) or undo it, then retry`,
    );
  }

  async #persist(document: Record<string, unknown>): Promise<{ persisted: boolean; persistError?: string }> {
    let text = this.#text;
    try {
      // Inside the try: the change already runs, so a render failure is reported as not persisted.
      text = await renderConfigText(document, this.format, this.#text);
      const info = await Deno.stat(this.path).catch(() => undefined);
      // A file without write bits is read-only by intent, even to root (who could write it anyway).
      if (info?.mode != null && (info.mode & 0o222) === 0) {
        throw new Error(`the file is read-only (mode ${(info.mode & 0o777).toString(8).padStart(4, "0")})`);
      }
      if (text !== this.#text) await atomicWriteTextFile(this.path, text);
    } catch (err) {
      const persistError = `Cannot write config file "${this.path}": ${(err as Error).message}`;
      this.#persisted = false;
      this.#persistError = persistError;
      this.#logger.warn("config change applied in memory only", { error: persistError });
      return { persisted: false, persistError };
    }
    this.#text = text;
    this.#fileHash = sha256Hex(text);
    this.#persisted = true;
    this.#persistError = undefined;
    return { persisted: true };
  }

  #failed(
    trigger: ReloadTrigger,
    started: number,
    errors: readonly ConfigProblem[],
    warnings: readonly ConfigProblem[],
    count = true,
  ): ReloadRecord {
    // Gateway.apply() counts its own failures; file and validation failures are counted here.
    if (count) this.#target.metrics.configReload("failure");
    this.#persisted = false;
    for (const problem of errors) {
      this.#logger.error("config problem", {
        path: problem.path,
        problem: problem.message,
        line: problem.line,
      });
    }
    this.#logger.error("config reload failed; keeping the running config", {
      trigger,
      file: this.path,
      problems: errors.length,
    });
    return this.#last = this.#record("failure", trigger, started, errors, warnings);
  }

  #record(
    result: ReloadResult,
    trigger: ReloadTrigger,
    started: number,
    errors: readonly ConfigProblem[],
    warnings: readonly ConfigProblem[],
  ): ReloadRecord {
    const duration_ms = started === 0 ? 0 : Math.round((performance.now() - started) * 100) / 100;
    return {
      result,
      trigger,
      at: new Date().toISOString(),
      version: this.version,
      duration_ms,
      errors,
      warnings,
    };
  }

  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => {});
    return run;
  }
}

/** `If-Match` holds `*` or a list of ETags; ours is the quoted version. RFC 9110 §13.1.1: strong
 * comparison, so a weak tag never matches. */
function etagMatches(header: string, version: number): boolean {
  return header.split(",").some((tag) => {
    const t = tag.trim();
    return t === "*" || t === `"${version}"`;
  });
}
