/**
 * Replaces a file so that readers (and a crash) see either the old or the new content, never a mix:
 * write a temp file in the same directory, fsync it, rename it over the target, fsync the directory.
 * rename(2) is atomic only within one filesystem, hence the same directory.
 */

const encoder = new TextEncoder();

/** Splits `path` into its directory ("." when none) and file name. */
export function splitPath(path: string): { dir: string; name: string } {
  const slash = Math.max(path.lastIndexOf("/"), Deno.build.os === "windows" ? path.lastIndexOf("\\") : -1);
  if (slash < 0) return { dir: ".", name: path };
  return { dir: slash === 0 ? "/" : path.slice(0, slash), name: path.slice(slash + 1) };
}

/** The temp-file name pattern used next to the target (editors and watchers can ignore it). */
export function isAtomicTempName(name: string): boolean {
  return /^\..+\.[0-9a-f]{8}\.tmp$/.test(name);
}

/**
 * Atomically replaces `path` with `text`, keeping the existing file's permission bits. Throws the
 * underlying Deno error (PermissionDenied, NotFound, ...) and leaves no temp file behind on failure.
 */
export async function atomicWriteTextFile(path: string, text: string): Promise<void> {
  // Renaming over a symlink would replace the link with a plain file and leave its target stale:
  // replace the target instead (in its own directory, for the same-filesystem rename).
  path = await Deno.realPath(path).catch((err) => {
    if (err instanceof Deno.errors.NotFound) return path;
    throw err;
  });
  const { dir, name } = splitPath(path);
  let mode = 0o644;
  try {
    const info = await Deno.stat(path);
    if (info.mode !== null) mode = info.mode & 0o777;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  const suffix = crypto.getRandomValues(new Uint32Array(1))[0].toString(16).padStart(8, "0");
  const temp = `${dir}/.${name}.${suffix}.tmp`;
  const file = await Deno.open(temp, { write: true, createNew: true, mode });
  try {
    try {
      const bytes = encoder.encode(text);
      for (let written = 0; written < bytes.length;) written += await file.write(bytes.subarray(written));
      await file.sync();
    } finally {
      file.close();
    }
    // The umask may have narrowed `mode` at creation.
    if (Deno.build.os !== "windows") await Deno.chmod(temp, mode);
    await Deno.rename(temp, path);
  } catch (err) {
    await Deno.remove(temp).catch(() => {});
    throw err;
  }
  await syncDirectory(dir);
}

/** Makes the rename durable (POSIX: fsync the directory). Best effort: not every platform allows it. */
async function syncDirectory(dir: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  try {
    const handle = await Deno.open(dir, { read: true });
    try {
      await handle.sync();
    } finally {
      handle.close();
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself already happened.
  }
}
