/**
 * `Type=notify` under systemd: the gateway says READY=1 once it listens, RELOADING=1 then READY=1 around a
 * SIGHUP reload, and STOPPING=1 when SIGTERM starts the drain, on the datagram socket NOTIFY_SOCKET names
 * (here a real Unix datagram socket standing in for systemd's).
 */
import assert from "node:assert/strict";
import { routeConfig, startBackend, startGateway } from "./harness.ts";

const decoder = new TextDecoder();

async function nextMessage(socket: Deno.DatagramConn, timeoutMs = 10_000): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) =>
    timer = setTimeout(() => reject(new Error("no sd_notify message arrived")), timeoutMs)
  );
  try {
    const [bytes] = await Promise.race([socket.receive(), timeout]);
    return decoder.decode(bytes);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test({
  name: "the gateway tells systemd when it is ready, reloading and stopping",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "kairos-systemd-" });
    const path = `${dir}/notify.sock`;
    const systemd = Deno.listenDatagram({ transport: "unixpacket", path });
    try {
      await using backend = startBackend(() => new Response("ok"));
      await using gw = await startGateway(routeConfig([backend]), {
        env: { NOTIFY_SOCKET: path, RUNTIME_DIRECTORY: dir },
      });
      const ready = await nextMessage(systemd);
      assert.match(ready, /^READY=1$/m);
      assert.match(ready, new RegExp(`^MAINPID=${gw.process.pid}$`, "m"));
      assert.match(ready, /^STATUS=serving 1 routes on 127\.0\.0\.1:\d+$/m);

      gw.process.kill("SIGHUP");
      assert.match(await nextMessage(systemd), /^RELOADING=1$/m);
      assert.match(await nextMessage(systemd), /^READY=1$/m);

      const exited = gw.stop("SIGTERM");
      assert.match(await nextMessage(systemd), /^STOPPING=1$/m);
      assert.equal(await exited, 0);
      // Its own socket (in RuntimeDirectory=) is removed when it stops.
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["notify.sock"]);
    } finally {
      systemd.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
