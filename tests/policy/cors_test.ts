import assert from "node:assert/strict";
import { corsSchema } from "../../src/config/policy_schema.ts";
import { compileCors, compileOrigins, isPreflight, originAllowed } from "../../src/policy/cors.ts";
import { PolicyConfigError } from "../../src/policy/policy_config_error.ts";
import { GatewayError } from "../../src/proxy/gateway_error.ts";
import { makeContext, queued } from "./context_fixture.ts";

const cors = (raw: unknown) => compileCors(corsSchema.parse(raw), "cors");

function preflight(origin: string, method: string, headers?: string) {
  const h: Record<string, string> = { origin, "access-control-request-method": method };
  if (headers) h["access-control-request-headers"] = headers;
  return makeContext({ method: "OPTIONS", headers: h });
}

Deno.test("isPreflight() needs OPTIONS, Origin and Access-Control-Request-Method", () => {
  assert.equal(isPreflight(preflight("https://a.test", "PUT").request), true);
  assert.equal(
    isPreflight(new Request("http://g/", { method: "OPTIONS", headers: { origin: "https://a" } })),
    false,
  );
  assert.equal(
    isPreflight(
      new Request("http://g/", { headers: { origin: "https://a", "access-control-request-method": "GET" } }),
    ),
    false,
  );
});

Deno.test("compileOrigins() matches exact origins, wildcard subdomains and *", async (t) => {
  const matcher = compileOrigins([
    "https://app.example.com",
    "https://*.example.org",
    "http://localhost:3000",
  ], "o");
  const cases: Array<[string, boolean]> = [
    ["https://app.example.com", true],
    ["HTTPS://APP.EXAMPLE.COM", true],
    ["http://app.example.com", false],
    ["https://evil-app.example.com", false],
    ["https://a.example.org", true],
    ["https://a.b.example.org", true],
    ["https://example.org", false],
    ["https://a.example.org.evil.com", false],
    ["https://aexample.org", false],
    ["http://localhost:3000", true],
    ["http://localhost:3001", false],
  ];
  for (const [origin, expected] of cases) {
    await t.step(`${origin} → ${expected}`, () => assert.equal(originAllowed(matcher, origin), expected));
  }
  assert.equal(originAllowed(compileOrigins(["*"], "o"), "https://anything.test"), true);
  assert.throws(
    () => compileOrigins(["https://ok.test", "https://*bad.test"], "cors.allowed_origins"),
    (err: unknown) => err instanceof PolicyConfigError && err.path === "cors.allowed_origins[1]",
  );
});

Deno.test("compileOrigins() reads an entry that writes the default port as browsers send it (without)", () => {
  const matcher = compileOrigins(
    [
      "https://app.example.com:443",
      "http://plain.example.com:80/",
      "https://*.example.org:443",
      "https://odd.test:80",
    ],
    "o",
  );
  assert.equal(originAllowed(matcher, "https://app.example.com"), true);
  assert.equal(originAllowed(matcher, "http://plain.example.com"), true);
  assert.equal(originAllowed(matcher, "https://a.example.org"), true);
  // Not a default port for its scheme: kept.
  assert.equal(originAllowed(matcher, "https://odd.test:80"), true);
  assert.equal(originAllowed(matcher, "https://odd.test"), false);
});

Deno.test("compileCors() answers an allowed preflight with 204 and the allowed lists", async () => {
  const stage = cors({
    allowed_origins: ["https://app.test"],
    allowed_methods: ["GET", "PUT"],
    allowed_headers: ["Content-Type", "X-Token"],
    max_age: 120,
  });
  const response = (await stage(preflight("https://app.test", "PUT", "content-type, x-token")))!;
  assert.equal(response.status, 204);
  assert.equal(response.headers.get("access-control-allow-origin"), "https://app.test");
  assert.equal(response.headers.get("access-control-allow-methods"), "GET, PUT");
  assert.equal(response.headers.get("access-control-allow-headers"), "Content-Type, X-Token");
  assert.equal(response.headers.get("access-control-max-age"), "120");
  assert.match(response.headers.get("vary")!, /Origin/);
  assert.equal(response.headers.has("access-control-allow-credentials"), false);
});

Deno.test("compileCors() refuses preflights for a foreign origin, method or header with 403", async (t) => {
  const stage = cors({
    allowed_origins: ["https://app.test"],
    allowed_methods: ["GET"],
    allowed_headers: ["X-A"],
  });
  const cases: Array<[string, ReturnType<typeof preflight>, RegExp]> = [
    ["origin", preflight("https://evil.test", "GET"), /origin https:\/\/evil.test is not allowed/],
    ["method", preflight("https://app.test", "DELETE"), /method DELETE is not allowed/],
    ["header", preflight("https://app.test", "GET", "x-a, x-b"), /header x-b is not allowed/],
  ];
  for (const [name, ctx, message] of cases) {
    await t.step(name, () => {
      assert.throws(() => stage(ctx), (err: unknown) => {
        assert.ok(err instanceof GatewayError);
        assert.equal(err.status, 403);
        assert.match(err.message, message);
        return true;
      });
    });
  }
});

Deno.test("compileCors() echoes the origin instead of * when credentials are allowed", async () => {
  const stage = cors({ allowed_origins: ["*"], allow_credentials: true, exposed_headers: ["X-Total"] });
  const ctx = makeContext({ headers: { origin: "https://any.test" } });
  assert.equal(await stage(ctx), undefined);
  assert.equal(queued(ctx, "access-control-allow-origin"), "https://any.test");
  assert.equal(queued(ctx, "access-control-allow-credentials"), "true");
  assert.equal(queued(ctx, "access-control-expose-headers"), "X-Total");
  assert.equal(queued(ctx, "vary"), "Origin");
  const pre = (await stage(preflight("https://any.test", "GET")))!;
  assert.equal(pre.headers.get("access-control-allow-origin"), "https://any.test");
});

Deno.test("compileCors() sends a literal * without credentials and nothing for a foreign origin", async () => {
  const open = makeContext({ headers: { origin: "https://any.test" } });
  await cors({ allowed_origins: ["*"] })(open);
  assert.equal(queued(open, "access-control-allow-origin"), "*");
  const foreign = makeContext({ headers: { origin: "https://evil.test" } });
  await cors({ allowed_origins: ["https://app.test"] })(foreign);
  assert.equal(queued(foreign, "access-control-allow-origin"), undefined);
  assert.equal(queued(foreign, "vary"), "Origin");
});
