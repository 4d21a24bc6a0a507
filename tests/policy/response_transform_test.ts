import assert from "node:assert/strict";
import { responseTransformationSchema } from "../../src/config/policy_schema.ts";
import { compileResponseTransformation } from "../../src/policy/response_transform.ts";
import { PolicyConfigError } from "../../src/policy/policy_config_error.ts";
import { makeContext } from "./context_fixture.ts";

const compile = (raw: unknown) => compileResponseTransformation(responseTransformationSchema.parse(raw), "t");

Deno.test("compileResponseTransformation() maps statuses by the first matching mapping and condition", async (t) => {
  const stage = compile({
    status_code_mappings: [
      { from: 404, to: 410, condition: 'path ~ "^/api/old/"' },
      { from: 404, to: 200, condition: 'method == "HEAD"' },
      { from: 404, to: 204 },
      { from: 500, to: 503 },
    ],
  })!;
  const cases: Array<[string, string, number, number]> = [
    ["GET", "/api/old/x", 404, 410],
    ["HEAD", "/api/new", 404, 200],
    ["GET", "/api/new", 404, 204],
    ["GET", "/api/new", 500, 503],
    ["GET", "/api/new", 502, 502],
  ];
  for (const [method, url, from, to] of cases) {
    await t.step(`${method} ${url} ${from} → ${to}`, async () => {
      const response = new Response(from === 404 ? null : "body", { status: from });
      const out = stage(makeContext({ method, url }), response);
      assert.equal(out.status, to);
      await out.body?.cancel();
    });
  }
});

Deno.test("compileResponseTransformation() keeps the body streaming when it changes the status", async () => {
  const stage = compile({ status_code_mappings: [{ from: 500, to: 502 }] })!;
  let push!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (push = c) });
  const out = stage(makeContext(), new Response(body, { status: 500, headers: { "x-a": "1" } }));
  // The stage returned before the upstream body finished: nothing was buffered.
  assert.equal(out.status, 502);
  assert.equal(out.headers.get("x-a"), "1");
  push.enqueue(new TextEncoder().encode("part1,"));
  push.enqueue(new TextEncoder().encode("part2"));
  push.close();
  assert.equal(await out.text(), "part1,part2");
});

Deno.test("compileResponseTransformation() applies header actions to the response", async () => {
  const stage = compile({
    headers: [
      { action: "remove", name: "Server" },
      { action: "set", name: "X-Powered-By", value: "kairos" },
      { action: "add", name: "Cache-Control", value: "no-store" },
    ],
  })!;
  const response = new Response("x", { headers: { server: "nginx", "cache-control": "max-age=5" } });
  const out = stage(makeContext(), response);
  assert.equal(out.headers.has("server"), false);
  assert.equal(out.headers.get("x-powered-by"), "kairos");
  assert.equal(out.headers.get("cache-control"), "max-age=5");
  await out.body?.cancel();
});

Deno.test("compileResponseTransformation() rejects 1xx statuses and bad conditions at their path", async (t) => {
  const cases: Array<[unknown, string]> = [
    [{ status_code_mappings: [{ from: 404, to: 101 }] }, "t.status_code_mappings[0].to"],
    [
      { status_code_mappings: [{ from: 404, to: 200, condition: "nope ==" }] },
      "t.status_code_mappings[0].condition",
    ],
    [{ headers: [{ action: "replace", name: "X", pattern: "[" }] }, "t.headers[0].pattern"],
  ];
  for (const [raw, path] of cases) {
    await t.step(path, () => {
      assert.throws(
        () => compile(raw),
        (err: unknown) => err instanceof PolicyConfigError && err.path === path,
      );
    });
  }
});
