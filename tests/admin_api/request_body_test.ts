import assert from "node:assert/strict";
import { ApiError } from "../../src/admin_api/api_error.ts";
import { readBody } from "../../src/admin_api/request_body.ts";

function post(
  body: BodyInit | null,
  contentType: string | null,
  headers: Record<string, string> = {},
): Request {
  const h = new Headers(headers);
  if (contentType !== null) h.set("content-type", contentType);
  return new Request("http://127.0.0.1/x", { method: "POST", body, headers: h });
}

async function refusal(request: Request, options = {}): Promise<ApiError> {
  try {
    await readBody(request, options);
  } catch (err) {
    assert.ok(err instanceof ApiError);
    return err;
  }
  throw new Error("expected a refusal");
}

Deno.test("readBody() parses JSON and, where allowed, YAML", async () => {
  assert.deepEqual((await readBody(post('{"a": 1}', "application/json; charset=utf-8"))).value, { a: 1 });
  assert.deepEqual((await readBody(post("a: 1\n", "application/yaml"), { yaml: true })).value, { a: 1 });
});

Deno.test("readBody() refuses a wrong or missing content type with 415", async (t) => {
  for (
    const [name, type, yaml] of [
      ["form", "application/x-www-form-urlencoded", false],
      ["none", null, false],
      ["yaml where only JSON is taken", "application/yaml", false],
    ] as const
  ) {
    await t.step(name, async () => assert.equal((await refusal(post("{}", type), { yaml })).status, 415));
  }
});

Deno.test("readBody() answers malformed JSON with 400 and the line and column", async () => {
  const err = await refusal(post('{\n  "a": 1,\n  oops\n}', "application/json"));
  assert.equal(err.status, 400);
  assert.match(err.message, /^Cannot parse the request body as JSON: .* \(line 3, column 3\)$/);
  assert.deepEqual(err.extra, { line: 3, column: 3 });
  assert.equal((await refusal(post("", "application/json"))).status, 400);
  assert.equal((await refusal(post(new Uint8Array([0x7b, 0xff, 0x7d]), "application/json"))).status, 400);
});

Deno.test("readBody() refuses an oversized body with 413, by Content-Length or while streaming", async () => {
  const big = "x".repeat(2000);
  assert.equal((await refusal(post(big, "application/json"), { limit: 1000 })).status, 413);
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= 10) return controller.close();
      sent++;
      controller.enqueue(new Uint8Array(300).fill(0x20));
    },
  });
  assert.equal((await refusal(post(stream, "application/json"), { limit: 1000 })).status, 413);
  assert.ok(sent < 10, "stopped reading once over the limit");
});
