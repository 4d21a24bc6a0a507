/**
 * Many concurrent deadlines on one timer. A setTimeout + clearTimeout pair costs about 1 µs in Deno (a
 * per-request cost on the fetch client, whose exchanges each need a deadline); linking an entry into a list
 * costs a few ns. Entries with the same timeout expire in the order they started, so each timeout value keeps
 * a FIFO list and the one timer is armed for the earliest head. Under load it fires about once per timeout
 * period; with nothing pending it is cleared, so it never outlives the work it guards.
 */

/** An intrusive list node: whatever needs a deadline extends it (no allocation per deadline). */
export abstract class TimedEntry {
  deadlineAt = 0;
  deadlinePrev: TimedEntry | null = null;
  deadlineNext: TimedEntry | null = null;
  deadlineList: DeadlineList | null = null;

  /** Called once, from the timer, when the deadline passed before `DeadlineTimers.stop()`. */
  abstract expire(): void;
}

interface DeadlineList {
  head: TimedEntry | null;
  tail: TimedEntry | null;
}

export class DeadlineTimers {
  readonly #lists = new Map<number, DeadlineList>();
  #pending = 0;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  #timerAt = 0;
  readonly #onTimer = (): void => this.#expireDue();

  /** Number of entries waiting for their deadline. */
  get pending(): number {
    return this.#pending;
  }

  /** Starts `entry`'s deadline `ms` from now; it must not be pending already. */
  start(entry: TimedEntry, ms: number): void {
    let list = this.#lists.get(ms);
    if (list === undefined) {
      list = { head: null, tail: null };
      this.#lists.set(ms, list);
    }
    const at = Date.now() + ms;
    entry.deadlineAt = at;
    entry.deadlineList = list;
    entry.deadlinePrev = list.tail;
    entry.deadlineNext = null;
    if (list.tail === null) list.head = entry;
    else list.tail.deadlineNext = entry;
    list.tail = entry;
    this.#pending++;
    if (this.#timer === undefined) this.#arm(at);
    else if (at < this.#timerAt) {
      // Only a shorter timeout than any pending one moves the timer earlier.
      clearTimeout(this.#timer);
      this.#arm(at);
    }
  }

  /** Removes `entry` from its list; a no-op when it is not pending (already stopped or expired). */
  stop(entry: TimedEntry): void {
    const list = entry.deadlineList;
    if (list === null) return;
    const prev = entry.deadlinePrev;
    const next = entry.deadlineNext;
    if (prev === null) list.head = next;
    else prev.deadlineNext = next;
    if (next === null) list.tail = prev;
    else next.deadlinePrev = prev;
    entry.deadlineList = null;
    entry.deadlinePrev = null;
    entry.deadlineNext = null;
    if (--this.#pending === 0 && this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Drops the timer; pending entries never expire. */
  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(at: number): void {
    this.#timerAt = at;
    this.#timer = setTimeout(this.#onTimer, Math.max(0, at - Date.now()));
  }

  #expireDue(): void {
    this.#timer = undefined;
    const now = Date.now();
    let earliest = Infinity;
    for (const list of this.#lists.values()) {
      // Re-read the head each time: an expire() may stop other entries.
      for (let entry = list.head; entry !== null; entry = list.head) {
        if (entry.deadlineAt > now) {
          if (entry.deadlineAt < earliest) earliest = entry.deadlineAt;
          break;
        }
        this.stop(entry);
        entry.expire();
      }
    }
    if (earliest === Infinity || this.#pending === 0) return;
    if (this.#timer === undefined) this.#arm(earliest);
    else if (earliest < this.#timerAt) {
      // An expire() started an entry whose deadline is later than a remaining one.
      clearTimeout(this.#timer);
      this.#arm(earliest);
    }
  }
}
