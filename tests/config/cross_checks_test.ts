import assert from "node:assert/strict";
import { validateConfig } from "../../src/config/validate.ts";
import { configWith, configWithRoutes } from "./base_config.ts";

const SECRET = "s".repeat(40);

function check(raw: Record<string, unknown>) {
  return validateConfig(raw, { env: {} });
}

Deno.test("cross-checks reject invalid configs with the exact path", async (t) => {
  const jwt = { jwt: { secret: SECRET } };
  const cases: [string, Record<string, unknown>, string, string | RegExp][] = [
    [
      "auth without jwt",
      configWith({ auth_required: true }, { jwt: undefined }),
      "routers[0].auth_required",
      "JWT configuration is required when routes have auth_required=true",
    ],
    [
      "jwt without a key",
      configWith({}, { jwt: { issuer: "x" } }),
      "jwt",
      /one of secret, public_key or jwks_url/,
    ],
    [
      "ws:// on an http route",
      configWith({ backends: [{ host: "ws://a", port: 1 }] }),
      "routers[0].backends[0].host",
      /must start with http:\/\/, https:\/\/, got "ws:\/\/a"/,
    ],
    [
      "bare host on an http route",
      configWith({ backends: [{ host: "10.0.0.1", port: 1 }] }),
      "routers[0].backends[0].host",
      /must start with/,
    ],
    [
      "path in host",
      configWith({ backends: [{ host: "http://a/x", port: 1 }] }),
      "routers[0].backends[0].host",
      "backend host must be scheme://hostname only; put the path in internal_path",
    ],
    [
      "port mismatch in host",
      configWith({ backends: [{ host: "http://a:8080", port: 9090 }] }),
      "routers[0].backends[0].host",
      /names port 8080 but port is 9090/,
    ],
    [
      "ftp:// on a dns route",
      configWith({ protocol: "dns", backends: [{ host: "ftp://a", port: 53 }] }),
      "routers[0].backends[0].host",
      /dns route must start with dns:\/\/, udp:\/\/, tcp:\/\/ or a bare host/,
    ],
    [
      "unclosed brace",
      configWith({ external_path: "/a/{id" }),
      "routers[0].external_path",
      /"\{" at index 3 is not closed/,
    ],
    [
      "empty braces",
      configWith({ external_path: "/a/{}" }),
      "routers[0].external_path",
      /parameter name must be letters, digits or _, got ""/,
    ],
    [
      "bad name",
      configWith({ external_path: "/a/{i-d}" }),
      "routers[0].external_path",
      /parameter name must be .*, got "i-d"/,
    ],
    [
      "duplicate name",
      configWith({ external_path: "/{id}/{id}" }),
      "routers[0].external_path",
      /parameter "id" appears twice/,
    ],
    [
      "wildcard not last",
      configWith({ external_path: "/{*rest}/x", internal_path: "/" }),
      "routers[0].external_path",
      /whole last segment/,
    ],
    [
      "uncaptured internal placeholder",
      configWith({ internal_path: "/v1/{other}" }),
      "routers[0].internal_path",
      /placeholder "\{other\}" is not captured by external_path "\/api\/\{id\}"/,
    ],
    [
      "traversal",
      configWith({ internal_path: "/v1/../{id}" }),
      "routers[0].internal_path",
      "Path traversal detected in route: /api/{id} -> /v1/../{id}",
    ],
    [
      "backoff order",
      configWith({ retry: { initial_backoff_ms: 500, max_backoff_ms: 100 } }),
      "routers[0].retry.initial_backoff_ms",
      /initial_backoff_ms cannot be greater than max_backoff_ms/,
    ],
    [
      "bad trusted proxy",
      configWith({}, { trusted_proxies: ["10.0.0.0/33"] }),
      "trusted_proxies[0]",
      /got "10.0.0.0\/33"/,
    ],
    [
      "bad global allow",
      configWith({}, { ip_filter: { allow: ["1.2.3"] } }),
      "ip_filter.allow[0]",
      /IP address or CIDR/,
    ],
    [
      "bad route deny",
      configWith({ ip_filter: { deny: ["::1", "nope"] } }),
      "routers[0].ip_filter.deny[1]",
      /got "nope"/,
    ],
    [
      "bad header pattern",
      configWith({
        request_transformation: {
          headers: [{ action: "replace", name: "X", pattern: "(", replacement: "" }],
        },
      }),
      "routers[0].request_transformation.headers[0].pattern",
      /Cannot compile pattern "\(":/,
    ],
    [
      "bad path pattern",
      configWith({ request_transformation: { path: { pattern: "[a-", replacement: "" } } }),
      "routers[0].request_transformation.path.pattern",
      /Cannot compile pattern/,
    ],
    [
      "bad response header pattern",
      configWith({ response_transformation: { headers: [{ action: "replace", name: "X", pattern: "*" }] } }),
      "routers[0].response_transformation.headers[0].pattern",
      /Cannot compile pattern/,
    ],
    [
      "replace without a pattern",
      configWith({ response_transformation: { headers: [{ action: "replace", name: "X" }] } }),
      "routers[0].response_transformation.headers[0].pattern",
      /replace action needs a pattern/,
    ],
  ];
  for (const [name, raw, path, message] of cases) {
    await t.step(name, () => {
      const result = check({ ...jwt, ...raw });
      assert.ok(!result.ok, `${name} should fail`);
      const found = result.errors.find((e) => e.path === path);
      assert.ok(found, `no error at ${path}: ${JSON.stringify(result.errors)}`);
      if (typeof message === "string") assert.ok(found.message.includes(message), found.message);
      else assert.match(found.message, message);
    });
  }
});

Deno.test("cross-checks accept valid edge cases", async (t) => {
  const cases: [string, Record<string, unknown>][] = [
    ["param inside a segment", configWith({ external_path: "/v1/user-{id}", internal_path: "/u/{id}" })],
    ["tail wildcard", configWith({ external_path: "/files/{*rest}", internal_path: "/store/{*rest}" })],
    ["redundant port in host", configWith({ backends: [{ host: "http://a:8080", port: 8080 }] })],
    ["IPv6 backend", configWith({ backends: [{ host: "http://[::1]", port: 8080 }] })],
    [
      "websocket http backend",
      configWith({ protocol: "websocket", backends: [{ host: "https://a", port: 443 }] }),
    ],
    ["ftp bare host", configWith({ protocol: "ftp", backends: [{ host: "files.local", port: 21 }] })],
    ["dns udp://", configWith({ protocol: "dns", backends: [{ host: "udp://9.9.9.9", port: 53 }] })],
    [
      "CIDR lists",
      configWith({ ip_filter: { allow: ["10.0.0.0/8", "::ffff:1.2.3.4", "2001:db8::/32"] } }, {
        trusted_proxies: ["127.0.0.1"],
      }),
    ],
    [
      "same path, disjoint methods",
      configWithRoutes([{ external_path: "/a/{x}", internal_path: "/" }, {
        external_path: "/a/{y}",
        internal_path: "/",
        methods: ["POST"],
      }]),
    ],
  ];
  for (const [name, raw] of cases) {
    await t.step(name, () => {
      const result = check(raw);
      assert.ok(result.ok, JSON.stringify(!result.ok && result.errors));
    });
  }
});

Deno.test("validateConfig() reports a bad status-mapping condition with its path", () => {
  const result = check(configWith({
    response_transformation: { status_code_mappings: [{ from: 404, to: 200, condition: "((" }] },
  }));
  assert.ok(!result.ok);
  assert.equal(result.errors[0].path, "routers[0].response_transformation.status_code_mappings[0].condition");
});

Deno.test("cross-checks reject two routes with the same path shape and a shared method", () => {
  const result = check(configWithRoutes([
    { external_path: "/a/{x}", internal_path: "/", methods: ["GET", "POST"] },
    { external_path: "/b", internal_path: "/" },
    { external_path: "/a/{y}", internal_path: "/", methods: ["PUT", "POST"] },
  ]));
  assert.ok(!result.ok);
  assert.deepEqual(result.errors, [{
    path: "routers[2].external_path",
    message: "Duplicate route path detected: /a/{y} (also routers[0], both for POST)",
  }]);
});

Deno.test("routes on one path with different hosts are no duplicates; on a shared host they are", () => {
  const ok = check(configWithRoutes([
    { external_path: "/a", internal_path: "/", hosts: ["one.example.com"] },
    { external_path: "/a", internal_path: "/", hosts: ["two.example.com", "*.example.org"] },
    { external_path: "/a", internal_path: "/" },
  ]));
  assert.ok(ok.ok, JSON.stringify(!ok.ok && ok.errors));
  const clash = check(configWithRoutes([
    { external_path: "/a", internal_path: "/", hosts: ["one.example.com"] },
    { external_path: "/a", internal_path: "/", hosts: ["two.example.com", "ONE.example.com."] },
  ]));
  assert.ok(!clash.ok);
  assert.deepEqual(clash.errors, [{
    path: "routers[1].external_path",
    message: "Duplicate route path detected: /a on host one.example.com (also routers[0], both for GET)",
  }]);
});

Deno.test("hosts entries must be names without a port", () => {
  const result = check(configWithRoutes([{
    external_path: "/a",
    internal_path: "/",
    hosts: ["api.example.com", "api.example.com:8443", "*", "bad host", "[::1]", "10.0.0.1", "*.ok.test"],
  }]));
  assert.ok(!result.ok);
  assert.deepEqual(result.errors.map((p) => [p.path, p.message.split(",")[0]]), [
    ["routers[0].hosts[1]", "hosts are matched without the port: write the name alone"],
    ["routers[0].hosts[2]", "leave hosts out for a route that answers every host"],
    ["routers[0].hosts[3]", 'expected a host name such as "api.example.com" or "*.example.com"'],
  ]);
});

Deno.test("cross-checks warn about a short JWT secret but still load", () => {
  const result = check(configWith({ auth_required: true }, { jwt: { secret: "short" } }));
  assert.ok(result.ok);
  assert.deepEqual(result.warnings, [{
    path: "jwt.secret",
    message: "JWT secret should be at least 32 characters for security, got 5",
  }]);
});

Deno.test("cross-checks warn about a websocket route without GET", () => {
  const result = check(
    configWith({ protocol: "websocket", methods: ["POST"], backends: [{ host: "ws://a", port: 1 }] }),
  );
  assert.ok(result.ok);
  assert.deepEqual(result.warnings.map((w) => w.path), ["routers[0].methods"]);
});

Deno.test("cross-checks allow a non-loopback admin host without a token", () => {
  const result = check(configWith({}, { admin: { host: "0.0.0.0" } }));
  assert.ok(result.ok);
});

Deno.test("cross-checks warn that enable_redis is not honoured yet", () => {
  const result = check({
    ...configWith({}),
    rate_limit: { requests_per_window: 10, window_ms: 1000, enable_redis: true },
  });
  assert.ok(result.ok);
  assert.ok(
    result.warnings.some((w) => w.path === "rate_limit.enable_redis"),
    JSON.stringify(result.warnings),
  );
});

Deno.test("cross-checks refuse a pattern the route table cannot match, as serve would", () => {
  const result = check(configWithRoutes([{ external_path: "/x/{a}-{b}", internal_path: "/{a}/{b}" }]));
  assert.ok(!result.ok);
  assert.equal(result.errors[0].path, "routers[0].external_path");
  assert.match(result.errors[0].message, /at most one parameter/);
});

Deno.test("an ftp or dns route loads with a warning that it is not served yet", () => {
  for (const protocol of ["ftp", "dns"] as const) {
    const host = protocol === "ftp" ? "ftp://files.local" : "udp://9.9.9.9";
    const result = check(configWith({ protocol, backends: [{ host, port: protocol === "ftp" ? 21 : 53 }] }));
    assert.ok(result.ok, JSON.stringify(!result.ok && result.errors));
    const warning = result.warnings.find((w) => w.path === "routers[0].protocol");
    assert.ok(warning, JSON.stringify(result.warnings));
    assert.match(warning.message, new RegExp(`${protocol} routes are not served yet`));
  }
});

Deno.test("a backend shared by routes with different breaker or health settings gets a warning saying which apply", () => {
  const backends = [{ host: "http://10.0.0.5", port: 8080, health_check_path: "/health" }];
  const result = check(configWithRoutes([
    { external_path: "/a", internal_path: "/a", backends, circuit_breaker: { failure_threshold: 3 } },
    { external_path: "/b", internal_path: "/b", backends: [{ host: "http://10.0.0.5", port: 8080 }] },
    { external_path: "/c", internal_path: "/c", backends, circuit_breaker: { failure_threshold: 3 } },
  ]));
  assert.ok(result.ok, JSON.stringify(!result.ok && result.errors));
  const shared = result.warnings.filter((w) => w.message.includes("is also a backend of"));
  assert.deepEqual(shared.map((w) => w.path), ["routers[1].backends[0]"]);
  assert.match(shared[0].message, /http:\/\/10\.0\.0\.5:8080 is also a backend of routers\[0\]/);
  assert.match(shared[0].message, /its circuit_breaker is routers\[0\]'s/);
});
