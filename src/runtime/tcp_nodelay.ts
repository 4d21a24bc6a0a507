/**
 * TCP_NODELAY for the TLS listener. Deno.serve leaves Nagle's algorithm on for TLS connections and writes a
 * response's head and body apart, so an HTTP/1.1 keep-alive client that delays its ACK (Linux: 40 ms) holds
 * every response body back (measured with Deno 2.9.6: 44 ms per request over HTTP/1.1, 0.57 ms over HTTP/2).
 * Deno offers no option for it, but Linux copies TCP_NODELAY from a listening socket to the sockets it
 * accepts, so it is set on the listener's socket itself, found through /proc and set through libc (FFI).
 * Without `--allow-ffi` (or off Linux) nothing changes and the caller warns.
 */

export type NoDelayOutcome =
  | { readonly ok: true; readonly sockets: number }
  | { readonly ok: false; readonly reason: string };

const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;
const LISTEN = "0A"; // the state column of /proc/net/tcp for a listening socket

/** Sets TCP_NODELAY on this process's listening TCP sockets bound to `port`. */
export function setListenerNoDelay(port: number): NoDelayOutcome {
  if (Deno.build.os !== "linux") return { ok: false, reason: `not supported on ${Deno.build.os}` };
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    return { ok: false, reason: "Kairos runs without --allow-ffi" };
  }
  let fds: number[];
  try {
    fds = listeningSocketFds(port);
  } catch (err) {
    return { ok: false, reason: `cannot find the listening socket: ${(err as Error).message}` };
  }
  if (fds.length === 0) return { ok: false, reason: `no listening socket on port ${port} in /proc/self` };
  let libc: ReturnType<typeof openLibc>;
  try {
    libc = openLibc();
  } catch (err) {
    return { ok: false, reason: `cannot load libc: ${(err as Error).message}` };
  }
  try {
    const one = new Uint8Array(new Int32Array([1]).buffer);
    for (const fd of fds) {
      if (libc.symbols.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, one, 4) !== 0) {
        return { ok: false, reason: `setsockopt(TCP_NODELAY) failed on descriptor ${fd}` };
      }
    }
    return { ok: true, sockets: fds.length };
  } finally {
    libc.close();
  }
}

/** Whether TCP_NODELAY is set on the descriptor (Linux, with --allow-ffi); for tests. */
export function hasNoDelay(fd: number): boolean {
  const libc = openLibc();
  try {
    const value = new Int32Array(1);
    const length = new Uint32Array([4]);
    const rc = libc.symbols.getsockopt(
      fd,
      IPPROTO_TCP,
      TCP_NODELAY,
      new Uint8Array(value.buffer),
      new Uint8Array(length.buffer),
    );
    if (rc !== 0) throw new Error(`getsockopt failed on descriptor ${fd}`);
    return value[0] !== 0;
  } finally {
    libc.close();
  }
}

/** Descriptors of this process's sockets listening on `port` (IPv4 and IPv6). */
export function listeningSocketFds(port: number): number[] {
  const portHex = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const inodes = new Set<string>();
  for (const table of ["/proc/self/net/tcp", "/proc/self/net/tcp6"]) {
    let text: string;
    try {
      text = Deno.readTextFileSync(table);
    } catch {
      continue; // no IPv6 on this host
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length > 9 && fields[1].endsWith(portHex) && fields[3] === LISTEN) inodes.add(fields[9]);
    }
  }
  const fds: number[] = [];
  if (inodes.size === 0) return fds;
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    let target: string;
    try {
      target = Deno.readLinkSync(`/proc/self/fd/${entry.name}`);
    } catch {
      continue; // closed meanwhile
    }
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match !== null && inodes.has(match[1])) fds.push(Number(entry.name));
  }
  return fds;
}

function openLibc() {
  const symbols = {
    setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
    getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  } as const;
  // glibc, then musl (Alpine).
  for (const name of ["libc.so.6", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1"]) {
    try {
      return Deno.dlopen(name, symbols);
    } catch {
      // try the next name
    }
  }
  throw new Error("neither glibc nor musl found");
}
