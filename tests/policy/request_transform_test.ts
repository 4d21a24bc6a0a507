import assert from "node:assert/strict";
import { requestTransformationSchema } from "../../src/config/policy_schema.ts";
import { compileRequestTransformation } from "../../src/policy/request_transform.ts";
import { PolicyConfigError } from "../../src/policy/policy_config_error.ts";
import { makeContext } from "./context_fixture.ts";

const compile = (raw: unknown) => compileRequestTransformation(requestTransformationSchema.parse(raw), "t");

Deno.test("compileRequestTransformation() edits upstream headers, path and query", async () => {
  const stage = compile({
    headers: [
      { action: "add", name: "X-Gateway", value: "kairos" },
      { action: "set", name: "X-Env", value: "prod" },
      { action: "remove", name: "X-Secret" },
      { action: "replace", name: "User-Agent", pattern: "curl/(\\S+)", replacement: "client/$1" },
    ],
    path: { pattern: "^/v1/(.*)$", replacement: "/internal/$1" },
    query_params: [
      { action: "add", name: "source", value: "gw" },
      { action: "add", name: "page", value: "99" },
      { action: "set", name: "limit", value: "10" },
      { action: "remove", name: "debug" },
      { action: "replace", name: "missing", value: "x" },
    ],
  })!;
  const ctx = makeContext({
    url: "/api/v1/users?page=2&debug=1",
    headers: { "x-env": "dev", "x-secret": "s", "user-agent": "curl/8.5" },
    upstreamPath: "/v1/users",
  });
  assert.equal(await stage(ctx), undefined);
  assert.equal(ctx.upstreamHeaders.get("x-gateway"), "kairos");
  assert.equal(ctx.upstreamHeaders.get("x-env"), "prod");
  assert.equal(ctx.upstreamHeaders.has("x-secret"), false);
  assert.equal(ctx.upstreamHeaders.get("user-agent"), "client/8.5");
  assert.equal(ctx.upstreamPath, "/internal/users");
  assert.equal(ctx.upstreamQuery, "?page=2&source=gw&limit=10");
  // The client's own request is untouched.
  assert.equal(ctx.request.headers.get("x-env"), "dev");
});

Deno.test("compileRequestTransformation() replaces only the first path match and keeps a leading slash", async () => {
  const first = makeContext({ upstreamPath: "/a/a" });
  await compile({ path: { pattern: "a", replacement: "b" } })!(first);
  assert.equal(first.upstreamPath, "/b/a");
  const slash = makeContext({ upstreamPath: "/v1/users" });
  await compile({ path: { pattern: "^/v1/", replacement: "" } })!(slash);
  assert.equal(slash.upstreamPath, "/users");
});

Deno.test("compileRequestTransformation() returns no stage for an empty section", () => {
  assert.equal(compile({}), undefined);
});

Deno.test("compileRequestTransformation() rejects an invalid path regex and value-less query actions", async (t) => {
  await t.step("path regex", () => {
    assert.throws(
      () => compile({ path: { pattern: "([", replacement: "" } }),
      (err: unknown) => err instanceof PolicyConfigError && err.path === "t.path.pattern",
    );
  });
  await t.step("query value", () => {
    assert.throws(
      () => compile({ query_params: [{ action: "set", name: "a" }] }),
      (err: unknown) => err instanceof PolicyConfigError && err.path === "t.query_params[0].value",
    );
  });
});
