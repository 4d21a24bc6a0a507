/**
 * sd_notify(3) for `Type=notify` systemd units: READY=1 once the gateway listens, RELOADING=1 … READY=1
 * around a SIGHUP reload, STOPPING=1 when draining starts. Messages go as datagrams to the Unix socket
 * NOTIFY_SOCKET names; without it (not under systemd) every call does nothing. Deno can only send from a
 * bound socket, so one is bound in $RUNTIME_DIRECTORY (systemd's RuntimeDirectory=) or a temp directory.
 */
import type { Logger } from "../observe/logger.ts";

export interface ServiceNotifier {
  ready(status: string): void;
  reloading(): void;
  stopping(): void;
  close(): void;
}

const NOTHING: ServiceNotifier = { ready() {}, reloading() {}, stopping() {}, close() {} };
const encoder = new TextEncoder();

/** A notifier for NOTIFY_SOCKET, or one that does nothing when it is unset or unusable (logged). */
export function createServiceNotifier(
  env: (name: string) => string | undefined,
  logger: Logger,
): ServiceNotifier {
  const target = env("NOTIFY_SOCKET");
  if (!target) return NOTHING;
  if (target.startsWith("@")) {
    logger.warn("NOTIFY_SOCKET is an abstract socket, which Deno cannot address; not notifying systemd", {
      notify_socket: target,
    });
    return NOTHING;
  }
  const listenDatagram = (Deno as { listenDatagram?: typeof Deno.listenDatagram }).listenDatagram;
  if (typeof listenDatagram !== "function") {
    logger.warn("notifying systemd needs --unstable-net; not notifying", { notify_socket: target });
    return NOTHING;
  }
  const runtimeDir = env("RUNTIME_DIRECTORY")?.split(":")[0];
  let ownDir: string | undefined;
  let socket: Deno.DatagramConn;
  let path: string;
  try {
    const dir = runtimeDir ?? (ownDir = Deno.makeTempDirSync({ prefix: "kairos-notify-" }));
    path = `${dir}/kairos-notify-${Deno.pid}.sock`;
    try {
      Deno.removeSync(path); // left by an earlier process with this pid
    } catch { /* not there */ }
    socket = listenDatagram({ transport: "unixpacket", path });
  } catch (err) {
    logger.warn("cannot open a socket to notify systemd; not notifying", {
      notify_socket: target,
      error: (err as Error).message,
    });
    if (ownDir) Deno.removeSync(ownDir, { recursive: true });
    return NOTHING;
  }
  let closed = false;
  const send = (message: string) => {
    if (closed) return;
    socket.send(encoder.encode(message), { transport: "unixpacket", path: target }).catch((err) =>
      logger.warn("cannot notify systemd", { message, error: (err as Error).message })
    );
  };
  return {
    ready: (status) => send(`READY=1\nSTATUS=${status.replaceAll("\n", " ")}\nMAINPID=${Deno.pid}\n`),
    reloading: () => send("RELOADING=1\nSTATUS=reloading the config\n"),
    stopping: () => send("STOPPING=1\nSTATUS=draining\n"),
    close: () => {
      if (closed) return;
      closed = true;
      socket.close();
      try {
        if (ownDir) Deno.removeSync(ownDir, { recursive: true });
        else Deno.removeSync(path);
      } catch { /* already gone */ }
    },
  };
}
