import assert from "node:assert/strict";
import { ConfigWatcher } from "../../src/runtime/config_watcher.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function setup() {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/config.json`;
  await Deno.writeTextFile(path, "{}");
  const calls: boolean[] = [];
  const watcher = new ConfigWatcher({
    path,
    debounceMs: 60,
    missingRetries: 2,
    onChange: async () => {
      calls.push(await Deno.stat(path).then(() => true, () => false));
    },
  });
  watcher.start();
  await sleep(50); // let the watch settle before the first event
  return {
    dir,
    path,
    calls,
    async waitForCalls(n: number) {
      for (let i = 0; i < 100 && calls.length < n; i++) await sleep(20);
      await sleep(200); // and make sure no extra call follows
    },
    [Symbol.asyncDispose]: async () => {
      await watcher.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("ConfigWatcher makes one reload for a burst of writes to the file", async () => {
  await using t = await setup();
  for (let i = 0; i < 5; i++) await Deno.writeTextFile(t.path, `{"n": ${i}}`);
  await t.waitForCalls(1);
  assert.deepEqual(t.calls, [true]);
});

Deno.test("ConfigWatcher sees an editor's write-rename-delete dance as one change of an existing file", async () => {
  await using t = await setup();
  // vim: move the original aside, write the new file, delete the backup.
  await Deno.rename(t.path, `${t.path}~`);
  await Deno.writeTextFile(t.path, '{"edited": true}');
  await Deno.remove(`${t.path}~`);
  // and an atomic writer: temp file renamed over the target.
  await Deno.writeTextFile(`${t.dir}/.config.json.swp`, "{}");
  await Deno.rename(`${t.dir}/.config.json.swp`, t.path);
  await t.waitForCalls(1);
  assert.deepEqual(t.calls, [true]);
});

Deno.test("ConfigWatcher ignores other files in the directory", async () => {
  await using t = await setup();
  await Deno.writeTextFile(`${t.dir}/other.json`, "{}");
  await sleep(400);
  assert.deepEqual(t.calls, []);
});

Deno.test("ConfigWatcher reports a deleted file once it stays missing", async () => {
  await using t = await setup();
  await Deno.remove(t.path);
  await t.waitForCalls(1);
  assert.deepEqual(t.calls, [false]);
});
