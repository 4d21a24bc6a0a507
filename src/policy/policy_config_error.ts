/**
 * A policy section that cannot be compiled (bad regex, condition, CIDR, key, ...). `path` is the
 * config path (`routers[2].cors.allowed_origins[0]`), so the loader can report it like a schema error.
 */
export class PolicyConfigError extends Error {
  readonly path: string;
  /** The message without the path. */
  readonly problem: string;

  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super(`${path}: ${message}`, options);
    this.name = "PolicyConfigError";
    this.path = path;
    this.problem = message;
  }
}
