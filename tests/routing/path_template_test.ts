import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import {
  compileTemplate,
  hasTraversal,
  parsePathPattern,
  type PathSegment,
  patternShape,
  renderTemplate,
} from "../../src/routing/path_template.ts";

Deno.test("parsePathPattern() splits a pattern into static, param, pattern and catch-all segments", async (t) => {
  const cases: [string, PathSegment[]][] = [
    ["/", [{ kind: "static", text: "" }]],
    ["/users", [{ kind: "static", text: "users" }]],
    ["/users/", [{ kind: "static", text: "users" }, { kind: "static", text: "" }]],
    ["/a//b", [{ kind: "static", text: "a" }, { kind: "static", text: "" }, { kind: "static", text: "b" }]],
    ["/users/{id}", [{ kind: "static", text: "users" }, { kind: "param", name: "id" }]],
    ["/{a}/{B_2}", [{ kind: "param", name: "a" }, { kind: "param", name: "B_2" }]],
    ["/u/user-{id}", [{ kind: "static", text: "u" }, {
      kind: "pattern",
      prefix: "user-",
      name: "id",
      suffix: "",
    }]],
    ["/{id}.json", [{ kind: "pattern", prefix: "", name: "id", suffix: ".json" }]],
    ["/v{n}-x", [{ kind: "pattern", prefix: "v", name: "n", suffix: "-x" }]],
    ["/api/{*rest}", [{ kind: "static", text: "api" }, { kind: "catch_all", name: "rest" }]],
    ["/{*all}", [{ kind: "catch_all", name: "all" }]],
    ["/Users/ME", [{ kind: "static", text: "Users" }, { kind: "static", text: "ME" }]],
  ];
  for (const [pattern, expected] of cases) {
    await t.step(pattern, () => deepStrictEqual(parsePathPattern(pattern), expected));
  }
});

Deno.test("parsePathPattern() throws a TypeError naming the rule for an invalid pattern", async (t) => {
  const cases: [string, RegExp][] = [
    ["", /must start with "\/"/],
    ["users/{id}", /must start with "\/"/],
    ["/users/{id", /"\{" at index 7 is not closed/],
    ["/users/{id/x}", /"\{" at index 7 is not closed/],
    ["/users/id}", /"\}" at index 9 has no matching "\{"/],
    ["/users/{}", /parameter name must be letters, digits or _, got ""/],
    ["/users/{*}", /parameter name must be .*got ""/],
    ["/users/{user id}", /got "user id"/],
    ["/users/{id-x}", /got "id-x"/],
    ["/users/{a{b}", /got "a\{b"/],
    ["/users/{__proto__}", /"__proto__" is reserved/],
    ["/{id}/x/{id}", /parameter "id" appears twice/],
    ["/{id}/{*id}", /parameter "id" appears twice/],
    ["/{a}-{b}", /at most one parameter, got "\{a\}-\{b\}"/],
    ["/{*rest}/x", /catch-all "\{\*rest\}" must be the whole last segment/],
    ["/x/file-{*rest}", /catch-all .* must be the whole last segment/],
    ["/x/{*rest}.json", /catch-all .* must be the whole last segment/],
  ];
  for (const [pattern, message] of cases) {
    await t.step(JSON.stringify(pattern), () => {
      throws(
        () => parsePathPattern(pattern),
        (err: unknown) => err instanceof TypeError && message.test(err.message),
      );
    });
  }
});

Deno.test("compileTemplate() splits an internal path into literals and placeholder names", async (t) => {
  const cases: [string, string[], string[]][] = [
    ["/health", ["/health"], []],
    ["/users/{id}", ["/users/", ""], ["id"]],
    ["/v1/user-{id}/x", ["/v1/user-", "/x"], ["id"]],
    ["/files/{*rest}", ["/files/", ""], ["rest"]],
    ["/{a}{b}", ["/", "", ""], ["a", "b"]],
    ["/{id}/again/{id}", ["/", "/again/", ""], ["id", "id"]],
  ];
  for (const [source, literals, names] of cases) {
    await t.step(source, () => {
      const t = compileTemplate(source);
      deepStrictEqual([t.source, t.literals, t.names], [source, literals, names]);
    });
  }
});

Deno.test("compileTemplate() throws a TypeError for malformed placeholders", async (t) => {
  const cases: [string, RegExp][] = [
    ["/users/{id", /Cannot parse internal path "\/users\/\{id": "\{" at index 7 is not closed/],
    ["/users/}", /"\}" at index 7 has no matching "\{"/],
    ["/users/{}", /got ""/],
    ["/users/{a.b}", /got "a\.b"/],
  ];
  for (const [source, message] of cases) {
    await t.step(source, () => {
      throws(
        () => compileTemplate(source),
        (err: unknown) => err instanceof TypeError && message.test(err.message),
      );
    });
  }
});

Deno.test("renderTemplate() substitutes raw values, keeping unknown placeholders literal", async (t) => {
  const cases: [string, Record<string, string>, string][] = [
    ["/health", { id: "1" }, "/health"],
    ["/users/{id}", { id: "123" }, "/users/123"],
    ["/{id}", { id: "200" }, "/200"],
    ["/products/{id}/info", { id: "abc123" }, "/products/abc123/info"],
    ["/v1/user-{id}.json", { id: "7" }, "/v1/user-7.json"],
    ["/files/{*rest}", { rest: "a/b/c.txt" }, "/files/a/b/c.txt"],
    ["/files/{rest}", { rest: "a/b" }, "/files/a/b"],
    ["/files/{rest}", { rest: "" }, "/files/"],
    ["/s/{q}", { q: "test%20space" }, "/s/test%20space"],
    ["/s/{q}", { q: "test-123_abc" }, "/s/test-123_abc"],
    ["/s/{q}", { q: "%2F..%2F" }, "/s/%2F..%2F"],
    ["/{a}/{b}/{a}", { a: "x", b: "y" }, "/x/y/x"],
    ["/u/{missing}/{id}", { id: "1" }, "/u/{missing}/1"],
    ["/u/{*missing}", {}, "/u/{*missing}"],
    ["/u/{toString}", {}, "/u/{toString}"],
    ["/u/{toString}", { toString: "ts" }, "/u/ts"],
  ];
  for (const [source, params, expected] of cases) {
    await t.step(`${source} with ${JSON.stringify(params)}`, () => {
      strictEqual(renderTemplate(compileTemplate(source), params), expected);
    });
  }
});

Deno.test("patternShape() erases parameter names but keeps literal text around them", () => {
  const shape = (p: string) => patternShape(parsePathPattern(p));
  strictEqual(shape("/a/{x}/b-{y}/{*z}"), "/a/{}/b-{}/{*}");
  strictEqual(shape("/a/{x}/b-{y}"), shape("/a/{z}/b-{w}"));
  strictEqual(shape("/"), "/");
  for (const [a, b] of [["/a/{x}", "/a/{*x}"], ["/a/", "/a"], ["/a/{x}.json", "/a/{x}"]]) {
    strictEqual(shape(a) === shape(b), false, `${a} vs ${b}`);
  }
});

Deno.test("hasTraversal() finds .. segments, also percent-encoded", () => {
  for (const path of ["/a/../b", "/..", "/a/%2e%2E/b", "/a/.%2e"]) {
    strictEqual(hasTraversal(path), true, path);
  }
  for (const path of ["/a/..b", "/a/b..", "/a/./b", "/"]) strictEqual(hasTraversal(path), false, path);
});
