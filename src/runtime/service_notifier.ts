/**
 * sd_notify(3) for `Type=notify` and `Type=notify-reload` systemd units: READY=1 once the gateway listens,
 * RELOADING=1 … READY=1 around a SIGHUP reload, STOPPING=1 when draining starts (nothing after it), and
 * WATCHDOG=1 every half WATCHDOG_USEC when the unit sets WatchdogSec=. Messages go as datagrams to the
 * Unix socket NOTIFY_SOCKET names; without it (not under systemd) every call does nothing. Deno can only
 * send from a bound socket, so one is bound in $RUNTIME_DIRECTORY (systemd's RuntimeDirectory=) or a
 * temp directory.
 */
import type { Logger } from "../observe/logger.ts";

export interface ServiceNotifier {
  ready(status: string): void;
  reloading(): void;
  stopping(): void;
  /** Sends what is queued, then closes the socket. */
  close(): Promise<void>;
}

const NOTHING: ServiceNotifier = {
  ready() {},
  reloading() {},
  stopping() {},
  close: () => Promise.resolve(),
};
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
  let stopping = false;
  let queue = Promise.resolve();
  const send = (message: string) => {
    if (closed) return;
    // One at a time: a second send while one is pending fails with "Socket already in use", which
    // would drop e.g. the READY=1 that ends a reload.
    queue = queue.then(() =>
      socket.send(encoder.encode(message), { transport: "unixpacket", path: target }).then(
        () => {},
        (err) => logger.warn("cannot notify systemd", { message, error: (err as Error).message }),
      )
    );
  };
  const watchdog = watchdogInterval(env);
  // Without these pings systemd kills the unit after WatchdogSec=; they stop when the event loop stalls.
  const pinger = watchdog === undefined ? undefined : setInterval(() => send("WATCHDOG=1\n"), watchdog);
  if (pinger !== undefined) Deno.unrefTimer(pinger);
  return {
    // A reload that finishes while draining must not tell systemd the service is ready again.
    ready: (status) => {
      if (!stopping) send(`READY=1\nSTATUS=${status.replaceAll("\n", " ")}\nMAINPID=${Deno.pid}\n`);
    },
    // systemd 253+ (`Type=notify-reload`) ignores a RELOADING=1 without MONOTONIC_USEC and fails the reload.
    reloading: () => {
      if (!stopping) send(`RELOADING=1\n${monotonicUsecField()}STATUS=reloading the config\n`);
    },
    stopping: () => {
      if (stopping) return;
      stopping = true;
      send("STOPPING=1\nSTATUS=draining\n");
    },
    close: async () => {
      if (closed) return;
      closed = true;
      clearInterval(pinger);
      await queue;
      socket.close();
      try {
        if (ownDir) Deno.removeSync(ownDir, { recursive: true });
        else Deno.removeSync(path);
      } catch { /* already gone */ }
    },
  };
}

/** Half the unit's WatchdogSec= in ms (sd_watchdog_enabled(3)), or undefined when not asked of this pid. */
export function watchdogInterval(env: (name: string) => string | undefined): number | undefined {
  const usec = Number(env("WATCHDOG_USEC"));
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  const pid = env("WATCHDOG_PID");
  if (pid !== undefined && Number(pid) !== Deno.pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

/**
 * `MONOTONIC_USEC=…\n`: CLOCK_MONOTONIC, which Deno does not expose. /proc/uptime is CLOCK_BOOTTIME
 * (monotonic plus time suspended, so never behind it) truncated to 10 ms: rounding up to the end of that
 * tick keeps it at or after systemd's reload start, which is all systemd checks. Empty off Linux.
 */
export function monotonicUsecField(): string {
  try {
    const [seconds, hundredths = "0"] = Deno.readTextFileSync("/proc/uptime").split(" ")[0].split(".");
    const usec = Number(seconds) * 1_000_000 + Number(hundredths.padEnd(2, "0").slice(0, 2)) * 10_000 + 9_999;
    return Number.isSafeInteger(usec) ? `MONOTONIC_USEC=${usec}\n` : "";
  } catch {
    return "";
  }
}
