import assert from "node:assert/strict";
import { loadConfigFile } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { createLogger } from "../../src/observe/logger.ts";
import { ConfigChangeError } from "../../src/runtime/config_change_error.ts";
import { ConfigStore, sha256Hex } from "../../src/runtime/config_store.ts";
import { fakeTarget } from "./fake_target.ts";

const BASE = {
  _comment: "keep me",
  version: 1,
  routers: [{
    _comment: "first",
    external_path: "/a",
    internal_path: "/a",
    methods: ["GET"],
    backends: [{ host: "http://127.0.0.1", port: 9001 }],
  }],
};

async function setup(file = "config.json", text = JSON.stringify(BASE, null, 2)) {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/${file}`;
  await Deno.writeTextFile(path, text);
  const loaded = await loadConfigFile(path);
  assert.ok(loaded.ok);
  const target = fakeTarget(loaded.config);
  const lines: string[] = [];
  const logger = createLogger({ level: "debug", format: "json", write: (l) => lines.push(l) });
  const store = new ConfigStore({ path, loaded, target, logger });
  return {
    dir,
    path,
    store,
    target,
    lines,
    [Symbol.asyncDispose]: async () => {
      await Deno.chmod(path, 0o644).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const addRoute = (path: string) => (draft: Record<string, unknown>) => {
  (draft.routers as unknown[]).push({
    external_path: path,
    internal_path: path,
    methods: ["GET"],
    backends: [{ host: "http://127.0.0.1", port: 9002 }],
  });
};

Deno.test("update() applies at once, persists atomically keeping _comment keys, and writes an audit line", async () => {
  await using t = await setup();
  const result = await t.store.update(addRoute("/b"), {
    who: "token:abcd@127.0.0.1",
    action: "route.create",
    target: "/b",
  });
  assert.equal(result.version, 2);
  assert.equal(result.changed, true);
  assert.equal(result.persisted, true);
  assert.deepEqual(t.store.config.routers.map((r) => r.external_path), ["/a", "/b"]);
  const file = JSON.parse(await Deno.readTextFile(t.path));
  assert.equal(file._comment, "keep me");
  assert.equal(file.routers[0]._comment, "first");
  assert.equal(file.routers[1].external_path, "/b");
  const audit = t.lines.map((l) => JSON.parse(l)).find((l) => l.msg === "config change");
  assert.equal(audit.who, "token:abcd@127.0.0.1");
  assert.equal(audit.action, "route.create");
  assert.equal(audit.target, "/b");
  assert.notEqual(audit.before_hash, audit.after_hash);
  assert.equal(t.store.status().persisted, true);
});

Deno.test("update() refuses a stale If-Match with 412 and accepts the current version or *", async (t) => {
  await using s = await setup();
  for (
    const [header, ok] of [['"7"', false], ['"1"', true], ["*", true], ['W/"3"', false], [
      '"9", "3"',
      true,
    ]] as const
  ) {
    await t.step(`If-Match: ${header}`, async () => {
      const before = s.store.version;
      const change = s.store.update(addRoute(`/r${before}`), { who: "t", action: "x", ifMatch: header });
      if (ok) assert.equal((await change).version, before + 1);
      else {
        await assert.rejects(change, (err) => err instanceof ConfigChangeError && err.status === 412);
        assert.equal(s.store.version, before);
      }
    });
  }
});

Deno.test("update() refuses an invalid document with 400 and every problem's path, changing nothing", async () => {
  await using t = await setup();
  const before = await Deno.readTextFile(t.path);
  await assert.rejects(
    t.store.update((draft) => {
      (draft.routers as Record<string, unknown>[])[0].backends = [{ host: "http://x", port: 0 }];
      draft.version = 999;
    }, { who: "t", action: "x" }),
    (err) => {
      assert.ok(err instanceof ConfigChangeError);
      assert.equal(err.status, 400);
      assert.deepEqual(err.errors.map((e) => e.path).sort(), ["routers[0].backends[0].port", "version"]);
      return true;
    },
  );
  assert.equal(t.store.version, 1);
  assert.equal(await Deno.readTextFile(t.path), before);
});

Deno.test("update() on a read-only file applies in memory and reports it was not persisted", async () => {
  await using t = await setup();
  await Deno.chmod(t.path, 0o444);
  const result = await t.store.update(addRoute("/b"), { who: "t", action: "x" });
  assert.equal(result.changed, true);
  assert.equal(result.persisted, false);
  assert.match(result.persistError!, /read-only \(mode 0444\)/);
  assert.equal(t.store.config.routers.length, 2);
  assert.equal(JSON.parse(await Deno.readTextFile(t.path)).routers.length, 1);
  const status = t.store.status();
  assert.equal(status.persisted, false);
  assert.match(status.persist_error!, /read-only/);
});

Deno.test("update() runs one change at a time, so concurrent changes both land", async () => {
  await using t = await setup();
  await Promise.all([
    t.store.update(addRoute("/b"), { who: "t", action: "x" }),
    t.store.update(addRoute("/c"), { who: "t", action: "x" }),
  ]);
  assert.deepEqual(t.store.config.routers.map((r) => r.external_path), ["/a", "/b", "/c"]);
  assert.equal(JSON.parse(await Deno.readTextFile(t.path)).routers.length, 3);
});

Deno.test("update() keeps a YAML file YAML", async () => {
  await using t = await setup(
    "config.yaml",
    "# top\nversion: 1\nrouters:\n  - external_path: /a\n    internal_path: /a\n    methods: [GET]\n    backends: [{ host: 'http://127.0.0.1', port: 9001 }]\n",
  );
  await t.store.update(addRoute("/b"), { who: "t", action: "x" });
  const text = await Deno.readTextFile(t.path);
  assert.match(text, /^# top/);
  assert.match(text, /external_path: \/b/);
});

Deno.test("reloadFromFile() applies a changed file and skips a file event whose text did not change", async () => {
  await using t = await setup();
  assert.equal((await t.store.reloadFromFile("file")).trigger, "startup", "unchanged text: nothing recorded");
  const next = structuredClone(BASE);
  next.routers[0].methods = ["GET", "POST"];
  await Deno.writeTextFile(t.path, JSON.stringify(next));
  const record = await t.store.reloadFromFile("file");
  assert.equal(record.result, "success");
  assert.equal(record.version, 2);
  assert.deepEqual(t.store.config.routers[0].methods, ["GET", "POST"]);
  assert.equal((await t.store.reloadFromFile("signal")).result, "unchanged");
});

Deno.test("reloadFromFile() refuses garbage and a deleted file, keeps the running config and records why", async (t) => {
  await using s = await setup();
  for (
    const [name, spoil, pattern] of [
      ["garbage", () => Deno.writeTextFile(s.path, "{ not json"), /Cannot parse JSON/],
      ["invalid", () => Deno.writeTextFile(s.path, '{"routers": []}'), /No routers configured/],
      ["deleted", () => Deno.remove(s.path), /not found/],
    ] as const
  ) {
    await t.step(name, async () => {
      await spoil();
      const record = await s.store.reloadFromFile("file");
      assert.equal(record.result, "failure");
      assert.match(record.errors.map((e) => e.message).join("\n"), pattern);
      assert.equal(s.store.version, 1);
      assert.equal(s.store.config.routers[0].external_path, "/a");
      assert.equal(s.store.status().last_reload.result, "failure");
      assert.equal(s.store.status().persisted, false);
    });
  }
  assert.deepEqual(s.target.results, ["failure", "failure", "failure"]);
  assert.ok(s.lines.some((l) => l.includes('"msg":"config problem"') && l.includes('"path":"routers"')));
});

Deno.test("update() and reloadFromFile() answer once the other workers run the change; the status is current at once", async () => {
  await using t = await setup();
  const waiting: Array<{ config: Config; release: () => void }> = [];
  (t.target as { settled?: (config: Config) => Promise<void> }).settled = (config) =>
    new Promise<void>((release) => waiting.push({ config, release }));
  let answered = false;
  const update = t.store.update(addRoute("/b"), { who: "test", action: "route.create" }).then((r) => {
    answered = true;
    return r;
  });
  while (waiting.length === 0) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(answered, false, "the API must not answer before the workers run the new config");
  // The status already describes the applied change: never the new version beside the old hash or record.
  const during = t.store.status();
  assert.equal(during.version, 2);
  assert.equal(during.last_reload.trigger, "api");
  assert.equal(during.hash, sha256Hex(JSON.stringify(t.store.config)));
  assert.deepEqual(waiting[0].config.routers.map((r) => r.external_path), ["/a", "/b"]);
  waiting[0].release();
  assert.equal((await update).changed, true);

  await Deno.writeTextFile(t.path, JSON.stringify(BASE));
  const reload = t.store.reloadFromFile("signal");
  while (waiting.length === 1) await new Promise((r) => setTimeout(r, 5));
  assert.equal(t.store.status().last_reload.trigger, "signal");
  assert.deepEqual(waiting[1].config.routers.map((r) => r.external_path), ["/a"]);
  waiting[1].release();
  assert.equal((await reload).result, "success");
});
