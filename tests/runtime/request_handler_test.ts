import assert from "node:assert/strict";
import { createLogger } from "../../src/observe/logger.ts";
import { createRequestHandler } from "../../src/runtime/request_handler.ts";
import type { CompiledRoute, Snapshot } from "../../src/runtime/snapshot.ts";
import type { UpstreamClient } from "../../src/upstream/client.ts";
import { compileSnapshot } from "./snapshot_fixture.ts";

Deno.test("a response stage that throws frees the backend's in-flight slot and cancels the upstream body", async () => {
  const fixture = compileSnapshot({
    version: 1,
    routers: [{
      external_path: "/x",
      internal_path: "/x",
      methods: ["GET"],
      backends: [{ host: "http://127.0.0.1", port: 9 }],
      load_balancing_strategy: "least_connections",
    }],
  });
  const { registry, metrics, snapshot: built } = fixture;
  // The same snapshot, its route with a response stage that fails.
  const failing = (): Response => {
    throw new Error("stage failed");
  };
  const snapshot: Snapshot = {
    ...built,
    table: {
      ...built.table,
      match(host: string | null, method: string, path: string) {
        const found = built.table.match(host, method, path);
        if (found.kind !== "found") return found;
        const route: CompiledRoute = { ...found.value, responseStages: [failing] };
        return { ...found, value: route };
      },
    },
  };
  let cancelled = false;
  const client: UpstreamClient = {
    name: "http1",
    ownsResponses: true,
    send: () =>
      Promise.resolve(
        new Response(new ReadableStream({ cancel: () => void (cancelled = true) }), { status: 200 }),
      ),
    close() {},
  };
  const lines: string[] = [];
  const handler = createRequestHandler({
    snapshot: () => snapshot,
    client,
    metrics,
    accessLog: undefined,
    logger: createLogger({ level: "error", format: "json", write: (line) => lines.push(line) }),
    draining: () => false,
    startedAt: Date.now(),
    renderMetrics: () => registry.render(),
  });
  try {
    const info = {
      remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 40000 },
      completed: Promise.resolve(),
    } as unknown as Deno.ServeHandlerInfo<Deno.NetAddr>;
    const response = await handler(new Request("http://127.0.0.1:5900/x"), info);
    assert.equal(response.status, 500);
    await response.body?.cancel();
    assert.equal(built.backends[0].inFlight, 0, "the backend's slot is free");
    assert.ok(cancelled, "the upstream body was cancelled");
    assert.ok(lines.some((line) => line.includes("stage failed")));
  } finally {
    fixture.dispose();
  }
});
