/**
 * Active health checks: every `interval_ms` each backend with a `health_check_path` is probed;
 * `unhealthy_threshold` consecutive failures mark it unhealthy (balancers skip it) and
 * `healthy_threshold` consecutive successes bring it back. kairos-rs never ran these.
 */
import type { HealthCheckConfig } from "../config/schema.ts";
import type { BackendState } from "./backend_state.ts";

/**
 * Probes one backend; resolves true when it is healthy. The runtime sends `GET <health_check_path>`
 * and counts 2xx/3xx as healthy. `signal` aborts when the probe times out or checking stops; a
 * rejection or a probe outliving `timeoutMs` counts as a failure.
 */
export type HealthProbe = (backend: BackendState, timeoutMs: number, signal: AbortSignal) => Promise<boolean>;

export interface HealthCheckerOptions {
  readonly probe: HealthProbe;
  /** Called when a backend's `healthy` flips (for logs and metrics). */
  readonly onChange?: (backend: BackendState, healthy: boolean) => void;
}

/** One backend to check and how. */
export interface HealthCheckEntry {
  readonly backend: BackendState;
  readonly config: HealthCheckConfig;
}

type Timer = ReturnType<typeof setTimeout>;

interface Check {
  readonly backend: BackendState;
  config: HealthCheckConfig;
  interval: Timer | undefined;
  /** The in-flight probe's controller; null when idle. */
  controller: AbortController | null;
  timeout: Timer | undefined;
  successes: number;
  failures: number;
  active: boolean;
}

/** Runs the active checks of the current snapshot; `update()` on reload, `stop()` on shutdown. */
export class HealthChecker {
  readonly #probe: HealthProbe;
  readonly #onChange: ((backend: BackendState, healthy: boolean) => void) | undefined;
  readonly #checks = new Map<string, Check>();
  #stopped = false;

  constructor(options: HealthCheckerOptions) {
    this.#probe = options.probe;
    this.#onChange = options.onChange;
  }

  /** Backends currently being checked. */
  get size(): number {
    return this.#checks.size;
  }

  /**
   * Makes `entries` the set of checked backends (one per backend key; the last entry wins). A backend
   * whose check is unchanged keeps its counters and timer phase; a new one is probed at once; one no
   * longer listed stops being checked and counts as healthy again, as nothing checks it any more.
   */
  update(entries: readonly HealthCheckEntry[]): void {
    if (this.#stopped) throw new Error("Cannot update health checks as the health checker is stopped");
    const wanted = new Map<string, HealthCheckEntry>();
    for (const entry of entries) wanted.set(entry.backend.key, entry);
    for (const [key, check] of this.#checks) {
      const entry = wanted.get(key);
      if (entry === undefined || entry.backend !== check.backend) {
        this.#remove(key, check, entry === undefined);
      }
    }
    for (const [key, entry] of wanted) {
      const check = this.#checks.get(key);
      if (check === undefined) {
        this.#start(key, entry);
      } else if (check.config.interval_ms !== entry.config.interval_ms) {
        check.config = entry.config;
        clearInterval(check.interval);
        check.interval = this.#schedule(check);
        void this.#run(check);
      } else {
        check.config = entry.config;
      }
    }
  }

  /**
   * Counts a real request's outcome like a probe's ("passive" checks, as nginx's max_fails): a backend that
   * fails `unhealthy_threshold` requests in a row is taken out before the next probe would notice. Only
   * backends with an active check count: nothing else could bring them back.
   */
  observe(backend: BackendState, ok: boolean): void {
    if (this.#checks.size === 0) return;
    const check = this.#checks.get(backend.key);
    if (check !== undefined && check.active && check.backend === backend) this.#record(check, ok);
  }

  /** Stops every check and aborts in-flight probes; leaves no timers behind. Health flags stay as they are. */
  stop(): void {
    this.#stopped = true;
    for (const check of this.#checks.values()) this.#halt(check);
    this.#checks.clear();
  }

  #start(key: string, entry: HealthCheckEntry): void {
    const check: Check = {
      backend: entry.backend,
      config: entry.config,
      interval: undefined,
      controller: null,
      timeout: undefined,
      successes: 0,
      failures: 0,
      active: true,
    };
    check.interval = this.#schedule(check);
    this.#checks.set(key, check);
    void this.#run(check);
  }

  #schedule(check: Check): Timer {
    return setInterval(() => void this.#run(check), check.config.interval_ms);
  }

  #remove(key: string, check: Check, restoreHealth: boolean): void {
    this.#halt(check);
    this.#checks.delete(key);
    if (restoreHealth && !check.backend.healthy) this.#set(check.backend, true);
  }

  #halt(check: Check): void {
    check.active = false;
    clearInterval(check.interval);
    clearTimeout(check.timeout);
    check.controller?.abort(new DOMException("Health checking stopped", "AbortError"));
  }

  /** One probe; never rejects. A tick that finds the previous probe still running is skipped. */
  async #run(check: Check): Promise<void> {
    if (check.controller !== null || !check.active) return;
    const controller = new AbortController();
    check.controller = controller;
    const timeoutMs = check.config.timeout_ms;
    const timedOut = new Promise<false>((resolve) => {
      check.timeout = setTimeout(() => {
        controller.abort(
          new DOMException(
            `Health check of "${check.backend.key}" timed out after ${timeoutMs} ms`,
            "TimeoutError",
          ),
        );
        resolve(false);
      }, timeoutMs);
    });
    let probing: Promise<boolean>;
    try {
      probing = this.#probe(check.backend, timeoutMs, controller.signal).then(
        (ok) => ok === true,
        () => false,
      );
    } catch {
      probing = Promise.resolve(false);
    }
    const ok = await Promise.race([probing, timedOut]);
    clearTimeout(check.timeout);
    check.timeout = undefined;
    if (check.active) this.#record(check, ok);
    // Never two probes of one backend at once: the next waits until this one has really ended.
    await probing;
    check.controller = null;
  }

  #record(check: Check, ok: boolean): void {
    const { backend, config } = check;
    if (ok) {
      check.failures = 0;
      check.successes = Math.min(check.successes + 1, config.healthy_threshold);
      if (!backend.healthy && check.successes >= config.healthy_threshold) this.#set(backend, true);
    } else {
      check.successes = 0;
      check.failures = Math.min(check.failures + 1, config.unhealthy_threshold);
      if (backend.healthy && check.failures >= config.unhealthy_threshold) this.#set(backend, false);
    }
  }

  #set(backend: BackendState, healthy: boolean): void {
    backend.healthy = healthy;
    if (this.#onChange === undefined) return;
    try {
      this.#onChange(backend, healthy);
    } catch (err) {
      console.error(`Cannot report health change of backend "${backend.key}": ${err}`);
    }
  }
}
