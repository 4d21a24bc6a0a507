import assert from "node:assert/strict";
import { workerCommand } from "../../../src/runtime/workers/child_command.ts";

Deno.test("workerCommand() repeats this process's arguments, without --watch and --inspect", () => {
  const cmdline = [
    "deno",
    "run",
    "--watch",
    "--inspect=127.0.0.1:9229",
    "--allow-net",
    "main.ts",
    "serve",
    "-c",
    "x.json",
    "",
  ]
    .join("\0");
  assert.deepEqual(workerCommand(cmdline), {
    program: Deno.execPath(),
    args: ["run", "--allow-net", "main.ts", "serve", "-c", "x.json"],
  });
});

Deno.test("workerCommand() keeps a compiled binary's own arguments", () => {
  assert.deepEqual(workerCommand("/usr/local/bin/kairos\0serve\0--port\x005900\0").args, [
    "serve",
    "--port",
    "5900",
  ]);
});

Deno.test("workerCommand() reads this process's real command line", () => {
  const { args } = workerCommand();
  assert.ok(args.length > 0);
});
