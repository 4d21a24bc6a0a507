import assert from "node:assert/strict";
import { restartDelay } from "../../../src/runtime/workers/worker_supervisor.ts";

Deno.test("restartDelay() restarts at once after a stable run, then backs off to 30 s", () => {
  assert.deepEqual([0, 1, 2, 3, 4, 8, 20].map(restartDelay), [0, 250, 500, 1000, 2000, 30000, 30000]);
});
