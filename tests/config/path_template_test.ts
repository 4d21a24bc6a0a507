import assert from "node:assert/strict";
import { hasTraversal, parsePathTemplate, templateShape } from "../../src/config/path_template.ts";

Deno.test("parsePathTemplate() splits segments into literals, params and a tail wildcard", () => {
  assert.deepEqual(parsePathTemplate("/v1/user-{id}/files/{*rest}", "external"), {
    segments: [
      [{ kind: "literal", text: "v1" }],
      [{ kind: "literal", text: "user-" }, { kind: "param", name: "id" }],
      [{ kind: "literal", text: "files" }],
      [{ kind: "wildcard", name: "rest" }],
    ],
    params: ["id", "rest"],
  });
  assert.deepEqual(parsePathTemplate("/", "external"), { segments: [[]], params: [] });
});

Deno.test("parsePathTemplate() lets an internal path repeat names and place a wildcard anywhere", () => {
  const template = parsePathTemplate("/{*rest}/{id}/{id}", "internal");
  assert.notEqual(typeof template, "string");
  assert.deepEqual((template as { params: string[] }).params, ["rest", "id"]);
});

Deno.test("parsePathTemplate() rejects malformed templates", async (t) => {
  const cases: [string, RegExp][] = [
    ["/a/{id", /unclosed/],
    ["/a/{}", /empty placeholder/],
    ["/a/{*}", /empty placeholder/],
    ["/a/id}", /unmatched "}"/],
    ["/a/{a b}", /invalid placeholder/],
    ["/a/{é}", /invalid placeholder/],
    ["/a/{x}{y}", /separated by literal text/],
    ["/a/{x}/{x}", /duplicate placeholder "x"/],
    ["/{*rest}/a", /whole last segment/],
    ["/files-{*rest}", /whole last segment/],
  ];
  for (const [path, message] of cases) {
    await t.step(path, () => assert.match(parsePathTemplate(path, "external") as string, message));
  }
});

Deno.test("templateShape() erases placeholder names", () => {
  const shape = (p: string) => templateShape(parsePathTemplate(p, "external") as never);
  assert.equal(shape("/a/{x}/b-{y}"), shape("/a/{z}/b-{w}"));
  assert.notEqual(shape("/a/{x}"), shape("/a/{*x}"));
  assert.notEqual(shape("/a/"), shape("/a"));
});

Deno.test("hasTraversal() finds .. segments, also percent-encoded", () => {
  for (const path of ["/a/../b", "/..", "/a/%2e%2E/b", "/a/.%2e"]) assert.ok(hasTraversal(path), path);
  for (const path of ["/a/..b", "/a/b..", "/a/./b", "/"]) assert.ok(!hasTraversal(path), path);
});
