import assert from "node:assert/strict";
import { UpstreamError } from "../../../src/upstream/client.ts";
import { createHttp1Client } from "../../../src/upstream/http1/http1_client.ts";
import {
  delay,
  keepAnswering,
  makeRequest,
  startScriptedServer,
  until,
  withBackend,
} from "./scripted_server.ts";

const OK = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

// Open fds of this process that are TCP sockets from or to `port`. A plain count of /proc/self/fd would also
// see sockets of test modules running in parallel in this same process.
function socketFds(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of Deno.readTextFileSync(table).split("\n").slice(1)) {
      const columns = line.trim().split(/\s+/);
      if (columns.length < 10) continue;
      if (columns[1].endsWith(`:${hexPort}`) || columns[2].endsWith(`:${hexPort}`)) inodes.add(columns[9]);
    }
  }
  let count = 0;
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(Deno.readLinkSync(`/proc/self/fd/${entry.name}`));
      if (match !== null && inodes.has(match[1])) count++;
    } catch { /* closed meanwhile */ }
  }
  return count;
}

Deno.test("1,000 sequential requests share one pooled connection", async () => {
  await withBackend(keepAnswering(OK), async (server, client) => {
    for (let i = 0; i < 1000; i++) {
      const response = await client.send(server.target, makeRequest(server.target, { path: `/${i}` }));
      assert.equal(await response.text(), "ok");
    }
    assert.equal(server.accepted, 1);
    assert.deepEqual(client.stats(server.target.key), {
      idle: 1,
      active: 0,
      connects: 1,
      reuses: 999,
      waits: 0,
      queued: 0,
    });
  });
});

Deno.test("10,000 concurrent requests queue for at most maxConnectionsPerBackend sockets, and close() frees them", async () => {
  let peak = 0;
  let open = 0;
  const server = startScriptedServer(async (conn) => {
    peak = Math.max(peak, ++open);
    try {
      while (await conn.readRequest() !== null) await conn.write(OK);
    } finally {
      open--;
    }
  });
  const client = createHttp1Client({ maxConnectionsPerBackend: 32 });
  let socketsWhilePooled = -1;
  try {
    const requests = Array.from({ length: 10_000 }, async (_, i) => {
      const response = await client.send(server.target, makeRequest(server.target, { path: `/${i}` }));
      return await response.text();
    });
    const bodies = await Promise.all(requests);
    assert.ok(bodies.every((body) => body === "ok"));
    assert.ok(server.accepted <= 32, `${server.accepted} connections`);
    assert.ok(peak <= 32);
    const stats = client.stats();
    assert.ok(stats.waits > 0);
    assert.equal(stats.queued, 0);
    assert.equal(stats.active, 0);
    assert.equal(stats.connects + stats.reuses, 10_000);
    socketsWhilePooled = socketFds(server.port);
  } finally {
    client.close();
    await server.close();
  }
  // Each pooled connection is two sockets here (both ends live in this process), plus the listener.
  assert.equal(socketsWhilePooled, 2 * client.stats().connects + 1);
  assert.equal(socketFds(server.port), 0);
});

Deno.test("an idle connection the backend closes is dropped from the pool", async () => {
  await withBackend(async (conn, index) => {
    await conn.readRequest();
    await conn.write(OK);
    if (index > 0) await conn.readRequest();
  }, async (server, client) => {
    await (await client.send(server.target, makeRequest(server.target))).text();
    assert.ok(await until(() => client.stats(server.target.key).idle === 0));
    assert.equal(await (await client.send(server.target, makeRequest(server.target))).text(), "ok");
    assert.equal(server.accepted, 2);
  });
});

Deno.test("idle connections close after idleTimeoutMs", async () => {
  let closedAfterIdle = false;
  await withBackend(async (conn) => {
    await conn.readRequest();
    await conn.write(OK);
    await conn.waitClosed();
    closedAfterIdle = true;
  }, async (server, client) => {
    await (await client.send(server.target, makeRequest(server.target))).text();
    assert.equal(client.stats().idle, 1);
    assert.ok(await until(() => client.stats().idle === 0));
    assert.ok(await until(() => closedAfterIdle));
  }, { idleTimeoutMs: 50 });
});

Deno.test("connections older than maxConnectionAgeMs are not reused", async () => {
  await withBackend(keepAnswering(OK), async (server, client) => {
    await (await client.send(server.target, makeRequest(server.target))).text();
    await delay(60);
    await (await client.send(server.target, makeRequest(server.target))).text();
    assert.equal(server.accepted, 2);
  }, { maxConnectionAgeMs: 50 });
});

Deno.test("at most maxIdlePerBackend connections stay pooled", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  await withBackend(async (conn) => {
    while (await conn.readRequest() !== null) {
      await gate;
      await conn.write(OK);
    }
  }, async (server, client) => {
    const pending = [1, 2, 3].map(() => client.send(server.target, makeRequest(server.target)));
    assert.ok(await until(() => server.accepted === 3));
    release();
    for (const response of await Promise.all(pending)) await response.text();
    assert.equal(client.stats().idle, 1);
  }, { maxIdlePerBackend: 1 });
});

Deno.test("a queued request that is aborted leaves the queue", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  await withBackend(async (conn) => {
    while (await conn.readRequest() !== null) {
      await gate;
      await conn.write(OK);
    }
  }, async (server, client) => {
    const first = client.send(server.target, makeRequest(server.target));
    const controller = new AbortController();
    const second = client.send(server.target, makeRequest(server.target, { signal: controller.signal }));
    assert.ok(await until(() => client.stats().queued === 1));
    controller.abort();
    const err = await second.then(() => assert.fail("sent"), (e) => e);
    assert.ok(err instanceof UpstreamError);
    assert.equal(err.kind, "aborted");
    assert.equal(err.requestSent, false);
    assert.equal(client.stats().queued, 0);
    release();
    assert.equal(await (await first).text(), "ok");
    assert.equal(client.stats().waits, 1);
  }, { maxConnectionsPerBackend: 1 });
});

Deno.test("close() closes idle sockets and lets in-flight exchanges finish without pooling them", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const closed: string[] = [];
  await withBackend(async (conn) => {
    const request = (await conn.readRequest())!;
    if (request.path === "/slow") await gate;
    await conn.write(OK);
    await conn.waitClosed();
    closed.push(request.path);
  }, async (server, client) => {
    const slow = client.send(server.target, makeRequest(server.target, { path: "/slow" }));
    await (await client.send(server.target, makeRequest(server.target, { path: "/fast" }))).text();
    assert.deepEqual(client.stats(), { idle: 1, active: 1, connects: 2, reuses: 0, waits: 0, queued: 0 });
    client.close();
    assert.ok(await until(() => closed.includes("/fast")));
    release();
    assert.equal(await (await slow).text(), "ok");
    assert.ok(await until(() => closed.includes("/slow")));
    assert.equal(client.stats().idle + client.stats().active, 0);
  });
});

Deno.test("a backend's Keep-Alive timeout hint bounds reuse, a second early", async (t) => {
  const answer = (hint: string) => `HTTP/1.1 200 OK\r\nKeep-Alive: ${hint}\r\ncontent-length: 2\r\n\r\nok`;
  const twice = async (hint: string, pauseMs: number) => {
    let accepted = 0;
    await withBackend(keepAnswering(answer(hint)), async (server, client) => {
      for (const pause of [0, pauseMs]) {
        await delay(pause);
        const response = await client.send(server.target, makeRequest(server.target));
        assert.equal(await response.text(), "ok");
      }
      accepted = server.accepted;
    });
    return accepted;
  };
  await t.step("reused well within the hint", async () => {
    assert.equal(await twice("timeout=5, max=100", 50), 1);
  });
  await t.step("not reused once the hint less a second has passed", async () => {
    assert.equal(await twice("timeout=2", 1100), 2);
  });
  await t.step("never pooled when the hint is a second or less", async () => {
    assert.equal(await twice("timeout=1", 0), 2);
  });
});
