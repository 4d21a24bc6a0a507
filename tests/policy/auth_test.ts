import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { SignJWT } from "jose";
import { compileRoutePipeline } from "../../src/policy/pipeline.ts";
import { GatewayError } from "../../src/proxy/gateway_error.ts";
import {
  type ContextInit,
  makeConfig,
  makeContext,
  makeDeps,
  makeRoute,
  runStages,
} from "./context_fixture.ts";

const SECRET = "auth-test-secret-auth-test-secret";
const exp = () => Math.floor(Date.now() / 1000) + 300;
const token = (claims: Record<string, unknown> = {}) =>
  new SignJWT({ sub: "alice", exp: exp(), ...claims }).setProtectedHeader({ alg: "HS256" }).sign(
    new TextEncoder().encode(SECRET),
  );
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** Runs a protected route's pipeline; returns the context, or the GatewayError it threw. */
async function run(
  route: Record<string, unknown>,
  init: ContextInit,
  top: Record<string, unknown> = { jwt: { secret: SECRET } },
) {
  const deps = makeDeps();
  try {
    const r = makeRoute({ auth_required: true, ...route });
    const pipeline = compileRoutePipeline(r, makeConfig(top, [r]), deps);
    const ctx = makeContext({ ...init, route: r });
    try {
      const answer = await runStages(pipeline.request, ctx);
      return { ctx, answer, error: undefined };
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      return { ctx, answer: undefined, error: err };
    }
  } finally {
    deps.dispose();
  }
}

Deno.test("auth protects every method of an auth_required route", async (t) => {
  for (const method of ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]) {
    await t.step(method, async () => {
      const { error } = await run({}, { method });
      assert.equal(error?.status, 401);
      assert.equal(error?.type, "authentication_error");
      assert.equal(error?.headers?.["www-authenticate"], 'Bearer realm="kairos"');
    });
  }
});

Deno.test("auth answers bad tokens with 401 and a Bearer invalid_token challenge", async (t) => {
  const cases: Array<[string, () => Promise<string>, RegExp]> = [
    ["wrong scheme", () => Promise.resolve(`Basic ${btoa("a:b")}`), /expected a Bearer token/],
    ["expired", async () => `Bearer ${await token({ exp: 1000 })}`, /token expired/],
    ["forged", async () => `Bearer ${(await token()).slice(0, -4)}AAAA`, /signature verification failed/],
    [
      "oversized",
      async () => `Bearer ${await token({ pad: "x".repeat(9000) })}`,
      /token longer than 8192 bytes/,
    ],
  ];
  for (const [name, header, description] of cases) {
    await t.step(name, async () => {
      const { error } = await run({}, { headers: { authorization: await header() } });
      assert.equal(error?.status, 401);
      const challenge = error?.headers?.["www-authenticate"] ?? "";
      assert.match(challenge, /^Bearer realm="kairos", error="invalid_token", error_description="/);
      assert.match(challenge, description);
    });
  }
});

Deno.test("auth accepts a valid token, sets claims, and takes the scheme case-insensitively", async () => {
  const { ctx, error } = await run({}, {
    headers: { authorization: `bearer ${await token({ roles: ["a"] })}` },
  });
  assert.equal(error, undefined);
  assert.equal(ctx.claims?.sub, "alice");
  assert.equal(ctx.upstreamHeaders.has("authorization"), true);
});

Deno.test("auth checks claim rules with 403 and forwards chosen claims as headers", async (t) => {
  const route = {
    auth: {
      claims: { roles: { contains: "admin" }, "org.tier": { one_of: ["gold", "silver"] } },
      forward_claims: { sub: "X-User-Id", roles: "X-User-Roles", "org.tier": "X-Tier", missing: "X-Missing" },
      strip_authorization: true,
    },
  };
  await t.step("passing claims are forwarded, spoofed copies dropped, Authorization stripped", async () => {
    const jwt = await token({ roles: ["user", "admin"], org: { tier: "gold" } });
    const { ctx, error } = await run(route, {
      headers: { authorization: `Bearer ${jwt}`, "x-user-id": "mallory", "x-missing": "spoof" },
    });
    assert.equal(error, undefined);
    assert.equal(ctx.upstreamHeaders.get("x-user-id"), "alice");
    assert.equal(ctx.upstreamHeaders.get("x-user-roles"), "user,admin");
    assert.equal(ctx.upstreamHeaders.get("x-tier"), "gold");
    assert.equal(ctx.upstreamHeaders.has("x-missing"), false);
    assert.equal(ctx.upstreamHeaders.has("authorization"), false);
  });
  await t.step("a failing rule is a 403 authorization_error", async () => {
    const jwt = await token({ roles: ["user"], org: { tier: "gold" } });
    const { error } = await run(route, { headers: { authorization: `Bearer ${jwt}` } });
    assert.equal(error?.status, 403);
    assert.equal(error?.type, "authorization_error");
    assert.match(error!.message, /claim "roles" does not contain "admin"/);
  });
  await t.step("scope strings count as lists", async () => {
    const jwt = await token({ scope: "read write" });
    const ok = await run({ auth: { claims: { scope: { contains_all: ["read", "write"] } } } }, {
      headers: { authorization: `Bearer ${jwt}` },
    });
    assert.equal(ok.error, undefined);
    const no = await run({ auth: { claims: { scope: { contains_any: ["admin"] } } } }, {
      headers: { authorization: `Bearer ${jwt}` },
    });
    assert.equal(no.error?.status, 403);
  });
});

Deno.test("auth accepts hashed API keys from a header or the query, and keeps them from the backend", async (t) => {
  const route = {
    auth: {
      api_keys: {
        query: "api_key",
        keys: [{ id: "svc-a", sha256: sha256("key-a") }, { id: "svc-b", sha256: sha256("key-b") }],
      },
    },
  };
  await t.step("header", async () => {
    const { ctx, error } = await run(route, { headers: { "x-api-key": "key-b" } }, {});
    assert.equal(error, undefined);
    assert.equal(ctx.claims?.sub, "svc-b");
    assert.equal(ctx.upstreamHeaders.has("x-api-key"), false);
  });
  await t.step("query", async () => {
    const { ctx, error } = await run(route, { url: "/api/x?a=1&api_key=key-a" }, {});
    assert.equal(error, undefined);
    assert.equal(ctx.claims?.sub, "svc-a");
    assert.equal(ctx.upstreamQuery, "?a=1");
  });
  await t.step("wrong key", async () => {
    const { error } = await run(route, { headers: { "x-api-key": "key-c" } }, {});
    assert.equal(error?.status, 401);
    assert.equal(error?.message, "Invalid API key");
  });
  await t.step("no key", async () => {
    const { error } = await run(route, {}, {});
    assert.equal(error?.status, 401);
    assert.equal(error?.message, "Missing API key");
  });
  await t.step("a JWT still works when the route also has keys and jwt is configured", async () => {
    const { error } = await run(route, { headers: { authorization: `Bearer ${await token()}` } });
    assert.equal(error, undefined);
  });
});

Deno.test("auth leaves open routes alone", async () => {
  const { error, ctx } = await run({ auth_required: false }, {});
  assert.equal(error, undefined);
  assert.equal(ctx.claims, undefined);
});
