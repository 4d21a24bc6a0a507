import assert from "node:assert/strict";
import { REDACTED } from "../../src/admin_api/redact_secrets.ts";
import { adminFixture, API_KEY_HASH } from "./admin_harness.ts";

const NEW_ROUTE = {
  external_path: "/orders/{id}",
  internal_path: "/v2/orders/{id}",
  methods: ["GET"],
  backends: [{ host: "http://127.0.0.1", port: 9003 }],
};

Deno.test("GET /api/routes lists the routes in kairos-rs's shape with secrets redacted and an ETag", async () => {
  await using f = await adminFixture();
  const res = await f.call("GET", "/api/routes");
  assert.equal(res.status, 200);
  assert.equal(res.json.success, true);
  assert.equal(res.json.message, "Found 2 routes");
  assert.deepEqual(res.json.routes.map((r: { external_path: string }) => r.external_path), [
    "/users/{id}",
    "/static/{*path}",
  ]);
  assert.equal(res.json.routes[0].auth.api_keys.keys[0].sha256, REDACTED);
  assert.equal(res.headers.get("etag"), '"1"');
});

Deno.test("GET /api/routes/{path} finds a route by external_path, %-encoded or not, and 404s otherwise", async (t) => {
  await using f = await adminFixture();
  for (const url of ["/api/routes/users/{id}", "/api/routes/users/%7Bid%7D"]) {
    await t.step(url, async () => {
      const res = await f.call("GET", url);
      assert.equal(res.status, 200);
      assert.deepEqual([res.json.success, res.json.message], [true, "Route found"]);
      assert.equal(res.json.route.internal_path, "/v1/users/{id}");
    });
  }
  const missing = await f.call("GET", "/api/routes/nope");
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.json, { success: false, message: "Route not found: /nope" });
});

Deno.test("POST /api/routes creates a route that is routable at once and saved, 409 when it exists", async () => {
  await using f = await adminFixture();
  const res = await f.call("POST", "/api/routes", NEW_ROUTE);
  assert.equal(res.status, 201);
  assert.equal(res.json.success, true);
  assert.match(
    res.json.message,
    /^Route created: applied at once \(config version 2\), saved to the config file$/,
  );
  assert.equal(res.json.route.external_path, "/orders/{id}");
  assert.equal(res.json.persisted, true);
  assert.equal(res.headers.get("etag"), '"2"');
  assert.equal(f.gateway.snapshot.table.match(null, "GET", "/orders/7").kind, "found");
  const file = JSON.parse(await Deno.readTextFile(f.path));
  assert.equal(file.routers[2].external_path, "/orders/{id}");
  assert.equal(file.routers[0]._comment, "users");
  assert.equal(file.routers[0].auth.api_keys.keys[0].sha256, API_KEY_HASH);

  const again = await f.call("POST", "/api/routes", NEW_ROUTE);
  assert.equal(again.status, 409);
  assert.deepEqual(again.json, { success: false, message: "Route already exists: /orders/{id}" });
});

Deno.test("POST /api/routes refuses an invalid route with 400 and paths relative to the route", async () => {
  await using f = await adminFixture();
  const res = await f.call("POST", "/api/routes", {
    ...NEW_ROUTE,
    backends: [{ host: "http://x", port: 0 }],
  });
  assert.equal(res.status, 400);
  assert.equal(res.json.success, false);
  assert.match(res.json.message, /^Route validation failed: backends\[0\]\.port: /);
  assert.deepEqual(res.json.errors.map((e: { path: string }) => e.path), ["backends[0].port"]);
  assert.equal(f.store.version, 1);
});

Deno.test("PUT /api/routes/{path} replaces a route, keeps its _comment and redacted secrets", async () => {
  await using f = await adminFixture();
  const current = (await f.call("GET", "/api/routes/users/{id}")).json.route;
  const res = await f.call("PUT", "/api/routes/users/{id}", { ...current, methods: ["GET"] });
  assert.equal(res.status, 200);
  assert.match(res.json.message, /^Route updated: applied at once/);
  assert.equal(f.gateway.snapshot.table.match(null, "PUT", "/users/1").kind, "method_not_allowed");
  const file = JSON.parse(await Deno.readTextFile(f.path));
  assert.equal(file.routers[0]._comment, "users");
  assert.equal(file.routers[0].auth.api_keys.keys[0].sha256, API_KEY_HASH);
});

Deno.test("PUT /api/routes/{path} replaces the whole route: a field left out is gone", async () => {
  await using f = await adminFixture();
  const route = {
    external_path: "/static/{*path}",
    internal_path: "/{path}",
    methods: ["GET"],
    backends: [{ host: "http://127.0.0.1", port: 9002 }],
  };
  const first = await f.call("PUT", "/api/routes/static/{*path}", { ...route, timeout_ms: 1234 });
  assert.equal(first.status, 200, JSON.stringify(first.json));
  assert.equal(f.store.config.routers[1].timeout_ms, 1234);
  const res = await f.call("PUT", "/api/routes/static/{*path}", route);
  assert.equal(res.status, 200);
  assert.equal(f.store.config.routers[1].timeout_ms, 30000);
  assert.equal(JSON.parse(await Deno.readTextFile(f.path)).routers[1].timeout_ms, undefined);
});

Deno.test("PUT /api/routes/{path} refuses a mismatched external_path (400) and an unknown route (404)", async () => {
  await using f = await adminFixture();
  const mismatch = await f.call("PUT", "/api/routes/users/{id}", NEW_ROUTE);
  assert.deepEqual([mismatch.status, mismatch.json.message], [
    400,
    "Route external_path must match URL parameter",
  ]);
  const missing = await f.call("PUT", "/api/routes/orders/{id}", NEW_ROUTE);
  assert.deepEqual([missing.status, missing.json.message], [404, "Route not found: /orders/{id}"]);
});

Deno.test("DELETE /api/routes/{path} removes the route at once; 404 for an unknown one", async () => {
  await using f = await adminFixture();
  const res = await f.call("DELETE", "/api/routes/static/{*path}");
  assert.equal(res.status, 200);
  assert.match(res.json.message, /^Route deleted: applied at once/);
  assert.equal(f.gateway.snapshot.table.match(null, "GET", "/static/a.css").kind, "not_found");
  assert.equal((await f.call("DELETE", "/api/routes/static/{*path}")).status, 404);
});

Deno.test("route writes honour If-Match: a stale version is refused with 412", async () => {
  await using f = await adminFixture();
  const stale = await f.call("POST", "/api/routes", NEW_ROUTE, { "if-match": '"0"' });
  assert.equal(stale.status, 412);
  assert.equal(stale.json.success, false);
  assert.equal(f.store.version, 1);
  const fresh = await f.call("POST", "/api/routes", NEW_ROUTE, { "if-match": '"1"' });
  assert.equal(fresh.status, 201);
});

Deno.test("POST /api/routes/validate answers 200 with valid or the errors, changing nothing", async (t) => {
  await using f = await adminFixture();
  await t.step("valid, in kairos-rs's {route} wrapper", async () => {
    const res = await f.call("POST", "/api/routes/validate", { route: NEW_ROUTE });
    assert.equal(res.status, 200);
    assert.equal(res.json.valid, true);
  });
  await t.step("invalid", async () => {
    const res = await f.call("POST", "/api/routes/validate", { route: { ...NEW_ROUTE, methods: [] } });
    assert.equal(res.status, 200);
    assert.equal(res.json.valid, false);
    assert.match(res.json.error, /^methods: At least one HTTP method must be specified/);
  });
  assert.equal(f.store.version, 1);
});

Deno.test("routes on one path for different hosts are created, read, updated and deleted by ?host=", async () => {
  await using f = await adminFixture();
  const route = (host: string, port: number) => ({
    external_path: "/shop/{*rest}",
    internal_path: "/{rest}",
    methods: ["GET"],
    hosts: [host],
    backends: [{ host: "http://127.0.0.1", port }],
  });
  assert.equal((await f.call("POST", "/api/routes", route("a.example.com", 9101))).status, 201);
  assert.equal((await f.call("POST", "/api/routes", route("b.example.com", 9102))).status, 201);
  const again = await f.call("POST", "/api/routes", route("B.example.com", 9103));
  assert.equal(again.status, 409, "same path and a shared host");

  const b = await f.call("GET", "/api/routes/shop/{*rest}?host=b.example.com");
  assert.equal(b.status, 200);
  assert.equal(b.json.route.backends[0].port, 9102);
  assert.equal((await f.call("GET", "/api/routes/shop/{*rest}?host=c.example.com")).status, 404);

  const put = await f.call(
    "PUT",
    "/api/routes/shop/{*rest}?host=b.example.com",
    route("b.example.com", 9104),
  );
  assert.equal(put.status, 200);
  assert.equal(put.json.route.backends[0].port, 9104);
  const a = await f.call("GET", "/api/routes/shop/{*rest}?host=a.example.com");
  assert.equal(a.json.route.backends[0].port, 9101, "the other host's route is untouched");

  assert.equal((await f.call("DELETE", "/api/routes/shop/{*rest}?host=a.example.com")).status, 200);
  const left = (await f.call("GET", "/api/routes")).json.routes
    .filter((r: { external_path: string }) => r.external_path === "/shop/{*rest}");
  assert.deepEqual(left.map((r: { hosts: string[] }) => r.hosts), [["b.example.com"]]);
  assert.equal(f.gateway.snapshot.table.match("b.example.com", "GET", "/shop/x").kind, "found");
  assert.equal(f.gateway.snapshot.table.match("a.example.com", "GET", "/shop/x").kind, "not_found");
});

Deno.test("routes on one path with different methods are addressed by ?method=; without it the API says which", async () => {
  await using f = await adminFixture();
  const route = (methods: string[], port: number) => ({
    external_path: "/carts/{id}",
    internal_path: "/carts/{id}",
    methods,
    backends: [{ host: "http://127.0.0.1", port }],
  });
  assert.equal((await f.call("POST", "/api/routes", route(["GET"], 9101))).status, 201);
  assert.equal(
    (await f.call("POST", "/api/routes", route(["POST", "PUT"], 9102))).status,
    201,
    "other methods",
  );
  const clash = await f.call("POST", "/api/routes", route(["PUT"], 9103));
  assert.equal(clash.status, 409, "PUT is served already");

  const ambiguous = await f.call("GET", "/api/routes/carts/{id}");
  assert.equal(ambiguous.status, 409);
  assert.match(
    ambiguous.json.error ?? ambiguous.json.message,
    /routers\[\d+\] \(GET\).*routers\[\d+\] \(POST, PUT\).*\?method=/,
  );
  const put = await f.call("GET", "/api/routes/carts/{id}?method=put");
  assert.equal(put.status, 200);
  assert.equal(put.json.route.backends[0].port, 9102);
  assert.equal((await f.call("GET", "/api/routes/carts/{id}?method=DELETE")).status, 404);

  const updated = await f.call("PUT", "/api/routes/carts/{id}?method=GET", route(["GET", "HEAD"], 9104));
  assert.equal(updated.status, 200);
  assert.equal((await f.call("PUT", "/api/routes/carts/{id}", route(["GET"], 9105))).status, 409);
  assert.equal((await f.call("DELETE", "/api/routes/carts/{id}?method=POST")).status, 200);
  const left = (await f.call("GET", "/api/routes/carts/{id}")).json.route;
  assert.deepEqual(
    [left.methods, left.backends[0].port],
    [["GET", "HEAD"], 9104],
    "one left: no selector needed",
  );
  assert.equal(f.gateway.snapshot.table.match(null, "POST", "/carts/1").kind, "method_not_allowed");
  assert.equal(f.gateway.snapshot.table.match(null, "HEAD", "/carts/1").kind, "found");
});
