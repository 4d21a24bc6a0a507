import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { compileRouteTable, type MatchResult, type RouteEntry } from "../../src/routing/route_table.ts";

/** A route by pattern and methods (GET by default); its value is its pattern. */
type Route = readonly [pattern: string, methods?: readonly string[]];
type Request = readonly [method: string, path: string, expected: MatchResult<string>];

const found = (value: string, params: Record<string, string> = {}): MatchResult<string> => ({
  kind: "found",
  value,
  params,
});
const notAllowed = (
  allow: string,
  value: string,
  params: Record<string, string> = {},
): MatchResult<string> => ({
  kind: "method_not_allowed",
  allow,
  value,
  params,
});
const NOT_FOUND: MatchResult<string> = { kind: "not_found" };

function entries(routes: readonly Route[]): RouteEntry<string>[] {
  return routes.map(([pattern, methods = ["GET"]]) => ({ pattern, methods, value: pattern }));
}

/** Runs every request against the routes compiled in config order and in reverse order. */
async function checkBothOrders(t: Deno.TestContext, routes: readonly Route[], requests: readonly Request[]) {
  const forward = compileRouteTable(entries(routes));
  const reverse = compileRouteTable(entries(routes).reverse());
  for (const [method, path, expected] of requests) {
    await t.step(`${method} ${JSON.stringify(path)}`, () => {
      deepStrictEqual(forward.match(method, path), expected, "config order");
      deepStrictEqual(reverse.match(method, path), expected, "reverse order");
    });
  }
}

Deno.test("match() finds static routes by exact path, without slash or case normalization", async (t) => {
  const routes: Route[] = [["/api/health"], ["/a"], ["/b/"], ["/x//y"], ["/Users"]];
  await checkBothOrders(t, routes, [
    ["GET", "/api/health", found("/api/health")],
    ["GET", "/a", found("/a")],
    ["GET", "/a/", NOT_FOUND],
    ["GET", "/b/", found("/b/")],
    ["GET", "/b", NOT_FOUND],
    ["GET", "/x//y", found("/x//y")],
    ["GET", "/x/y", NOT_FOUND],
    ["GET", "/Users", found("/Users")],
    ["GET", "/users", NOT_FOUND],
    ["GET", "/api/nonexistent", NOT_FOUND],
    ["GET", "", NOT_FOUND],
    ["GET", "/", NOT_FOUND],
    ["GET", "api/health", NOT_FOUND],
  ]);
});

Deno.test("match() reproduces kairos-rs's route_matcher test cases", async (t) => {
  const routes: Route[] = [
    ["/api/health"],
    ["/cats/{id}"],
    ["/{id}"],
    ["/api/users/{id}"],
    ["/api/users/{user_id}/posts/{post_id}"],
    ["/api/products/{id}/details"],
    ["/api/users/me"],
  ];
  await checkBothOrders(t, routes, [
    ["GET", "/cats/200", found("/cats/{id}", { id: "200" })],
    ["GET", "/200", found("/{id}", { id: "200" })],
    ["GET", "/api/users/123", found("/api/users/{id}", { id: "123" })],
    ["GET", "/api/users/me", found("/api/users/me")],
    [
      "GET",
      "/api/users/1/posts/2",
      found("/api/users/{user_id}/posts/{post_id}", { user_id: "1", post_id: "2" }),
    ],
    ["GET", "/api/products/abc123/details", found("/api/products/{id}/details", { id: "abc123" })],
    ["GET", "/api/users/123/extra", NOT_FOUND],
    ["GET", "/api/users", NOT_FOUND],
    ["GET", "/api/users/", NOT_FOUND],
    ["GET", "/api/nonexistent", NOT_FOUND],
    ["GET", "", NOT_FOUND],
    ["GET", "/", NOT_FOUND],
    ["GET", "/test-123_abc", found("/{id}", { id: "test-123_abc" })],
    ["GET", "/test%20space", found("/{id}", { id: "test%20space" })],
  ]);
});

Deno.test("match() prefers static > pattern > param > catch-all per segment, whatever the config order", async (t) => {
  const routes: Route[] = [
    ["/{a}/{b}"],
    ["/users/{id}"],
    ["/users/me"],
    ["/users/user-{id}"],
    ["/users/user-admin-{id}"],
    ["/users/{id}.json"],
    ["/files/{*rest}"],
    ["/files/{id}/meta"],
    ["/files/static/{x}"],
    ["/deep/{a}/x/y"],
    ["/deep/{a}/{b}/z"],
  ];
  await checkBothOrders(t, routes, [
    ["GET", "/users/me", found("/users/me")],
    ["GET", "/users/5", found("/users/{id}", { id: "5" })],
    ["GET", "/users/user-5", found("/users/user-{id}", { id: "5" })],
    ["GET", "/users/user-admin-5", found("/users/user-admin-{id}", { id: "5" })],
    ["GET", "/users/user-", found("/users/{id}", { id: "user-" })],
    ["GET", "/users/5.json", found("/users/{id}.json", { id: "5" })],
    ["GET", "/users/.json", found("/users/{id}", { id: ".json" })],
    ["GET", "/posts/5", found("/{a}/{b}", { a: "posts", b: "5" })],
    ["GET", "/files/5/meta", found("/files/{id}/meta", { id: "5" })],
    ["GET", "/files/5/other", found("/files/{*rest}", { rest: "5/other" })],
    ["GET", "/files/static/meta", found("/files/static/{x}", { x: "meta" })],
    ["GET", "/files/5", found("/files/{*rest}", { rest: "5" })],
    ["GET", "/filez/5", found("/{a}/{b}", { a: "filez", b: "5" })],
    // Backtracking: the static "x" branch dead-ends at "z", so the param branch answers.
    ["GET", "/deep/1/x/z", found("/deep/{a}/{b}/z", { a: "1", b: "x" })],
    ["GET", "/deep/1/x/y", found("/deep/{a}/x/y", { a: "1" })],
  ]);
});

Deno.test("match() orders pattern segments by literal length, then text, not by config order", async (t) => {
  const routes: Route[] = [["/p/{x}-b"], ["/p/a-{x}"], ["/p/a-{x}-c"], ["/p/ab{x}"]];
  await checkBothOrders(t, routes, [
    ["GET", "/p/a-b-c", found("/p/a-{x}-c", { x: "b" })],
    ["GET", "/p/a-b", found("/p/a-{x}", { x: "b" })],
    ["GET", "/p/z-b", found("/p/{x}-b", { x: "z" })],
    ["GET", "/p/abz", found("/p/ab{x}", { x: "z" })],
    ["GET", "/p/a-", NOT_FOUND],
    ["GET", "/p/-b", NOT_FOUND],
  ]);
});

Deno.test("match() gives a catch-all the rest of the path, possibly empty, but never the bare prefix", async (t) => {
  const routes: Route[] = [["/api/{*rest}"], ["/v/{ver}/{*path}"], ["/{*all}", ["POST"]]];
  await checkBothOrders(t, routes, [
    ["GET", "/api/", found("/api/{*rest}", { rest: "" })],
    ["GET", "/api/a", found("/api/{*rest}", { rest: "a" })],
    ["GET", "/api/a/b", found("/api/{*rest}", { rest: "a/b" })],
    ["GET", "/api/a/b/", found("/api/{*rest}", { rest: "a/b/" })],
    ["GET", "/api//x", found("/api/{*rest}", { rest: "/x" })],
    ["GET", "/api/%2F..%2Fetc", found("/api/{*rest}", { rest: "%2F..%2Fetc" })],
    ["GET", "/api", notAllowed("POST", "/{*all}", { all: "api" })],
    ["GET", "/v/2/a/b", found("/v/{ver}/{*path}", { ver: "2", path: "a/b" })],
    ["POST", "/", found("/{*all}", { all: "" })],
    ["POST", "/api/a", found("/{*all}", { all: "api/a" })],
    ["GET", "", NOT_FOUND],
  ]);
});

Deno.test("match() passes params through as raw path text", async (t) => {
  const routes: Route[] = [["/s/{q}"], ["/f/{name}.txt"]];
  await checkBothOrders(t, routes, [
    ["GET", "/s/test%20space", found("/s/{q}", { q: "test%20space" })],
    ["GET", "/s/%E2%9C%93", found("/s/{q}", { q: "%E2%9C%93" })],
    ["GET", "/s/a%2Fb", found("/s/{q}", { q: "a%2Fb" })],
    ["GET", "/s/a+b", found("/s/{q}", { q: "a+b" })],
    ["GET", "/f/a%2Eb.txt", found("/f/{name}.txt", { name: "a%2Eb" })],
    ["GET", "/s/", NOT_FOUND],
    ["GET", "/s//", NOT_FOUND],
  ]);
});

Deno.test("match() allows HEAD wherever GET is and matches methods exactly", async (t) => {
  const routes: Route[] = [["/a", ["GET"]], ["/b/{id}", ["GET", "POST"]], ["/c", ["HEAD"]], ["/d", ["POST"]]];
  await checkBothOrders(t, routes, [
    ["HEAD", "/a", found("/a")],
    ["HEAD", "/b/1", found("/b/{id}", { id: "1" })],
    ["HEAD", "/c", found("/c")],
    ["GET", "/c", notAllowed("HEAD", "/c")],
    ["HEAD", "/d", notAllowed("POST", "/d")],
    ["get", "/a", notAllowed("GET, HEAD", "/a")],
    ["POST", "/a", notAllowed("GET, HEAD", "/a")],
    ["DELETE", "/b/1", notAllowed("GET, HEAD, POST", "/b/{id}", { id: "1" })],
  ]);
});

Deno.test("match() falls back to a less specific route that allows the method, else answers 405", async (t) => {
  const routes: Route[] = [
    ["/users/me", ["POST"]],
    ["/users/{id}", ["GET", "PUT"]],
    ["/users/{id}.json", ["PATCH"]],
    ["/{a}/{b}", ["OPTIONS", "DELETE"]],
    ["/files/{id}/meta", ["PUT"]],
    ["/files/{*rest}", ["GET"]],
  ];
  await checkBothOrders(t, routes, [
    ["POST", "/users/me", found("/users/me")],
    ["GET", "/users/me", found("/users/{id}", { id: "me" })],
    ["DELETE", "/users/me", found("/{a}/{b}", { a: "users", b: "me" })],
    ["GET", "/users/1.json", found("/users/{id}", { id: "1.json" })],
    ["OPTIONS", "/users/1.json", found("/{a}/{b}", { a: "users", b: "1.json" })],
    ["TRACE", "/users/me", notAllowed("GET, HEAD, POST, PUT, DELETE, OPTIONS", "/users/me")],
    [
      "TRACE",
      "/users/1.json",
      notAllowed("GET, HEAD, PUT, PATCH, DELETE, OPTIONS", "/users/{id}.json", { id: "1" }),
    ],
    ["POST", "/users/5", notAllowed("GET, HEAD, PUT, DELETE, OPTIONS", "/users/{id}", { id: "5" })],
    ["GET", "/files/1/meta", found("/files/{*rest}", { rest: "1/meta" })],
    ["POST", "/files/1/meta", notAllowed("GET, HEAD, PUT", "/files/{id}/meta", { id: "1" })],
    ["POST", "/files/1", notAllowed("GET, HEAD, DELETE, OPTIONS", "/files/{*rest}", { rest: "1" })],
    ["POST", "/nothing/here/at/all", NOT_FOUND],
  ]);
});

Deno.test("match() lets routes with the same pattern shape but disjoint methods coexist", async (t) => {
  const table = compileRouteTable<string>([
    { pattern: "/u/{id}", methods: ["GET"], value: "read" },
    { pattern: "/u/{uid}", methods: ["POST", "PUT"], value: "write" },
    { pattern: "/s", methods: ["GET"], value: "get-s" },
    { pattern: "/s", methods: ["HEAD"], value: "head-s" },
  ]);
  const requests: [string, string, MatchResult<string>][] = [
    ["GET", "/u/1", { kind: "found", value: "read", params: { id: "1" } }],
    ["HEAD", "/u/1", { kind: "found", value: "read", params: { id: "1" } }],
    ["PUT", "/u/1", { kind: "found", value: "write", params: { uid: "1" } }],
    ["DELETE", "/u/1", {
      kind: "method_not_allowed",
      allow: "GET, HEAD, POST, PUT",
      value: "read",
      params: { id: "1" },
    }],
    ["GET", "/s", { kind: "found", value: "get-s", params: {} }],
    ["HEAD", "/s", { kind: "found", value: "head-s", params: {} }],
  ];
  strictEqual(table.size, 4);
  for (const [method, path, expected] of requests) {
    await t.step(`${method} ${path}`, () => deepStrictEqual(table.match(method, path), expected));
  }
});

Deno.test("compileRouteTable() throws a TypeError for invalid or duplicate routes", async (t) => {
  const cases: [string, RouteEntry<number>[], RegExp][] = [
    ["same pattern, same method", [{ pattern: "/a", methods: ["GET"], value: 1 }, {
      pattern: "/a",
      methods: ["POST", "GET"],
      value: 2,
    }], /Cannot compile route "\/a": it duplicates route "\/a" for method GET/],
    ["same shape, other param name", [{ pattern: "/u/{id}", methods: ["GET"], value: 1 }, {
      pattern: "/u/{uid}",
      methods: ["GET"],
      value: 2,
    }], /route "\/u\/\{uid\}": it duplicates route "\/u\/\{id\}" for method GET/],
    ["no methods", [{ pattern: "/a", methods: [], value: 1 }], /at least one method is required/],
    ["lowercase method", [{ pattern: "/a", methods: ["get"], value: 1 }], /uppercase token, got "get"/],
    ["empty method", [{ pattern: "/a", methods: [""], value: 1 }], /uppercase token, got ""/],
    ["unclosed brace", [{ pattern: "/a/{id", methods: ["GET"], value: 1 }], /is not closed/],
    ["catch-all not last", [{ pattern: "/{*a}/b", methods: ["GET"], value: 1 }], /whole last segment/],
    ["no leading slash", [{ pattern: "a", methods: ["GET"], value: 1 }], /must start with "\/"/],
  ];
  for (const [name, routes, message] of cases) {
    await t.step(name, () => {
      throws(
        () => compileRouteTable(routes),
        (err: unknown) => err instanceof TypeError && message.test(err.message),
      );
    });
  }
  await t.step("a method repeated within one route is not a duplicate", () => {
    const table = compileRouteTable([{ pattern: "/a", methods: ["GET", "GET"], value: 1 }]);
    deepStrictEqual(table.match("GET", "/a"), { kind: "found", value: 1, params: {} });
  });
});

Deno.test("match() answers correctly for each of 1,000 routes of mixed kinds", () => {
  const routes: RouteEntry<number>[] = [];
  for (let i = 0; i < 250; i++) {
    routes.push({ pattern: `/svc${i}/health`, methods: ["GET"], value: 4 * i });
    routes.push({ pattern: `/svc${i}/users/{id}`, methods: ["GET", "POST"], value: 4 * i + 1 });
    routes.push({ pattern: `/svc${i}/items/item-{id}.json`, methods: ["GET"], value: 4 * i + 2 });
    routes.push({ pattern: `/svc${i}/files/{*rest}`, methods: ["PUT"], value: 4 * i + 3 });
  }
  const table = compileRouteTable(routes);
  strictEqual(table.size, 1000);
  for (let i = 0; i < 250; i++) {
    deepStrictEqual(table.match("GET", `/svc${i}/health`), { kind: "found", value: 4 * i, params: {} });
    deepStrictEqual(table.match("POST", `/svc${i}/users/u${i}`), {
      kind: "found",
      value: 4 * i + 1,
      params: { id: `u${i}` },
    });
    deepStrictEqual(table.match("HEAD", `/svc${i}/items/item-${i}.json`), {
      kind: "found",
      value: 4 * i + 2,
      params: { id: `${i}` },
    });
    deepStrictEqual(table.match("PUT", `/svc${i}/files/a/${i}`), {
      kind: "found",
      value: 4 * i + 3,
      params: { rest: `a/${i}` },
    });
    deepStrictEqual(table.match("DELETE", `/svc${i}/users/1`), {
      kind: "method_not_allowed",
      allow: "GET, HEAD, POST",
      value: 4 * i + 1,
      params: { id: "1" },
    });
  }
  deepStrictEqual(table.match("GET", "/svc250/health"), { kind: "not_found" });
});
