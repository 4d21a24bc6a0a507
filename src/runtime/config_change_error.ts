/**
 * A config change that was refused: the HTTP status the admin API answers with, a message, and the
 * problems with their JSON paths. Thrown by `ConfigStore.update()` and by the edits it runs.
 */
import type { ConfigProblem } from "../config/problems.ts";

/** Statuses a refused change maps to: invalid (400), missing (404), exists (409), stale (412). */
export type ChangeRefusal = 400 | 404 | 409 | 412 | 422;

/** A refused config change; callers turn it into `{success: false, message, errors}`. */
export class ConfigChangeError extends Error {
  override readonly name = "ConfigChangeError";
  constructor(
    readonly status: ChangeRefusal,
    message: string,
    readonly errors: readonly ConfigProblem[] = [],
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
