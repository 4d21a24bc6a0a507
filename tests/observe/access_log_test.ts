import assert from "node:assert/strict";
import { type AccessLogEntry, createAccessLog, formatAccessLine } from "../../src/observe/access_log.ts";

const ENTRY: AccessLogEntry = {
  requestId: "abc-1",
  method: "GET",
  path: '/a/"b"',
  route: "/a/{id}",
  backend: "http://127.0.0.1:9101",
  status: 200,
  durationMs: 12.34567,
  bytesIn: 0,
  bytesOut: 42,
  clientIp: "127.0.0.1",
  attempts: 1,
  userAgent: "curl/8.5.0",
  referer: null,
  time: Date.UTC(2025, 0, 2, 3, 4, 5, 6),
};

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

Deno.test("formatAccessLine() writes one JSON line with a fixed key order", () => {
  const line = formatAccessLine(ENTRY);
  assert.ok(line.endsWith("}\n"));
  assert.equal(line.indexOf("\n"), line.length - 1);
  const record = JSON.parse(line);
  assert.deepEqual(record, {
    time: "2025-01-02T03:04:05.006Z",
    request_id: "abc-1",
    method: "GET",
    path: '/a/"b"',
    route: "/a/{id}",
    backend: "http://127.0.0.1:9101",
    status: 200,
    duration_ms: 12.346,
    bytes_in: 0,
    bytes_out: 42,
    client_ip: "127.0.0.1",
    attempts: 1,
    user_agent: "curl/8.5.0",
    referer: null,
  });
  assert.deepEqual(
    Object.keys(record),
    [
      "time",
      "request_id",
      "method",
      "path",
      "route",
      "backend",
      "status",
      "duration_ms",
      "bytes_in",
      "bytes_out",
      "client_ip",
      "attempts",
      "user_agent",
      "referer",
    ],
  );
});

Deno.test("formatAccessLine() writes a null backend and the error when present", () => {
  const record = JSON.parse(
    formatAccessLine({ ...ENTRY, backend: null, status: 502, error: "connect refused" }),
  );
  assert.equal(record.backend, null);
  assert.equal(record.error, "connect refused");
  assert.deepEqual(Object.keys(record).slice(-2), ["referer", "error"]);
});

Deno.test("createAccessLog() batches the lines of one turn into one write", async () => {
  const writes: string[] = [];
  const log = createAccessLog({ write: (t) => writes.push(t) });
  log.log(ENTRY);
  log.log({ ...ENTRY, requestId: "abc-2" });
  log.log({ ...ENTRY, requestId: "abc-3" });
  assert.equal(writes.length, 0, "nothing is written synchronously");
  await nextTurn();
  assert.equal(writes.length, 1);
  assert.deepEqual(writes[0].trimEnd().split("\n").map((l) => JSON.parse(l).request_id), [
    "abc-1",
    "abc-2",
    "abc-3",
  ]);
  log.log(ENTRY);
  await nextTurn();
  assert.equal(writes.length, 2, "a later turn gets its own write");
});

Deno.test("createAccessLog() flushes at once when the buffer passes its limit", () => {
  const writes: string[] = [];
  const lineLength = formatAccessLine(ENTRY).length;
  const log = createAccessLog({ write: (t) => writes.push(t), maxBufferChars: lineLength * 2 });
  log.log(ENTRY);
  assert.equal(writes.length, 0);
  log.log(ENTRY);
  assert.equal(writes.length, 1);
  assert.equal(writes[0].length, lineLength * 2);
  log.flush();
  assert.equal(writes.length, 1, "flush() of an empty buffer writes nothing");
});

Deno.test("flush() writes pending lines now and leaves no timer behind", () => {
  // The test sanitizer fails this test if flush() left the setTimeout pending.
  const writes: string[] = [];
  const log = createAccessLog({ write: (t) => writes.push(t) });
  log.log(ENTRY);
  log.flush();
  assert.equal(writes.length, 1);
  assert.equal(JSON.parse(writes[0]).request_id, "abc-1");
});

Deno.test("createAccessLog() reports a failing sink and drops the batch", async () => {
  const errors: unknown[] = [];
  let fail = true;
  const writes: string[] = [];
  const log = createAccessLog({
    write: (t) => {
      if (fail) throw new Error("EPIPE");
      writes.push(t);
    },
    onError: (e) => errors.push(e),
  });
  log.log(ENTRY);
  await nextTurn();
  assert.equal(errors.length, 1);
  fail = false;
  log.log({ ...ENTRY, requestId: "after" });
  log.flush();
  assert.deepEqual(writes.map((w) => JSON.parse(w).request_id), ["after"]);
});
