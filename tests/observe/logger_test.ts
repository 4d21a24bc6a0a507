import assert from "node:assert/strict";
import { createLogger, type LogLevel, parseLogLevel } from "../../src/observe/logger.ts";

function capture(level: LogLevel, format: "json" | "pretty", color?: boolean) {
  const lines: string[] = [];
  const log = createLogger({ level, format, write: (l) => lines.push(l), color });
  return { log, lines };
}

Deno.test("createLogger() drops messages below its level without touching their fields", () => {
  const { log, lines } = capture("warn", "json");
  const untouchable = {
    get boom(): never {
      throw new Error("fields of a filtered message were read");
    },
  };
  log.debug("d", untouchable);
  log.info("i", untouchable);
  log.warn("w");
  log.error("e");
  assert.deepEqual(lines.map((l) => JSON.parse(l).msg), ["w", "e"]);
  assert.equal(log.enabled("info"), false);
  assert.equal(log.enabled("error"), true);
});

Deno.test("createLogger() passes every level at debug", () => {
  const { log, lines } = capture("debug", "json");
  log.debug("a");
  log.info("b");
  log.warn("c");
  log.error("d");
  assert.deepEqual(lines.map((l) => JSON.parse(l).level), ["debug", "info", "warn", "error"]);
});

Deno.test("json format writes one object per line: time, level, msg, then fields", () => {
  const { log, lines } = capture("info", "json");
  log.info("listening", {
    port: 8080,
    msg: "ignored",
    err: new RangeError("bad"),
    n: 5n,
    nested: { a: [1] },
  });
  assert.equal(lines.length, 1);
  assert.ok(!lines[0].includes("\n"));
  const record = JSON.parse(lines[0]);
  assert.deepEqual(Object.keys(record), ["time", "level", "msg", "port", "err", "n", "nested"]);
  assert.match(record.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.deepEqual(
    { ...record, time: 0 },
    {
      time: 0,
      level: "info",
      msg: "listening",
      port: 8080,
      err: { name: "RangeError", message: "bad" },
      n: "5",
      nested: { a: [1] },
    },
  );
});

Deno.test("json format keeps the message when a field is circular", () => {
  const { log, lines } = capture("info", "json");
  const loop: Record<string, unknown> = {};
  loop.self = loop;
  log.error("oops", { loop });
  const record = JSON.parse(lines[0]);
  assert.equal(record.msg, "oops");
  assert.equal(record.level, "error");
  assert.deepEqual(record.loop, { self: "[Circular]" });
});

Deno.test("pretty format writes time, level, message and key=value pairs without colour", () => {
  const { log, lines } = capture("info", "pretty");
  log.warn("backend down", { backend: "http://127.0.0.1:9101", reason: "two words", code: 3, ok: false });
  assert.match(
    lines[0],
    /^\d\d:\d\d:\d\d\.\d{3} WARN {2}backend down backend=http:\/\/127\.0\.0\.1:9101 reason="two words" code=3 ok=false$/,
  );
});

Deno.test("pretty format colours the level only when asked", () => {
  const plain = capture("info", "pretty");
  plain.log.error("x");
  assert.ok(!plain.lines[0].includes("\x1b["));
  const coloured = capture("info", "pretty", true);
  coloured.log.error("x", { k: 1 });
  assert.ok(coloured.lines[0].includes("\x1b[31mERROR\x1b[0m"));
});

Deno.test("parseLogLevel() reads plain levels and RUST_LOG filters", async (t) => {
  const cases: [string | undefined, LogLevel][] = [
    [undefined, "info"],
    ["", "info"],
    ["debug", "debug"],
    ["INFO", "info"],
    ["warn", "warn"],
    ["warning", "warn"],
    ["error", "error"],
    ["trace", "debug"],
    ["kairos=debug,actix=warn", "debug"],
    ["warn,kairos=info", "info"],
    ["kairos_rs::routes=trace", "debug"],
    ["kairos=warn,kairos::proxy=debug", "debug"],
    ["actix_web=debug", "info"],
    ["error,actix_web=debug", "error"],
    ["kairos", "debug"],
    ["info,kairos=debug/foo", "debug"],
  ];
  for (const [env, level] of cases) {
    await t.step(`${JSON.stringify(env)} → ${level}`, () => assert.equal(parseLogLevel(env), level));
  }
});

Deno.test("parseLogLevel() rejects an unknown level", async (t) => {
  for (const env of ["verbose", "kairos=loud"]) {
    await t.step(env, () => assert.throws(() => parseLogLevel(env), /Cannot parse log level .*"/));
  }
});
