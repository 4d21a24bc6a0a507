import assert from "node:assert/strict";
import { createServiceNotifier } from "../../src/runtime/service_notifier.ts";

Deno.test("createServiceNotifier() does nothing without NOTIFY_SOCKET, and warns for an abstract one", () => {
  const lines: string[] = [];
  const logger = {
    level: "debug" as const,
    debug: (m: string) => void lines.push(m),
    info: (m: string) => void lines.push(m),
    warn: (m: string) => void lines.push(m),
    error: (m: string) => void lines.push(m),
    enabled: () => true,
  };
  const notifier = createServiceNotifier(() => undefined, logger);
  notifier.ready("x");
  notifier.stopping();
  notifier.close();
  assert.deepEqual(lines, []);
  const abstract = createServiceNotifier(
    (n) => n === "NOTIFY_SOCKET" ? "@/org/systemd/notify" : undefined,
    logger,
  );
  abstract.ready("x");
  assert.match(lines.join("\n"), /abstract socket/);
});
