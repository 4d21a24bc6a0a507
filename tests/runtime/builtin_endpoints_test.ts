import assert from "node:assert/strict";
import { BUILTIN_PATHS, builtinResponse, type BuiltinState } from "../../src/runtime/builtin_endpoints.ts";

const state: BuiltinState = { startedAt: Date.now(), draining: () => false, renderMetrics: () => "" };

Deno.test("builtinResponse() answers GET and HEAD on every path of BUILTIN_PATHS", async (t) => {
  for (const path of BUILTIN_PATHS) {
    await t.step(path, async () => {
      const get = await builtinResponse("GET", path, state);
      assert.equal(get?.status, 200);
      await get!.body?.cancel();
      const head = await builtinResponse("HEAD", path, state);
      assert.equal(head?.status, 200);
      assert.equal(head!.body, null);
    });
  }
});

Deno.test("builtinResponse() leaves other paths and methods to the routes", async (t) => {
  const cases: [string, string][] = [["GET", "/healthz"], ["GET", "/"], ["GET", "/metrics/"], [
    "POST",
    "/health",
  ]];
  for (const [method, path] of cases) {
    await t.step(`${method} ${path}`, () => assert.equal(builtinResponse(method, path, state), undefined));
  }
});
