/**
 * The request bytes a RequestRecord logs (`bytes_in`) and counts (`kairos_http_request_bytes_total`): the
 * body bytes the gateway read from the client, with either upstream client, through the real handler.
 */
import assert from "node:assert/strict";
import type { AccessLogEntry } from "../../src/observe/access_log.ts";
import { createLogger } from "../../src/observe/logger.ts";
import { createRequestHandler } from "../../src/runtime/request_handler.ts";
import { createFetchClient } from "../../src/upstream/fetch_client.ts";
import { createHttp1Client } from "../../src/upstream/http1/http1_client.ts";
import { sample, until } from "../system/harness.ts";
import { compileSnapshot } from "./snapshot_fixture.ts";

const encoder = new TextEncoder();

/** The real handler on 127.0.0.1:0 in front of `backendPort`, collecting access-log entries. */
function startGateway(upstreamClient: "http1" | "fetch", backendPort: number) {
  const backends = [{ host: "http://127.0.0.1", port: backendPort }];
  const fixture = compileSnapshot({
    version: 1,
    server: { upstream_client: upstreamClient },
    routers: [
      { external_path: "/api/{*rest}", internal_path: "/{rest}", methods: ["GET", "POST"], backends },
      {
        external_path: "/retry/{*rest}",
        internal_path: "/retry/{rest}",
        methods: ["POST"],
        backends,
        retry: { max_retries: 1, initial_backoff_ms: 1, max_backoff_ms: 1, jitter: 0 },
      },
      {
        external_path: "/limited/{*rest}",
        internal_path: "/{rest}",
        methods: ["POST"],
        backends,
        max_body_bytes: 1000,
      },
    ],
  });
  const { config, registry, metrics, snapshot } = fixture;
  // As the gateway picks it.
  const client = config.server.upstream_client === "http1" ? createHttp1Client() : createFetchClient();
  const entries: AccessLogEntry[] = [];
  const handler = createRequestHandler({
    snapshot: () => snapshot,
    client,
    metrics,
    accessLog: { log: (entry) => void entries.push(entry), flush() {} },
    logger: createLogger({ level: "error", format: "json", write: () => {} }),
    draining: () => false,
    startedAt: Date.now(),
    renderMetrics: () => registry.render(),
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    port: server.addr.port,
    registry,
    /** The access-log entry of the one request to `path`, once it is logged. */
    async entry(path: string): Promise<AccessLogEntry> {
      await until(() => entries.some((e) => e.path === path), 3000, `the access-log line of ${path}`);
      return entries.find((e) => e.path === path)!;
    },
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      client.close();
      fixture.dispose();
    },
  };
}

/** Answers with the number of body bytes it received; `/retry/…` answers 503 to its first request. */
function startBackend() {
  const retried = new Set<string>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const size = (await request.bytes().catch(() => new Uint8Array())).length;
    const path = new URL(request.url).pathname;
    if (path.startsWith("/retry/") && !retried.has(path)) {
      retried.add(path);
      return new Response("busy", { status: 503 });
    }
    return new Response(String(size));
  });
  return { port: server.addr.port, [Symbol.asyncDispose]: () => server.shutdown() };
}

/** A body without a length, so the client sends it chunked. */
function chunkedBody(...sizes: number[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const size of sizes) controller.enqueue(new Uint8Array(size).fill(97));
      controller.close();
    },
  });
}

/** Sends a request head declaring `declared` body bytes, then only `sent` of them, and hangs up. */
async function cutUpload(port: number, path: string, declared: number, sent: number): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const head = `POST ${path} HTTP/1.1\r\nhost: gateway.test\r\ncontent-length: ${declared}\r\n\r\n`;
    await conn.write(encoder.encode(head));
    await conn.write(new Uint8Array(sent).fill(97));
    // Give the gateway time to read what came before the connection drops.
    await new Promise((resolve) => setTimeout(resolve, 100));
  } finally {
    conn.close();
  }
}

for (const upstreamClient of ["http1", "fetch"] as const) {
  Deno.test(`bytes_in is the request body the gateway read, with the ${upstreamClient} client`, async (t) => {
    await using backend = startBackend();
    await using gw = startGateway(upstreamClient, backend.port);

    await t.step("a chunked upload logs the bytes that arrived", async () => {
      const res = await fetch(`${gw.url}/api/chunked`, {
        method: "POST",
        body: chunkedBody(10_000, 20_000, 5),
      });
      assert.equal(await res.text(), "30005");
      assert.equal((await gw.entry("/api/chunked")).bytesIn, 30_005);
    });

    await t.step("a Content-Length upload logs its length", async () => {
      const res = await fetch(`${gw.url}/api/length`, { method: "POST", body: "x".repeat(5000) });
      assert.equal(await res.text(), "5000");
      assert.equal((await gw.entry("/api/length")).bytesIn, 5000);
    });

    await t.step("a GET logs 0, and the client's User-Agent and Referer", async () => {
      await (await fetch(`${gw.url}/api/get`, {
        headers: { "user-agent": "probe/1.0", referer: "https://app.example/page" },
      })).text();
      const entry = await gw.entry("/api/get");
      assert.equal(entry.bytesIn, 0);
      assert.equal(entry.userAgent, "probe/1.0");
      assert.equal(entry.referer, "https://app.example/page");
    });

    await t.step("an upload the client cuts short logs what arrived, not its Content-Length", async () => {
      await cutUpload(gw.port, "/api/cut", 100_000, 4000);
      assert.equal((await gw.entry("/api/cut")).bytesIn, 4000);
    });

    await t.step("a retried POST with a buffered body counts its body once", async () => {
      const res = await fetch(`${gw.url}/retry/once`, { method: "POST", body: chunkedBody(3000) });
      assert.equal(await res.text(), "3000");
      const entry = await gw.entry("/retry/once");
      assert.equal(entry.attempts, 2);
      assert.equal(entry.bytesIn, 3000);
    });

    await t.step("a 413 from the body limit logs what was read", async (t) => {
      await t.step("a declared length over the limit is refused unread", async () => {
        const res = await fetch(`${gw.url}/limited/declared`, { method: "POST", body: "x".repeat(5000) });
        assert.equal(res.status, 413);
        await res.body?.cancel();
        assert.equal((await gw.entry("/limited/declared")).bytesIn, 0);
      });
      await t.step("a chunked body is read up to the chunk that crosses the limit", async () => {
        const res = await fetch(`${gw.url}/limited/chunked`, {
          method: "POST",
          body: chunkedBody(600, 600, 600),
        });
        assert.equal(res.status, 413);
        await res.body?.cancel();
        const { bytesIn } = await gw.entry("/limited/chunked");
        assert.ok(bytesIn > 1000 && bytesIn <= 1800, `read ${bytesIn} bytes`);
      });
    });

    await t.step("the request-bytes series counts the same bytes as the log", async () => {
      const text = await gw.registry.render();
      assert.equal(
        sample(text, 'kairos_http_request_bytes_total{route="/api/{*rest}"}'),
        30_005 + 5000 + 4000,
      );
      assert.equal(sample(text, 'kairos_http_request_bytes_total{route="/retry/{*rest}"}'), 3000);
    });
  });
}
