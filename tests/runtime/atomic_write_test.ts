import assert from "node:assert/strict";
import { atomicWriteTextFile, isAtomicTempName, splitPath } from "../../src/runtime/atomic_write.ts";

Deno.test("atomicWriteTextFile() replaces the content and leaves no temp file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/config.json`;
    await Deno.writeTextFile(path, "old");
    await atomicWriteTextFile(path, '{"new": true}');
    assert.equal(await Deno.readTextFile(path), '{"new": true}');
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["config.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("atomicWriteTextFile() keeps the file's permission bits and creates a missing file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/config.yaml`;
    await Deno.writeTextFile(path, "a: 1\n");
    await Deno.chmod(path, 0o640);
    await atomicWriteTextFile(path, "a: 2\n");
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o640);
    await atomicWriteTextFile(`${dir}/fresh.json`, "{}");
    assert.equal(await Deno.readTextFile(`${dir}/fresh.json`), "{}");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("atomicWriteTextFile() replaces the inode, so a reader holding the old file sees old content", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/c.json`;
    await Deno.writeTextFile(path, "before");
    const reader = await Deno.open(path);
    await atomicWriteTextFile(path, "after");
    const buf = new Uint8Array(16);
    const n = await reader.read(buf);
    reader.close();
    assert.equal(new TextDecoder().decode(buf.subarray(0, n ?? 0)), "before");
    assert.equal(await Deno.readTextFile(path), "after");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("atomicWriteTextFile() throws for a missing directory and leaves nothing behind", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(atomicWriteTextFile(`${dir}/missing/c.json`, "x"), Deno.errors.NotFound);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("splitPath() and isAtomicTempName() name the parts of a path", async (t) => {
  for (
    const [path, dir, name] of [
      ["config.json", ".", "config.json"],
      ["/etc/kairos/config.json", "/etc/kairos", "config.json"],
      ["/config.json", "/", "config.json"],
      ["./a/b.yaml", "./a", "b.yaml"],
    ]
  ) {
    await t.step(path, () => assert.deepEqual(splitPath(path), { dir, name }));
  }
  assert.ok(isAtomicTempName(".config.json.0a1b2c3d.tmp"));
  assert.ok(!isAtomicTempName("config.json"));
});
