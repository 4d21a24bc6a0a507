import assert from "node:assert/strict";
import { createLogger } from "../../src/observe/logger.ts";
import { canReplaceListeners, GatewayListener } from "../../src/runtime/gateway_listener.ts";
import { hasNoDelay, listeningSocketFds } from "../../src/runtime/tcp_nodelay.ts";

const read = (path: string) => Deno.readTextFileSync(new URL(path, import.meta.url));
const FIRST = {
  cert: read("../upstream/http1/fixtures/tls_cert.pem"),
  key: read("../upstream/http1/fixtures/tls_key.pem"),
};
const SECOND = { cert: read("../fixtures/tls/second_cert.pem"), key: read("../fixtures/tls/second_key.pem") };

function listener(
  handler: (request: Request) => Response | Promise<Response>,
  tls: { cert: string; key: string } | undefined,
  port = 0,
): { listener: GatewayListener; logs: string[] } {
  const logs: string[] = [];
  const logger = createLogger({ level: "debug", format: "json", write: (line) => logs.push(line) });
  const created = new GatewayListener({
    hostname: "127.0.0.1",
    port,
    shared: false,
    compression: false,
    handler: async (request) => await handler(request),
    onError: () => new Response("error", { status: 500 }),
    logger,
    describe: () => ({}),
  }, tls);
  return { listener: created, logs };
}

/** GETs `path` on a new connection that trusts only `cert`; the body, or the failure. */
async function get(port: number, path: string, cert: string): Promise<string> {
  const client = Deno.createHttpClient({ caCerts: [cert] });
  try {
    const response = await fetch(`https://localhost:${port}${path}`, { client });
    return await response.text();
  } catch (err) {
    return `failed: ${(err as Error).message}`;
  } finally {
    client.close();
  }
}

const linuxOnly = { ignore: !canReplaceListeners() };

Deno.test({
  name: "replace() serves the new pair to new connections while a request in flight finishes on the old one",
  ...linuxOnly,
  async fn() {
    let release!: () => void;
    const released = new Promise<void>((resolve) => release = resolve);
    let arrived!: () => void;
    const arrival = new Promise<void>((resolve) => arrived = resolve);
    const { listener: gateway, logs } = listener(async (request) => {
      if (request.url.endsWith("/slow")) {
        arrived();
        await released;
      }
      return new Response("served");
    }, FIRST);
    try {
      const port = gateway.addr.port;
      assert.equal(await get(port, "/", FIRST.cert), "served");
      assert.match(await get(port, "/", SECOND.cert), /^failed/);
      const slow = get(port, "/slow", FIRST.cert);
      await arrival;
      gateway.replace(SECOND);
      assert.equal(gateway.tls, SECOND);
      assert.ok(logs.some((line) => line.includes("certificate replaced")));
      // The old listener closes asynchronously; from then on every new connection gets the second pair.
      const deadline = Date.now() + 2000;
      while ((await get(port, "/", SECOND.cert)) !== "served") {
        assert.ok(Date.now() < deadline, "the second certificate was not served within 2 s");
      }
      for (let i = 0; i < 5; i++) {
        assert.equal(await get(port, "/", SECOND.cert), "served");
        assert.match(await get(port, "/", FIRST.cert), /^failed/);
      }
      release();
      assert.equal(await slow, "served");
    } finally {
      release();
      await gateway.shutdown();
    }
  },
});

Deno.test({
  name: "replace() throws for a pair rustls refuses and the old listener keeps serving",
  ...linuxOnly,
  async fn() {
    const { listener: gateway } = listener(() => new Response("served"), FIRST);
    try {
      assert.throws(() => gateway.replace({ cert: FIRST.cert, key: SECOND.key }), /KeyMismatch|keys/);
      assert.equal(gateway.tls, FIRST);
      assert.equal(await get(gateway.addr.port, "/", FIRST.cert), "served");
    } finally {
      await gateway.shutdown();
    }
  },
});

Deno.test({
  name: "a TLS listener refuses a port another gateway serves, though both would bind with SO_REUSEPORT",
  ...linuxOnly,
  fn() {
    // Without the check, this second SO_REUSEPORT socket would silently share the port.
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0, reusePort: true });
    try {
      const port = (taken.addr as Deno.NetAddr).port;
      assert.throws(() => listener(() => new Response("x"), FIRST, port), Deno.errors.AddrInUse);
    } finally {
      taken.close();
    }
  },
});

Deno.test("replace() leaves a plain listener plain: turning TLS on takes a restart", async () => {
  const { listener: gateway } = listener(() => new Response("plain"), undefined);
  try {
    gateway.replace(SECOND);
    assert.equal(gateway.tls, undefined);
    const response = await fetch(`http://127.0.0.1:${gateway.addr.port}/`);
    assert.equal(await response.text(), "plain");
  } finally {
    await gateway.shutdown();
  }
});

Deno.test({
  name: "replace() after shutdown() has begun binds no new listener: a reload while draining opens no port",
  ...linuxOnly,
  async fn() {
    let release!: () => void;
    const released = new Promise<void>((resolve) => release = resolve);
    let arrived!: () => void;
    const arrival = new Promise<void>((resolve) => arrived = resolve);
    const { listener: gateway } = listener(async () => {
      arrived();
      await released;
      return new Response("served");
    }, FIRST);
    const port = gateway.addr.port;
    const slow = get(port, "/slow", FIRST.cert);
    let stopped: Promise<void> | undefined;
    try {
      await arrival;
      stopped = gateway.shutdown();
      gateway.replace(SECOND);
      assert.equal(gateway.tls, FIRST);
      // Nothing accepts on the port any more: a new connection is refused, not served the second pair.
      assert.match(await get(port, "/", SECOND.cert), /^failed/);
    } finally {
      release();
      await slow;
      await (stopped ?? gateway.shutdown());
    }
  },
});

Deno.test({
  name: "a TLS listener, and the one a rotation starts, get TCP_NODELAY on their listening sockets",
  ...linuxOnly,
  async fn() {
    const { listener: gateway } = listener(() => new Response("ok"), FIRST);
    try {
      const port = gateway.addr.port;
      const fds = listeningSocketFds(port);
      assert.equal(fds.length, 1);
      assert.equal(hasNoDelay(fds[0]), true, "set at start");
      gateway.replace(SECOND);
      const after = listeningSocketFds(port).filter((fd) => !fds.includes(fd));
      assert.equal(after.length, 1, "the new listener's socket");
      assert.equal(hasNoDelay(after[0]), true, "set after the rotation");
    } finally {
      await gateway.shutdown();
    }
  },
});

Deno.test({
  name: "a plain listener keeps Deno's socket options: TCP_NODELAY is set for TLS listeners only",
  ...linuxOnly,
  async fn() {
    const { listener: gateway } = listener(() => new Response("ok"), undefined);
    try {
      const fds = listeningSocketFds(gateway.addr.port);
      assert.equal(hasNoDelay(fds[0]), false);
    } finally {
      await gateway.shutdown();
    }
  },
});
