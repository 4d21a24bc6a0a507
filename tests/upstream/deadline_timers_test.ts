import assert from "node:assert/strict";
import { DeadlineTimers, TimedEntry } from "../../src/upstream/deadline_timers.ts";

class Probe extends TimedEntry {
  expiredAt = 0;
  constructor(readonly log: string[], readonly name: string, readonly onExpire?: () => void) {
    super();
  }
  expire(): void {
    this.expiredAt = Date.now();
    this.log.push(this.name);
    this.onExpire?.();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("DeadlineTimers expires entries in deadline order across timeout values, not before their time", async () => {
  const timers = new DeadlineTimers();
  const log: string[] = [];
  const started = Date.now();
  const slow = new Probe(log, "slow-60");
  const slow2 = new Probe(log, "slow-60b");
  const fast = new Probe(log, "fast-20");
  timers.start(slow, 60);
  timers.start(slow2, 60);
  // A shorter timeout started later moves the one timer earlier.
  timers.start(fast, 20);
  assert.equal(timers.pending, 3);
  await sleep(40);
  assert.deepEqual(log, ["fast-20"]);
  assert.ok(fast.expiredAt - started >= 20);
  await sleep(60);
  assert.deepEqual(log, ["fast-20", "slow-60", "slow-60b"]);
  assert.ok(slow.expiredAt - started >= 60);
  assert.equal(timers.pending, 0);
});

Deno.test("DeadlineTimers: a stopped entry never expires, stop is idempotent, and no timer outlives the work", async () => {
  const timers = new DeadlineTimers();
  const log: string[] = [];
  const a = new Probe(log, "a");
  const b = new Probe(log, "b");
  const c = new Probe(log, "c");
  timers.start(a, 20);
  timers.start(b, 20);
  timers.start(c, 20);
  timers.stop(b); // from the middle
  timers.stop(b);
  timers.stop(a); // the head
  assert.equal(timers.pending, 1);
  await sleep(50);
  assert.deepEqual(log, ["c"]);
  timers.stop(c); // already expired: a no-op
  assert.equal(timers.pending, 0);
  // Reused after it expired, like a pooled exchange object would be.
  timers.start(a, 10);
  timers.stop(a);
  // The test sanitizer fails this test if stop() left the timer armed.
});

Deno.test("DeadlineTimers: an expire() may start another deadline, which still fires", async () => {
  const timers = new DeadlineTimers();
  const log: string[] = [];
  const second = new Probe(log, "second");
  const first = new Probe(log, "first", () => timers.start(second, 15));
  const other = new Probe(log, "other");
  timers.start(first, 10);
  timers.start(other, 100);
  await sleep(60);
  assert.deepEqual(log, ["first", "second"]);
  timers.stop(other);
  assert.equal(timers.pending, 0);
});

Deno.test("DeadlineTimers.close() drops the timer", async () => {
  const timers = new DeadlineTimers();
  const log: string[] = [];
  timers.start(new Probe(log, "never"), 10);
  timers.close();
  await sleep(30);
  assert.deepEqual(log, []);
});
