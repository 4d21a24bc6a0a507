/**
 * Reloads when the config file changes. It watches the directory, not the file: editors and atomic
 * writers replace the file by rename, which would orphan a watch on the old inode. Events are debounced
 * so an editor's write-rename-delete dance makes one reload of the final file, and a file that is missing
 * after the quiet period is given a few more periods to reappear before the reload (which then fails and
 * keeps the running config). A directory that is itself deleted or moved aside (a deploy that swaps
 * /etc/kairos) takes its watch with it: the watcher then waits for the path to be a directory again,
 * watches the new one and rereads the file.
 */
import { resolve } from "node:path";
import { splitPath } from "./atomic_write.ts";

export interface ConfigWatcherOptions {
  readonly path: string;
  /** Runs the reload; calls never overlap. */
  readonly onChange: () => Promise<unknown>;
  /** Quiet time after the last event before reloading (default 250 ms). */
  readonly debounceMs?: number;
  /** Extra quiet periods to wait for a missing file to reappear (default 4). */
  readonly missingRetries?: number;
  /** How often to look for a removed directory to come back (default 1000 ms). */
  readonly rewatchMs?: number;
  /** Reports a watch that could not start or stopped with an error. */
  readonly onError?: (err: Error) => void;
}

/** Watches one config file through its directory; `close()` stops it. */
export class ConfigWatcher {
  readonly #options: ConfigWatcherOptions;
  readonly #dir: string;
  /** The directory as event paths spell it (absolute, normalized, symlinks kept). */
  readonly #absDir: string;
  readonly #name: string;
  #watcher: Deno.FsWatcher | undefined;
  #loop: Promise<void> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #rewatchTimer: ReturnType<typeof setTimeout> | undefined;
  #missing = 0;
  #running: Promise<void> | undefined;
  #firing: Promise<void> | undefined;
  #pending = false;
  #closed = false;

  constructor(options: ConfigWatcherOptions) {
    this.#options = options;
    const { dir, name } = splitPath(options.path);
    this.#dir = dir;
    this.#absDir = resolve(dir);
    this.#name = name;
  }

  /** Starts watching; throws when the directory cannot be watched. */
  start(): void {
    if (this.#watcher) return;
    this.#watch();
  }

  #watch(): void {
    const watcher = this.#watcher = Deno.watchFs(this.#dir, { recursive: false });
    this.#loop = this.#consume(watcher);
  }

  /** Stops watching and waits for a running reload to finish. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#rewatchTimer);
    this.#watcher?.close();
    await this.#loop;
    await this.#firing;
    await this.#running;
  }

  async #consume(watcher: Deno.FsWatcher): Promise<void> {
    try {
      for await (const event of watcher) {
        if (event.kind === "access") continue;
        if (event.kind === "remove" && event.paths.includes(this.#absDir)) {
          watcher.close();
          this.#options.onError?.(
            new Error(`the directory ${this.#dir} was removed or moved; watching it again once it is back`),
          );
          this.#schedule(); // fails while the file is gone (the running config stays), and says so
          this.#rewatch();
          return;
        }
        if (event.paths.some((p) => this.#concerns(p))) this.#schedule();
      }
    } catch (err) {
      if (!this.#closed) this.#options.onError?.(err as Error);
    }
  }

  /** Polls until the directory can be watched again, then rereads the file (edits in between were missed). */
  #rewatch(): void {
    if (this.#closed) return;
    this.#rewatchTimer = setTimeout(() => {
      this.#rewatchTimer = undefined;
      if (this.#closed) return;
      try {
        if (!Deno.statSync(this.#dir).isDirectory) return this.#rewatch();
        this.#watch();
      } catch {
        return this.#rewatch();
      }
      this.#schedule();
    }, this.#options.rewatchMs ?? 1000);
  }

  /** The config file itself, or Kubernetes' `..data` symlink swap next to it. */
  #concerns(path: string): boolean {
    const { name } = splitPath(path);
    return name === this.#name || name.startsWith("..");
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#missing = 0;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#firing = this.#fire(), this.#options.debounceMs ?? 250);
  }

  async #fire(): Promise<void> {
    this.#timer = undefined;
    if (this.#closed) return;
    if (!(await exists(this.#options.path)) && this.#missing < (this.#options.missingRetries ?? 4)) {
      this.#missing++;
      if (!this.#closed) {
        this.#timer = setTimeout(() => this.#firing = this.#fire(), this.#options.debounceMs ?? 250);
      }
      return;
    }
    if (this.#closed) return;
    if (this.#running) {
      this.#pending = true;
      return;
    }
    this.#running = this.#run();
  }

  async #run(): Promise<void> {
    do {
      this.#pending = false;
      try {
        await this.#options.onChange();
      } catch (err) {
        this.#options.onError?.(err as Error);
      }
    } while (this.#pending && !this.#closed);
    this.#running = undefined;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
