/**
 * An audit of the management API against kairos-rs's documented endpoints and Kairos's own promises:
 * auth on every endpoint, bad bodies, refused changes that leave everything as it was, atomic persistence
 * that keeps the user's file, redaction, and concurrent writers.
 */
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { AdminServer } from "../../src/admin_api/admin_server.ts";
import { REDACTED } from "../../src/admin_api/redact_secrets.ts";
import { createLogger } from "../../src/observe/logger.ts";
import {
  type AdminFixture,
  adminFixture,
  API_KEY_HASH,
  baseConfig,
  JWT_SECRET,
  type Reply,
} from "./admin_harness.ts";

const TOKEN = "admin-token-0123456789";

type Route = Record<string, unknown>;

function route(path: string, port = 9100): Route {
  return {
    external_path: path,
    internal_path: "/x",
    methods: ["GET"],
    backends: [{ host: "http://127.0.0.1", port }],
  };
}

/** Every endpoint that takes a body, with a body that would be accepted if it were sent right. */
const BODY_ENDPOINTS: ReadonlyArray<readonly [string, string]> = [
  ["POST", "/api/routes"],
  ["PUT", "/api/routes/users/{id}"],
  ["POST", "/api/routes/validate"],
  ["PUT", "/api/config"],
  ["POST", "/api/config/validate"],
  ["POST", "/api/config/jwt"],
  ["POST", "/api/config/rate-limit"],
  ["POST", "/api/config/cors"],
  ["POST", "/api/config/server"],
  ["POST", "/api/config/metrics"],
  ["POST", "/api/config/ai"],
];

/** Every other endpoint, kairos-rs's and Kairos's. */
const OTHER_ENDPOINTS: ReadonlyArray<readonly [string, string]> = [
  ["GET", "/api/routes"],
  ["GET", "/api/routes/users/{id}"],
  ["DELETE", "/api/routes/users/{id}"],
  ["GET", "/api/config"],
  ["GET", "/api/config?view=file"],
  ["GET", "/api/config/status"],
  ["POST", "/api/config/reload"],
  ["GET", "/api/status"],
  ["GET", "/api/metrics/list"],
  ["GET", "/api/metrics/history?name=requests_total"],
  ["GET", "/metrics"],
  ["GET", "/ws/metrics"],
];

/** What must not move when a change is refused: the file's bytes, the version, the routing. */
async function unchanged(f: AdminFixture, fileText: string, label: string): Promise<void> {
  assert.equal(await Deno.readTextFile(f.path), fileText, `${label}: the file changed`);
  assert.equal(f.store.version, 1, `${label}: the config version moved`);
  assert.equal(
    f.gateway.snapshot.table.match(null, "GET", "/users/1").kind,
    "found",
    `${label}: routing changed`,
  );
  assert.equal(f.store.status().persisted, true, `${label}: status no longer says persisted`);
}

function paths(reply: Reply): string[] {
  return reply.json.errors.map((e: { path: string }) => e.path);
}

Deno.test("audit: every management endpoint answers 401 to a missing or wrong token and changes nothing", async (t) => {
  await using f = await adminFixture(baseConfig(), { token: TOKEN });
  const before = await Deno.readTextFile(f.path);
  for (const [method, url] of [...BODY_ENDPOINTS, ...OTHER_ENDPOINTS]) {
    await t.step(`${method} ${url}`, async () => {
      const body = BODY_ENDPOINTS.some(([m, u]) => m === method && u === url) ? route("/x") : undefined;
      for (const authorization of [undefined, `Bearer ${TOKEN}-wrong`, `Basic ${btoa(`admin:${TOKEN}`)}`]) {
        const headers: Record<string, string> = authorization ? { authorization } : {};
        const res = await f.call(method, url, body, headers);
        assert.equal(res.status, 401, `${authorization ?? "no token"}: ${JSON.stringify(res.json)}`);
        assert.equal(res.json.success, false);
        assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer /);
      }
    });
  }
  await unchanged(f, before, "after the refusals");
  const ok = await f.call("POST", "/api/routes", route("/x"), { authorization: `Bearer ${TOKEN}` });
  assert.equal(ok.status, 201, "the right token is served");
});

Deno.test("audit: with admin.token removed by a reload, a non-loopback admin listener refuses instead of trusting a spoofable Host", async () => {
  const config = baseConfig();
  config.admin = { enabled: true, host: "0.0.0.0", token: TOKEN };
  await using f = await adminFixture(config);
  const logger = createLogger({ level: "error", format: "json", write: () => {} });
  const plan = { host: "0.0.0.0", port: 0, envToken: undefined };
  const admin = new AdminServer({ plan, store: f.store, gateway: f.gateway, history: f.history, logger });
  // A client on the network may send any Host header.
  const call = (method: string, url: string, headers: Record<string, string> = {}, body?: unknown) =>
    admin.handle(
      new Request(`http://192.0.2.10:5901${url}`, {
        method,
        headers: { host: "127.0.0.1:5901", "content-type": "application/json", ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
      "198.51.100.7",
    );
  assert.equal((await call("GET", "/api/routes")).status, 401);
  const document = await (await call("GET", "/api/config?view=file", { authorization: `Bearer ${TOKEN}` }))
    .json();
  delete document.admin.token;
  const removed = await call("PUT", "/api/config", { authorization: `Bearer ${TOKEN}` }, document);
  assert.equal(removed.status, 200, await removed.text());
  assert.equal(f.store.config.admin.token, undefined);

  const res = await call("GET", "/api/config");
  assert.equal(res.status, 403);
  assert.match((await res.json()).message, /bound to 0\.0\.0\.0 and no admin token is configured/);
  const write = await call("DELETE", "/api/routes/static/{*path}");
  await write.body?.cancel();
  assert.equal(write.status, 403);
  assert.equal(f.store.config.routers.length, 2);
  const probe = await call("GET", "/health");
  await probe.body?.cancel();
  assert.equal(probe.status, 200, "probes stay open");
});

Deno.test("audit: every body-taking endpoint answers 415, 400 with line and column, 413 and 400 for an empty body, changing nothing", async (t) => {
  await using f = await adminFixture();
  const before = await Deno.readTextFile(f.path);
  for (const [method, url] of BODY_ENDPOINTS) {
    await t.step(`${method} ${url}`, async () => {
      const form = await f.call(method, url, "a=1", { "content-type": "application/x-www-form-urlencoded" });
      assert.equal(form.status, 415);
      assert.match(
        form.json.message,
        /Content-Type must be application\/json.*got "application\/x-www-form-urlencoded"/,
      );
      const text = await f.call(method, url, "{}", { "content-type": "text/plain" });
      assert.equal(text.status, 415);

      const broken = await f.call(method, url, '{\n  "external_path": "/x",,\n}');
      assert.equal(broken.status, 400);
      assert.match(broken.json.message, /^Cannot parse the request body as JSON: .*\(line 2, column \d+\)$/);
      assert.equal(broken.json.line, 2);

      const empty = await f.call(method, url, "");
      assert.deepEqual([empty.status, empty.json.success], [400, false]);
      assert.match(empty.json.message, /empty/);

      // 11 MiB, streamed without a Content-Length: counted while reading.
      const chunk = new TextEncoder().encode(" ".repeat(1024 * 1024));
      let sent = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent++ >= 11) return controller.close();
          controller.enqueue(chunk);
        },
      });
      const big = await f.raw(
        new Request(`http://127.0.0.1:5901${url}`, {
          method,
          headers: { host: "127.0.0.1:5901", "content-type": "application/json" },
          body: stream,
        }),
      );
      const bigBody = await big.json();
      assert.equal(big.status, 413);
      assert.match(bigBody.message, /exceeds 10485760 bytes/);
    });
  }
  await unchanged(f, before, "after the bad bodies");
});

Deno.test("audit: wrong field types are refused with 400 naming the path", async (t) => {
  await using f = await adminFixture();
  const before = await Deno.readTextFile(f.path);
  const cases: ReadonlyArray<readonly [string, string, unknown, string]> = [
    ["POST", "/api/routes", { ...route("/t"), methods: "GET" }, "methods"],
    [
      "POST",
      "/api/routes",
      { ...route("/t"), backends: [{ host: "http://x", port: "80" }] },
      "backends[0].port",
    ],
    ["POST", "/api/routes", { ...route("/t"), timeout_ms: -1 }, "timeout_ms"],
    ["PUT", "/api/routes/users/{id}", { ...route("/users/{id}"), auth_required: "yes" }, "auth_required"],
    [
      "PUT",
      "/api/config",
      { version: 1, routers: [{ ...route("/a"), weight: 1, methods: [1] }] },
      "routers[0].methods[0]",
    ],
    ["POST", "/api/config/server", { port: "8080" }, "server.port"],
    ["POST", "/api/config/cors", { allowed_origins: "https://a.example" }, "cors.allowed_origins"],
    ["POST", "/api/config/ai", { provider: "openai" }, "ai.model"],
    ["POST", "/api/config/rate-limit", { strategy: "PerIP", requests_per_window: "many" }, "rate_limit"],
  ];
  for (const [method, url, body, path] of cases) {
    await t.step(`${method} ${url} → ${path}`, async () => {
      const res = await f.call(method, url, body);
      assert.equal(res.status, 400, JSON.stringify(res.json));
      assert.equal(res.json.success, false);
      assert.ok(paths(res).some((p) => p.startsWith(path)), `${path} not in ${paths(res)}`);
      assert.ok(res.json.message.includes(path), res.json.message);
    });
  }
  for (const body of [[route("/t")], "a route", null, 7]) {
    await t.step(`POST /api/routes with ${JSON.stringify(body).slice(0, 20)}`, async () => {
      const res = await f.call("POST", "/api/routes", JSON.stringify(body));
      assert.deepEqual(res.json, {
        success: false,
        message: "Route validation failed: expected a JSON object",
      });
      assert.equal(res.status, 400);
    });
  }
  await unchanged(f, before, "after the wrong types");
});

Deno.test("audit: kairos-rs's response shapes and messages on every routes and config endpoint", async () => {
  await using f = await adminFixture();
  const list = await f.call("GET", "/api/routes");
  assert.deepEqual(Object.keys(list.json), ["success", "message", "routes"]);
  const one = await f.call("GET", "/api/routes/users/{id}");
  assert.deepEqual(Object.keys(one.json), ["success", "message", "route"]);
  assert.deepEqual((await f.call("GET", "/api/routes/nope")).json, {
    success: false,
    message: "Route not found: /nope",
  });
  const created = await f.call("POST", "/api/routes", route("/new"));
  assert.deepEqual([created.status, created.json.success], [201, true]);
  assert.deepEqual((await f.call("POST", "/api/routes", route("/new"))).json, {
    success: false,
    message: "Route already exists: /new",
  });
  const updated = await f.call("PUT", "/api/routes/new", route("/new", 9101));
  assert.deepEqual([updated.status, updated.json.success], [200, true]);
  assert.deepEqual(
    [(await f.call("PUT", "/api/routes/new", route("/other"))).json.message],
    ["Route external_path must match URL parameter"],
  );
  const deleted = await f.call("DELETE", "/api/routes/new");
  assert.deepEqual([deleted.status, deleted.json.success], [200, true]);
  const gone = await f.call("DELETE", "/api/routes/new");
  assert.deepEqual([gone.status, gone.json], [404, { success: false, message: "Route not found: /new" }]);

  assert.deepEqual((await f.call("POST", "/api/routes/validate", { route: route("/v") })).json.valid, true);
  const invalid = await f.call("POST", "/api/routes/validate", {
    route: { ...route("/v"), methods: ["FETCH"] },
  });
  assert.deepEqual([invalid.status, invalid.json.valid, typeof invalid.json.error], [200, false, "string"]);

  const reload = await f.call("POST", "/api/config/reload");
  for (const key of ["success", "message", "version", "timestamp"]) assert.ok(key in reload.json, key);
  const status = await f.call("GET", "/api/config/status");
  for (const key of ["version", "timestamp"]) assert.ok(key in status.json, key);
  for (const section of ["jwt", "rate-limit", "cors", "server", "metrics", "ai"]) {
    const res = await f.call("POST", `/api/config/${section}`, "[]");
    assert.deepEqual(
      [res.status, res.json.success, typeof res.json.message],
      [400, false, "string"],
      section,
    );
  }
});

Deno.test("audit: POST /api/config/jwt refuses kairos-rs's weak secrets with its messages; a redacted or ${ENV} secret is not new", async (t) => {
  await using f = await adminFixture();
  const before = await Deno.readTextFile(f.path);
  for (
    const [secret, message] of [
      ["", "JWT secret cannot be empty"],
      ["please-change-this-secret", "JWT secret must be changed from default value"],
      ["short-secret", "JWT secret should be at least 32 characters for security"],
    ]
  ) {
    await t.step(message, async () => {
      const res = await f.call("POST", "/api/config/jwt", { secret, issuer: "kairos" });
      assert.deepEqual([res.status, res.json], [400, { success: false, message }]);
    });
  }
  await unchanged(f, before, "after the weak secrets");
  const kept = await f.call("POST", "/api/config/jwt", { secret: REDACTED, issuer: "kairos" });
  assert.equal(kept.status, 200, JSON.stringify(kept.json));
  assert.equal(f.store.config.jwt?.secret, JWT_SECRET);
  Deno.env.set("KAIROS_AUDIT_JWT_SECRET", "x".repeat(40));
  try {
    const env = await f.call("POST", "/api/config/jwt", { secret: "${KAIROS_AUDIT_JWT_SECRET}" });
    assert.equal(env.status, 200, JSON.stringify(env.json));
    assert.equal(JSON.parse(await Deno.readTextFile(f.path)).jwt.secret, "${KAIROS_AUDIT_JWT_SECRET}");
  } finally {
    Deno.env.delete("KAIROS_AUDIT_JWT_SECRET");
  }
});

Deno.test("audit: a refused change keeps the old config serving and the file byte for byte", async (t) => {
  await using f = await adminFixture();
  const before = await Deno.readTextFile(f.path);
  const refusals: ReadonlyArray<readonly [string, string, string, unknown, Record<string, string>, number]> =
    [
      ["invalid whole config", "PUT", "/api/config", { version: 1, routers: [] }, {}, 400],
      ["invalid route", "POST", "/api/routes", { ...route("/bad"), backends: [] }, {}, 400],
      ["unknown route", "PUT", "/api/routes/nope", route("/nope"), {}, 404],
      ["stale If-Match on a route", "POST", "/api/routes", route("/late"), { "if-match": '"0"' }, 412],
      ["stale If-Match on a section", "POST", "/api/config/cors", { allowed_origins: [] }, {
        "if-match": '"7"',
      }, 412],
      [
        "stale If-Match on a delete",
        "DELETE",
        "/api/routes/users/{id}",
        undefined,
        { "if-match": '"0"' },
        412,
      ],
      ["a weak ETag never matches", "PUT", "/api/routes/users/{id}", route("/users/{id}"), {
        "if-match": 'W/"1"',
      }, 412],
      [
        "a redacted secret copied to a new route",
        "POST",
        "/api/routes",
        { ...route("/copy"), auth: { api_keys: { keys: [{ id: "ci", sha256: REDACTED }] } } },
        {},
        400,
      ],
      [
        "deleting the last routes",
        "PUT",
        "/api/config",
        { version: 1, routers: [] },
        { "if-match": '"1"' },
        400,
      ],
    ];
  for (const [name, method, url, body, headers, status] of refusals) {
    await t.step(name, async () => {
      const res = await f.call(method, url, body, headers);
      assert.equal(res.status, status, JSON.stringify(res.json));
      assert.equal(res.json.success, false);
      await unchanged(f, before, name);
    });
  }
  await t.step("the copied secret is named by its path in the route", async () => {
    const res = await f.call("POST", "/api/routes", {
      ...route("/copy"),
      auth: { api_keys: { keys: [{ id: "ci", sha256: REDACTED }] } },
    });
    assert.deepEqual(paths(res), ["auth.api_keys.keys[0].sha256"]);
  });
});

Deno.test("audit: a change is written by rename: a new inode, the file's mode kept, no temp file left", async () => {
  await using f = await adminFixture();
  await Deno.chmod(f.path, 0o640);
  const before = await Deno.stat(f.path);
  const res = await f.call("POST", "/api/routes", route("/new"));
  assert.equal(res.json.persisted, true);
  const after = await Deno.stat(f.path);
  assert.notEqual(after.ino, before.ino, "replaced by rename, not rewritten in place");
  assert.equal(after.mode! & 0o777, 0o640);
  const dir = f.path.slice(0, f.path.lastIndexOf("/"));
  const names = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name);
  assert.deepEqual(names, ["config.json"]);
  assert.equal(JSON.parse(await Deno.readTextFile(f.path)).routers[2].external_path, "/new");
});

Deno.test("audit: a change keeps the file's indentation, key order, comments, $schema and unknown sections", async () => {
  const config = { $schema: "./kairos.schema.json", ...baseConfig(), x_team: { owner: "ops" } };
  await using f = await adminFixture(undefined, { text: JSON.stringify(config, null, 4) + "\n" });
  assert.equal(
    (await f.call("POST", "/api/config/cors", { allowed_origins: ["https://a.example"] })).status,
    200,
  );
  assert.equal((await f.call("POST", "/api/routes", route("/new"))).status, 201);
  const current = (await f.call("GET", "/api/config?view=file")).json;
  current.routers[1].methods = ["GET", "HEAD"];
  delete current.$schema; // a client that drops what it does not know
  delete current.x_team;
  assert.equal((await f.call("PUT", "/api/config", current)).status, 200);
  const text = await Deno.readTextFile(f.path);
  assert.match(text, /^\{\n {4}"\$schema": /);
  const file = JSON.parse(text);
  assert.deepEqual(Object.keys(file), [
    "$schema",
    "_comment",
    "version",
    "admin",
    "jwt",
    "routers",
    "cors",
    "x_team",
  ]);
  assert.deepEqual(file.x_team, { owner: "ops" });
  assert.equal(file.routers[0]._comment, "users");
  assert.equal(file.jwt.secret, JWT_SECRET);
  assert.equal(file.routers[0].auth.api_keys.keys[0].sha256, API_KEY_HASH);
});

const ANCHORED_YAML = `# Kairos config
version: 1
routers:
  # the primary
  - external_path: /a
    internal_path: /a
    methods: [GET]
    backends: &shared
      - host: http://127.0.0.1
        port: 9001
  - external_path: /b # shares /a's backends
    internal_path: /b
    methods: [GET]
    backends: *shared
`;

Deno.test("audit: a YAML file with an anchor: editing the aliasing route saves it, and comments stay", async () => {
  await using f = await adminFixture(undefined, { file: "config.yaml", text: ANCHORED_YAML });
  const res = await f.call("PUT", "/api/routes/b", { ...route("/b", 9005), internal_path: "/b" });
  assert.equal(res.status, 200, JSON.stringify(res.json));
  assert.equal(res.json.persisted, true);
  const text = await Deno.readTextFile(f.path);
  assert.deepEqual(parseYaml(text), f.store.document);
  assert.match(text, /# the primary/);
  assert.match(text, /# shares \/a's backends/);
  assert.equal(parseYaml(text).routers[0].backends[0].port, 9001);
});

Deno.test("audit: a YAML file with an anchor: editing the anchored route leaves the aliasing route as it was", async () => {
  await using f = await adminFixture(undefined, { file: "config.yaml", text: ANCHORED_YAML });
  const res = await f.call("PUT", "/api/routes/a", { ...route("/a", 9006), internal_path: "/a" });
  assert.equal(res.status, 200, JSON.stringify(res.json));
  assert.equal(res.json.persisted, true);
  const saved = parseYaml(await Deno.readTextFile(f.path)) as { routers: { backends: { port: number }[] }[] };
  assert.deepEqual(saved, f.store.document, "the file reads back as the running document");
  assert.equal(saved.routers[0].backends[0].port, 9006);
  assert.equal(saved.routers[1].backends[0].port, 9001, "/b kept its backends");
  const reload = await f.call("POST", "/api/config/reload");
  assert.equal(reload.json.result, "unchanged", "what runs is what a restart would load");
});

Deno.test("audit: a config file reached through a symlink keeps the link; its target is replaced", async () => {
  await using f = await adminFixture();
  const dir = f.path.slice(0, f.path.lastIndexOf("/"));
  await Deno.mkdir(`${dir}/real`);
  await Deno.rename(f.path, `${dir}/real/config.json`);
  await Deno.symlink("real/config.json", f.path);
  const res = await f.call("POST", "/api/routes", route("/new"));
  assert.deepEqual([res.status, res.json.persisted], [201, true]);
  assert.ok((await Deno.lstat(f.path)).isSymlink, "the link is still a link");
  const target = JSON.parse(await Deno.readTextFile(`${dir}/real/config.json`));
  assert.equal(target.routers[2].external_path, "/new");
  assert.deepEqual((await Array.fromAsync(Deno.readDir(`${dir}/real`))).map((e) => e.name), ["config.json"]);
});

Deno.test("audit: two POSTs of the same route at once: one 201, the other 409 Route already exists", async () => {
  await using f = await adminFixture();
  const replies = await Promise.all([
    f.call("POST", "/api/routes", route("/dup", 9101)),
    f.call("POST", "/api/routes", route("/dup", 9102)),
  ]);
  assert.deepEqual(replies.map((r) => r.status).sort(), [201, 409]);
  assert.deepEqual(replies.find((r) => r.status === 409)!.json, {
    success: false,
    message: "Route already exists: /dup",
  });
  const file = JSON.parse(await Deno.readTextFile(f.path));
  assert.equal(file.routers.filter((r: Route) => r.external_path === "/dup").length, 1);
});

Deno.test("audit: a refused route change queued behind another still names paths relative to the route", async () => {
  await using f = await adminFixture();
  const [ok, bad, badPut] = await Promise.all([
    f.call("POST", "/api/routes", route("/a")),
    f.call("POST", "/api/routes", route("/b", 0)),
    f.call("PUT", "/api/routes/static/{*path}", { ...route("/static/{*path}"), methods: [] }),
  ]);
  assert.equal(ok.status, 201);
  assert.equal(bad.status, 400);
  assert.deepEqual(paths(bad), ["backends[0].port"]);
  assert.match(bad.json.message, /^Route validation failed: backends\[0\]\.port: /);
  assert.equal(badPut.status, 400);
  assert.deepEqual(paths(badPut), ["methods"]);
});

Deno.test("audit: concurrent writes of every kind all land, in memory and in the file", async () => {
  await using f = await adminFixture();
  const posts = await Promise.all(
    Array.from({ length: 10 }, (_, i) => f.call("POST", "/api/routes", route(`/c${i}`, 9100 + i))),
  );
  assert.deepEqual(posts.map((r) => r.status), Array(10).fill(201));
  const mixed = await Promise.all([
    f.call("POST", "/api/config/cors", { allowed_origins: ["https://a.example"] }),
    f.call("POST", "/api/config/server", { workers: 2 }),
    f.call("POST", "/api/config/ai", { provider: "openai", model: "gpt-4o" }),
    f.call("DELETE", "/api/routes/c1"),
    f.call("PUT", "/api/routes/c2", { ...route("/c2", 9200), internal_path: "/two" }),
    f.call("POST", "/api/config/jwt", { secret: REDACTED, issuer: "kairos" }),
  ]);
  assert.deepEqual(mixed.map((r) => r.status), Array(6).fill(200), JSON.stringify(mixed.map((r) => r.json)));
  const file = JSON.parse(await Deno.readTextFile(f.path));
  const expected = [
    "/users/{id}",
    "/static/{*path}",
    "/c0",
    ...[2, 3, 4, 5, 6, 7, 8, 9].map((i) => `/c${i}`),
  ];
  assert.deepEqual(file.routers.map((r: Route) => r.external_path), expected);
  assert.deepEqual(f.store.config.routers.map((r) => r.external_path), expected);
  assert.equal(file.routers[3].internal_path, "/two");
  assert.deepEqual(file.cors, { allowed_origins: ["https://a.example"] });
  assert.equal(file.server.workers, 2);
  assert.equal(file.ai.model, "gpt-4o");
  assert.deepEqual(file.jwt, { secret: JWT_SECRET, issuer: "kairos" });
  assert.equal(f.store.version, 17);
});

Deno.test("audit: two PUT /api/config with the same If-Match at once: one applies, the other gets 412", async () => {
  await using f = await adminFixture();
  const document = (await f.call("GET", "/api/config?view=file")).json;
  const withA = { ...document, routers: [...document.routers, route("/a")] };
  const withB = { ...document, routers: [...document.routers, route("/b")] };
  const replies = await Promise.all([
    f.call("PUT", "/api/config", withA, { "if-match": '"1"' }),
    f.call("PUT", "/api/config", withB, { "if-match": '"1"' }),
  ]);
  assert.deepEqual(replies.map((r) => r.status), [200, 412]);
  assert.match(replies[1].json.message, /If-Match is "1", current version is "2"/);
  const file = JSON.parse(await Deno.readTextFile(f.path));
  assert.deepEqual(file.routers.map((r: Route) => r.external_path), ["/users/{id}", "/static/{*path}", "/a"]);
});

Deno.test("audit: an edit of the file not yet reloaded is not overwritten by an API write: 409, then reload and retry", async () => {
  await using f = await adminFixture();
  // An operator's edit, before the watcher's debounce (or a SIGHUP) has loaded it.
  const edited = baseConfig();
  (edited.routers as Route[]).push(route("/from-editor"));
  const editedText = JSON.stringify(edited, null, 2);
  await Deno.writeTextFile(f.path, editedText);
  const res = await f.call("POST", "/api/routes", route("/from-api"));
  assert.equal(res.status, 409, JSON.stringify(res.json));
  assert.equal(res.json.success, false);
  assert.match(res.json.message, /was edited since it was last loaded.*POST \/api\/config\/reload/);
  assert.equal(await Deno.readTextFile(f.path), editedText, "the operator's edit is still there");
  assert.equal(f.store.version, 1);

  // A broken edit is protected the same way until it is fixed.
  await Deno.writeTextFile(f.path, "{ half-written");
  assert.equal((await f.call("POST", "/api/config/reload")).status, 422);
  assert.equal((await f.call("POST", "/api/config/cors", { allowed_origins: [] })).status, 409);
  assert.equal(await Deno.readTextFile(f.path), "{ half-written");

  await Deno.writeTextFile(f.path, editedText);
  assert.equal((await f.call("POST", "/api/config/reload")).json.result, "success");
  assert.equal((await f.call("POST", "/api/routes", route("/from-api"))).status, 201);
  const file = JSON.parse(await Deno.readTextFile(f.path));
  assert.deepEqual(file.routers.slice(2).map((r: Route) => r.external_path), ["/from-editor", "/from-api"]);
});

Deno.test("audit: no GET returns ai.api_key, admin.token or a credential header's value or replacement; a round trip keeps them", async () => {
  const secrets = [
    "sk-ai-key-0123456789",
    "admin-config-token-0123",
    "Bearer upstream-0123",
    "Bearer replaced-0123",
  ];
  const config = baseConfig();
  config.ai = { provider: "openai", model: "gpt-4o", api_key: secrets[0] };
  config.admin = { enabled: true, token: secrets[1] };
  (config.routers as Route[])[1].request_transformation = {
    headers: [
      { action: "set", name: "Authorization", value: secrets[2] },
      { action: "replace", name: "Authorization", pattern: "^Bearer .*$", replacement: secrets[3] },
    ],
  };
  await using f = await adminFixture(config);
  const auth = { authorization: `Bearer ${secrets[1]}` };
  for (const url of ["/api/config", "/api/config?view=file", "/api/routes", "/api/routes/static/{*path}"]) {
    const res = await f.call("GET", url, undefined, auth);
    const text = JSON.stringify(res.json);
    for (const secret of [...secrets, JWT_SECRET, API_KEY_HASH]) {
      assert.ok(!text.includes(secret), `${url} shows ${secret}`);
    }
  }
  const document = (await f.call("GET", "/api/config?view=file", undefined, auth)).json;
  assert.equal(document.routers[1].request_transformation.headers[1].replacement, REDACTED);
  document.routers[1].methods = ["GET", "HEAD"];
  assert.equal((await f.call("PUT", "/api/config", document, auth)).status, 200);
  const file = JSON.parse(await Deno.readTextFile(f.path));
  assert.equal(file.ai.api_key, secrets[0]);
  assert.equal(file.admin.token, secrets[1]);
  assert.deepEqual(
    file.routers[1].request_transformation,
    config.routers && (config.routers as Route[])[1].request_transformation,
  );
});

Deno.test("audit: POST /api/config/ai without api_key (kairos-rs never sends it) keeps the stored key", async () => {
  const config = baseConfig();
  config.ai = { provider: "openai", model: "gpt-4o", api_key: "sk-ai-key-0123456789" };
  await using f = await adminFixture(config);
  const res = await f.call("POST", "/api/config/ai", { provider: "anthropic", model: "claude-sonnet" });
  assert.equal(res.status, 200, JSON.stringify(res.json));
  const file = JSON.parse(await Deno.readTextFile(f.path));
  assert.deepEqual(file.ai, {
    provider: "anthropic",
    model: "claude-sonnet",
    api_key: "sk-ai-key-0123456789",
  });
  const replaced = await f.call("POST", "/api/config/ai", {
    provider: "openai",
    model: "m",
    api_key: "sk-new-0123",
  });
  assert.equal(replaced.status, 200);
  assert.equal(JSON.parse(await Deno.readTextFile(f.path)).ai.api_key, "sk-new-0123");
});
