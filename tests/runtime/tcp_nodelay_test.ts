import assert from "node:assert/strict";
import { hasNoDelay, listeningSocketFds, setListenerNoDelay } from "../../src/runtime/tcp_nodelay.ts";

const linux = Deno.build.os === "linux";

Deno.test({
  name: "setListenerNoDelay() sets TCP_NODELAY on this process's listening sockets of the port",
  ignore: !linux,
  async fn() {
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response("ok"));
    try {
      const fds = listeningSocketFds(server.addr.port);
      assert.equal(fds.length, 1, "one listening socket found through /proc");
      assert.equal(hasNoDelay(fds[0]), false, "Deno leaves Nagle on");
      assert.deepEqual(setListenerNoDelay(server.addr.port), { ok: true, sockets: 1 });
      assert.equal(hasNoDelay(fds[0]), true);
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "setListenerNoDelay() reports a port nothing listens on instead of throwing",
  ignore: !linux,
  fn() {
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const { port } = probe.addr as Deno.NetAddr;
    probe.close();
    const outcome = setListenerNoDelay(port);
    assert.equal(outcome.ok, false);
    assert.match(!outcome.ok ? outcome.reason : "", /no listening socket on port/);
  },
});
