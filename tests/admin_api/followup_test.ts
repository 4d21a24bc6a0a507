/**
 * Follow-ups to the management API audit: 405 with Allow, CORS driven by admin.allowed_origins, section
 * endpoints that keep Kairos-only settings, no-store on every answer, and route warnings relative to the
 * route.
 */
import assert from "node:assert/strict";
import { REDACTED } from "../../src/admin_api/redact_secrets.ts";
import { adminFixture, baseConfig, JWT_SECRET } from "./admin_harness.ts";

const TOKEN = "admin-token-0123456789";
const AUTH = { authorization: `Bearer ${TOKEN}` };
const OPS = "https://ops.example";
const NEW_SECRET = "a-new-jwt-secret-0123456789-0123456789";

type Obj = Record<string, unknown>;

function route(path: string, extra: Obj = {}): Obj {
  return {
    external_path: path,
    internal_path: "/x",
    methods: ["GET"],
    backends: [{ host: "http://127.0.0.1", port: 9100 }],
    ...extra,
  };
}

function withOrigins(origins: string[]): Obj {
  const config = baseConfig();
  config.admin = { enabled: true, allowed_origins: origins };
  return config;
}

function preflight(path: string, origin: string, headers: Record<string, string> = {}): Request {
  return new Request(`http://127.0.0.1:5901${path}`, {
    method: "OPTIONS",
    headers: {
      host: "127.0.0.1:5901",
      origin,
      "access-control-request-method": "PUT",
      "access-control-request-headers": "authorization, content-type",
      ...headers,
    },
  });
}

const CORS_HEADERS = [
  "access-control-allow-origin",
  "access-control-allow-methods",
  "access-control-allow-headers",
  "access-control-max-age",
  "access-control-expose-headers",
  "access-control-allow-credentials",
];

function corsHeaders(headers: Headers): Obj {
  return Object.fromEntries(
    CORS_HEADERS.flatMap((name) => headers.has(name) ? [[name, headers.get(name)]] : []),
  );
}

// --- 1. 405 with Allow -----------------------------------------------------------------------------

Deno.test("a wrong method on a known admin path answers 405 with Allow and the JSON refusal, changing nothing", async (t) => {
  await using f = await adminFixture();
  const before = await Deno.readTextFile(f.path);
  for (
    const [method, path, allow] of [
      ["PATCH", "/api/config", "GET, HEAD, PUT, OPTIONS"],
      ["DELETE", "/api/config/status", "GET, HEAD, OPTIONS"],
      ["GET", "/api/config/reload", "POST, OPTIONS"],
      ["GET", "/api/config/jwt", "POST, OPTIONS"],
      ["PUT", "/api/routes", "GET, HEAD, POST, OPTIONS"],
      ["DELETE", "/api/routes", "GET, HEAD, POST, OPTIONS"],
      ["POST", "/api/routes/users/{id}", "GET, HEAD, PUT, DELETE, OPTIONS"],
      ["PATCH", "/api/routes/users/{id}", "GET, HEAD, PUT, DELETE, OPTIONS"],
      // The route named /validate, and kairos-rs's validate endpoint.
      ["PATCH", "/api/routes/validate", "GET, HEAD, POST, PUT, DELETE, OPTIONS"],
      ["POST", "/api/status", "GET, HEAD, OPTIONS"],
      ["DELETE", "/api/metrics/list", "GET, HEAD, OPTIONS"],
      ["POST", "/metrics", "GET, HEAD, OPTIONS"],
      ["PUT", "/health", "GET, HEAD, OPTIONS"],
      ["POST", "/ws/metrics", "GET, HEAD, OPTIONS"],
    ] as const
  ) {
    await t.step(`${method} ${path}`, async () => {
      const res = await f.call(method, path);
      assert.equal(res.status, 405, JSON.stringify(res.json));
      assert.equal(res.headers.get("allow"), allow);
      assert.equal(res.headers.get("content-type"), "application/json");
      assert.deepEqual(res.json, {
        success: false,
        message: `Method ${method} not allowed for ${new URL(path, "http://x").pathname}: it allows ${allow}`,
      });
    });
  }
  await t.step("HEAD on a POST-only path: 405 with Allow and no body", async () => {
    const res = await f.call("HEAD", "/api/config/reload");
    assert.deepEqual([res.status, res.headers.get("allow"), res.json], [405, "POST, OPTIONS", undefined]);
  });
  assert.equal(await Deno.readTextFile(f.path), before);
  assert.equal(f.store.version, 1);
});

Deno.test("an unknown admin path stays a JSON 404 for every method, OPTIONS included", async (t) => {
  await using f = await adminFixture();
  for (const method of ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
    for (const path of ["/api/nothing", "/api/routesx", "/api/config/jwt/x", "/"]) {
      await t.step(`${method} ${path}`, async () => {
        const res = await f.call(method, path);
        assert.equal(res.status, 404);
        assert.equal(res.headers.get("allow"), null);
        assert.deepEqual(res.json, { success: false, message: `No admin endpoint for ${method} ${path}` });
      });
    }
  }
});

Deno.test("a plain OPTIONS on a known admin path answers 204 with Allow", async () => {
  await using f = await adminFixture();
  const res = await f.call("OPTIONS", "/api/routes/users/{id}");
  assert.deepEqual([res.status, res.json], [204, undefined]);
  assert.equal(res.headers.get("allow"), "GET, HEAD, PUT, DELETE, OPTIONS");
});

Deno.test("without the token a wrong method answers 401, not 405: the paths are not revealed", async () => {
  await using f = await adminFixture(baseConfig(), { token: TOKEN });
  for (
    const [method, path] of [["PATCH", "/api/config"], ["OPTIONS", "/api/routes"], ["GET", "/api/nothing"]]
  ) {
    const res = await f.call(method, path);
    assert.equal(res.status, 401, `${method} ${path}`);
    assert.equal(res.headers.get("allow"), null);
  }
  assert.equal((await f.call("PATCH", "/api/config", undefined, AUTH)).status, 405);
});

Deno.test('PUT and DELETE on the bare /api/routes no longer look up a route named ""; /api/routes/ still names /', async () => {
  await using f = await adminFixture();
  assert.equal((await f.call("POST", "/api/routes", route("/"))).status, 201);
  const found = await f.call("GET", "/api/routes/");
  assert.deepEqual([found.status, found.json.route.external_path], [200, "/"]);
  assert.equal((await f.call("DELETE", "/api/routes")).status, 405);
  assert.equal((await f.call("DELETE", "/api/routes/")).status, 200);
});

// --- 2. CORS ------------------------------------------------------------------------------------

Deno.test("a preflight from a listed origin answers 204 with the CORS headers, without the token", async () => {
  await using f = await adminFixture(withOrigins([OPS]), { token: TOKEN });
  const res = await f.raw(preflight("/api/routes/users/%7Bid%7D", OPS));
  assert.equal(res.status, 204);
  assert.equal(await res.text(), "");
  assert.deepEqual(corsHeaders(res.headers), {
    "access-control-allow-origin": OPS,
    "access-control-allow-methods": "GET, HEAD, POST, PUT, DELETE",
    "access-control-allow-headers": "Authorization, Content-Type, If-Match",
    "access-control-max-age": "600",
  });
  assert.equal(res.headers.get("vary"), "Origin");
  assert.equal(res.headers.get("cache-control"), "no-store");
});

Deno.test("a preflight reveals nothing: the same bare 204 for known and unknown paths", async () => {
  await using f = await adminFixture(withOrigins([OPS]), { token: TOKEN });
  const answers = [];
  for (const path of ["/api/routes", "/api/nothing", "/api/config", "/metrics", "/ws/metrics"]) {
    const res = await f.raw(preflight(path, OPS));
    answers.push({ status: res.status, body: await res.text(), headers: [...res.headers] });
  }
  assert.equal(answers[0].status, 204);
  for (const answer of answers) assert.deepEqual(answer, answers[0]);
  const names = answers[0].headers.map(([name]) => name);
  for (const name of ["allow", "etag", "www-authenticate", "content-type"]) {
    assert.ok(!names.includes(name), name);
  }
});

Deno.test("an unlisted origin gets 403 and no CORS headers: preflight, read and write, changing nothing", async (t) => {
  await using f = await adminFixture(withOrigins([OPS]), { token: TOKEN });
  const before = await Deno.readTextFile(f.path);
  for (const origin of ["https://evil.example", "https://ops.example.evil", "null", "http://ops.example"]) {
    await t.step(origin, async () => {
      const pre = await f.raw(preflight("/api/routes", origin));
      assert.equal(pre.status, 403);
      assert.deepEqual(corsHeaders(pre.headers), {});
      assert.match((await pre.json()).message, /cross-origin/);
      for (
        const [method, path, body] of [["GET", "/api/config", undefined], [
          "POST",
          "/api/routes",
          route("/x"),
        ]]
      ) {
        const res = await f.call(method as string, path as string, body, { ...AUTH, origin });
        assert.equal(res.status, 403, `${method} ${path}`);
        assert.deepEqual(corsHeaders(res.headers), {});
      }
    });
  }
  assert.equal(await Deno.readTextFile(f.path), before);
  assert.equal(f.store.version, 1);
});

Deno.test("a listed origin's responses carry Allow-Origin and expose ETag, refusals included; writes still need the token", async () => {
  await using f = await adminFixture(withOrigins([OPS]), { token: TOKEN });
  const read = await f.call("GET", "/api/config", undefined, { ...AUTH, origin: OPS });
  assert.equal(read.status, 200);
  assert.deepEqual(corsHeaders(read.headers), {
    "access-control-allow-origin": OPS,
    "access-control-expose-headers": "ETag, Allow, WWW-Authenticate",
  });
  assert.equal(read.headers.get("etag"), '"1"');
  assert.equal(read.headers.get("vary"), "Origin");

  // The page can read why it was refused.
  const anonymous = await f.call("POST", "/api/routes", route("/x"), { origin: OPS });
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.headers.get("access-control-allow-origin"), OPS);
  assert.equal(f.store.version, 1);

  const created = await f.call("POST", "/api/routes", route("/x"), {
    ...AUTH,
    origin: OPS,
    "if-match": '"1"',
  });
  assert.equal(created.status, 201);
  assert.equal(created.headers.get("access-control-allow-origin"), OPS);
  const wrongMethod = await f.call("PATCH", "/api/routes", undefined, { ...AUTH, origin: OPS });
  assert.equal(wrongMethod.status, 405);
  assert.equal(wrongMethod.headers.get("access-control-allow-origin"), OPS);
});

Deno.test("requests without an Origin, or from the listener's own origin, get no CORS headers", async () => {
  await using f = await adminFixture(withOrigins([OPS]), { token: TOKEN });
  for (const headers of [AUTH, { ...AUTH, origin: "http://127.0.0.1:5901" }]) {
    const res = await f.call("GET", "/api/routes", undefined, headers);
    assert.equal(res.status, 200);
    assert.deepEqual(corsHeaders(res.headers), {});
  }
});

Deno.test("admin.allowed_origins applies at once: an origin added or removed by a write is served or refused", async () => {
  await using f = await adminFixture(withOrigins([]), { token: TOKEN });
  const other = "https://other.example";
  assert.equal((await f.raw(preflight("/api/config", other))).status, 403);
  const document = (await f.call("GET", "/api/config?view=file", undefined, AUTH)).json;
  document.admin.allowed_origins = [other];
  assert.equal((await f.call("PUT", "/api/config", document, AUTH)).status, 200);
  const allowed = await f.raw(preflight("/api/config", other));
  assert.deepEqual([allowed.status, allowed.headers.get("access-control-allow-origin")], [204, other]);
  document.admin.allowed_origins = [];
  assert.equal((await f.call("PUT", "/api/config", document, { ...AUTH, origin: other })).status, 200);
  assert.equal((await f.call("GET", "/api/config", undefined, { ...AUTH, origin: other })).status, 403);
});

// --- 3. Section endpoints keep Kairos-only settings -----------------------------------------------

Deno.test("POST /api/config/jwt sets kairos-rs's keys and keeps the Kairos-only ones its body leaves out", async () => {
  const config = baseConfig();
  config.jwt = {
    _comment: "jwt",
    secret: JWT_SECRET,
    issuer: "old",
    audience: "old-aud",
    require_exp: false,
    clock_skew_seconds: 5,
  };
  await using f = await adminFixture(config);
  // What a kairos-rs client sends: its JwtSettings, nothing else.
  const res = await f.call("POST", "/api/config/jwt", {
    secret: NEW_SECRET,
    issuer: "kairos",
    required_claims: ["sub"],
  });
  assert.equal(res.status, 200, JSON.stringify(res.json));
  assert.deepEqual(res.json.kept, ["jwt.require_exp", "jwt.clock_skew_seconds"]);
  assert.match(
    res.json.message,
    /kept jwt\.require_exp, jwt\.clock_skew_seconds: not in the body; send null/,
  );
  const file = JSON.parse(await Deno.readTextFile(f.path));
  // audience was left out: kairos-rs resets it; the Kairos-only keys and the comment stay.
  assert.deepEqual(file.jwt, {
    _comment: "jwt",
    secret: NEW_SECRET,
    issuer: "kairos",
    require_exp: false,
    clock_skew_seconds: 5,
    required_claims: ["sub"],
  });
  assert.equal(f.store.config.jwt?.require_exp, false);
  assert.equal(f.store.config.jwt?.audience, undefined);
});

Deno.test("POST /api/config/jwt: null resets a Kairos-only key; kairos-rs's `algorithm` replaces a stored `algorithms`", async () => {
  const config = baseConfig();
  config.jwt = { secret: JWT_SECRET, algorithms: ["HS512"], require_exp: false, jwks_timeout_ms: 2000 };
  await using f = await adminFixture(config);
  const res = await f.call("POST", "/api/config/jwt", {
    secret: REDACTED,
    require_exp: null,
    algorithm: "HS256",
  });
  assert.equal(res.status, 200, JSON.stringify(res.json));
  assert.deepEqual(res.json.kept, ["jwt.jwks_timeout_ms"]);
  const file = JSON.parse(await Deno.readTextFile(f.path));
  assert.deepEqual(file.jwt, { secret: JWT_SECRET, jwks_timeout_ms: 2000, algorithm: "HS256" });
  assert.equal(f.store.config.jwt?.require_exp, true);
  assert.deepEqual(f.store.config.jwt?.algorithms, ["HS256"]);
});

Deno.test("POST /api/config/cors with kairos-rs's four fields keeps max_age and exposed_headers", async () => {
  const config = baseConfig();
  config.cors = {
    allowed_origins: ["https://old.example"],
    allow_credentials: true,
    max_age: 60,
    exposed_headers: ["X-Request-Id"],
  };
  await using f = await adminFixture(config);
  const res = await f.call("POST", "/api/config/cors", {
    allowed_origins: ["https://app.example"],
    allowed_methods: ["GET"],
    allowed_headers: ["Content-Type"],
  });
  assert.equal(res.status, 200, JSON.stringify(res.json));
  assert.deepEqual(res.json.kept, ["cors.max_age", "cors.exposed_headers"]);
  const cors = f.store.config.cors!;
  assert.deepEqual(cors.allowed_origins, ["https://app.example"]);
  assert.equal(cors.allow_credentials, false, "left out: reset, as kairos-rs does");
  assert.equal(cors.max_age, 60);
  assert.deepEqual(cors.exposed_headers, ["X-Request-Id"]);
});

Deno.test("POST /api/config/rate-limit in kairos-rs's spelling replaces a canonical section whole, keeping comments", async () => {
  const config = baseConfig();
  config.rate_limit = {
    _comment: "limits",
    algorithm: "fixed_window",
    requests_per_window: 10,
    window_ms: 1000,
    burst: 2,
    key: { header: "X-Tenant" },
  };
  await using f = await adminFixture(config);
  const res = await f.call("POST", "/api/config/rate-limit", {
    strategy: "PerIP",
    requests_per_window: 100,
    window_duration: 60,
    burst_allowance: 10,
    window_type: "SlidingWindow",
    enable_redis: false,
    redis_key_prefix: "kairos_rl",
  });
  // window_ms next to window_duration would be "Cannot use both": nothing of the old spelling is left.
  assert.equal(res.status, 200, JSON.stringify(res.json));
  assert.deepEqual(res.json.kept, []);
  const file = JSON.parse(await Deno.readTextFile(f.path));
  assert.deepEqual(file.rate_limit, {
    _comment: "limits",
    strategy: "PerIP",
    requests_per_window: 100,
    window_duration: 60,
    burst_allowance: 10,
    window_type: "SlidingWindow",
    enable_redis: false,
    redis_key_prefix: "kairos_rl",
  });
  const rl = f.store.config.rate_limit!;
  assert.deepEqual([rl.algorithm, rl.window_ms, rl.burst, rl.key], ["sliding_window", 60000, 10, "ip"]);
});

// --- 4. no-store ----------------------------------------------------------------------------------

Deno.test("every admin listener response carries cache-control: no-store", async (t) => {
  await using f = await adminFixture(withOrigins([OPS]), { token: TOKEN });
  const calls: ReadonlyArray<readonly [string, string, unknown?, Record<string, string>?]> = [
    ["GET", "/api/routes"],
    ["GET", "/api/routes/users/{id}"],
    ["POST", "/api/routes", route("/a")],
    ["PUT", "/api/routes/a", route("/a", { internal_path: "/b" })],
    ["DELETE", "/api/routes/a"],
    ["POST", "/api/routes/validate", { route: route("/b") }],
    ["GET", "/api/config"],
    ["PUT", "/api/config", baseConfig()],
    ["POST", "/api/config/validate", baseConfig()],
    ["POST", "/api/config/cors", { allowed_origins: [] }],
    ["POST", "/api/config/metrics", { endpoint: "/metrics" }],
    ["POST", "/api/config/reload"],
    ["GET", "/api/config/status"],
    ["GET", "/api/status"],
    ["GET", "/api/metrics/list"],
    ["GET", "/api/metrics/history?name=requests_total"],
    ["GET", "/health"],
    ["GET", "/ws/metrics"],
    ["GET", "/api/nothing"],
    ["PATCH", "/api/config"],
    ["OPTIONS", "/api/config"],
    ["GET", "/api/routes/nope"],
    ["GET", "/api/config", undefined, {}],
    ["GET", "/api/config", undefined, { origin: "https://evil.example" }],
  ];
  for (const [method, path, body, headers] of calls) {
    await t.step(`${method} ${path} ${headers ? JSON.stringify(headers) : ""}`, async () => {
      const res = await f.call(method, path, body, headers ?? AUTH);
      assert.ok(res.status < 500, `${res.status} ${JSON.stringify(res.json)}`);
      assert.equal(res.headers.get("cache-control"), "no-store", `${res.status}`);
    });
  }
  await t.step("GET /metrics (Prometheus text)", async () => {
    const res = await f.raw(
      new Request("http://127.0.0.1:5901/metrics", { headers: { host: "127.0.0.1:5901", ...AUTH } }),
    );
    await res.body?.cancel();
    assert.deepEqual([res.status, res.headers.get("cache-control")], [200, "no-store"]);
  });
  await t.step("a preflight", async () => {
    assert.equal((await f.raw(preflight("/api/config", OPS))).headers.get("cache-control"), "no-store");
  });
});

// --- 5. route warnings relative to the route -------------------------------------------------------

Deno.test("POST and PUT /api/routes replies name warnings relative to the route, like the errors", async () => {
  const config = baseConfig();
  (config.routers as Obj[])[1].tiemout_ms = 5; // a warning elsewhere keeps its whole-config path
  await using f = await adminFixture(config);
  const created = await f.call("POST", "/api/routes", route("/new", { tiemout_ms: 5 }));
  assert.equal(created.status, 201, JSON.stringify(created.json));
  assert.deepEqual(created.json.warnings.map((w: { path: string }) => w.path).sort(), [
    "routers[1].tiemout_ms",
    "tiemout_ms",
  ]);
  const updated = await f.call("PUT", "/api/routes/new", route("/new", { retry: { max_retires: 1 } }));
  assert.equal(updated.status, 200, JSON.stringify(updated.json));
  const warnings = updated.json.warnings as { path: string; message: string }[];
  assert.deepEqual(warnings.map((w) => w.path).sort(), ["retry.max_retires", "routers[1].tiemout_ms"]);
  assert.match(warnings.find((w) => w.path === "retry.max_retires")!.message, /did you mean "max_retries"/);
  const validated = await f.call("POST", "/api/routes/validate", { route: route("/new", { tiemout_ms: 1 }) });
  assert.ok(validated.json.warnings.some((w: { path: string }) => w.path === "tiemout_ms"));
});
