/**
 * Whole-process per-route auth additions (`auth`): claim rules (403), claims forwarded to the backend
 * as headers (client copies dropped), Authorization stripped, and hashed API keys.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { SignJWT } from "jose";
import { fetchText, startBackend, startGateway } from "./harness.ts";

const SECRET = "claims-system-test-secret-0123456789";
const bearer = async (claims: Record<string, unknown>) =>
  `Bearer ${await new SignJWT({ exp: Math.floor(Date.now() / 1000) + 300, ...claims }).setProtectedHeader({
    alg: "HS256",
  }).sign(new TextEncoder().encode(SECRET))}`;
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

Deno.test("gateway applies claim rules, forwards claims and accepts API keys", async (t) => {
  await using backend = startBackend((req) =>
    Response.json({ headers: Object.fromEntries(req.headers), query: new URL(req.url).search })
  );
  const b = [{ host: backend.host, port: backend.port }];
  await using gw = await startGateway({
    version: 1,
    jwt: { secret: SECRET },
    routers: [
      {
        external_path: "/admin",
        internal_path: "/admin",
        methods: ["GET"],
        auth_required: true,
        backends: b,
        auth: {
          claims: { roles: { contains: "admin" } },
          forward_claims: { sub: "X-User-Id", roles: "X-User-Roles" },
          strip_authorization: true,
        },
      },
      {
        external_path: "/service",
        internal_path: "/service",
        methods: ["GET", "POST"],
        backends: b,
        auth: {
          api_keys: {
            header: "X-API-Key",
            query: "api_key",
            keys: [{ id: "billing", sha256: sha256("k-123") }],
          },
        },
      },
    ],
  });

  await t.step(
    "a token with the role passes; claims arrive as headers, spoofed ones and Authorization do not",
    async () => {
      const res = await fetchText(`${gw.url}/admin`, {
        headers: {
          authorization: await bearer({ sub: "alice", roles: ["admin", "ops"] }),
          "x-user-id": "mallory",
        },
      });
      assert.equal(res.status, 200);
      const seen = JSON.parse(res.body).headers;
      assert.equal(seen["x-user-id"], "alice");
      assert.equal(seen["x-user-roles"], "admin,ops");
      assert.equal(seen.authorization, undefined);
    },
  );

  await t.step("a valid token without the role is 403 authorization_error", async () => {
    const before = backend.requests;
    const res = await fetchText(`${gw.url}/admin`, {
      headers: { authorization: await bearer({ sub: "bob", roles: ["ops"] }) },
    });
    assert.equal(res.status, 403);
    assert.equal(JSON.parse(res.body).type, "authorization_error");
    assert.equal(backend.requests, before);
  });

  await t.step("API keys work from the header or the query and never reach the backend", async () => {
    const viaHeader = await fetchText(`${gw.url}/service`, { headers: { "x-api-key": "k-123" } });
    assert.equal(viaHeader.status, 200);
    assert.equal(JSON.parse(viaHeader.body).headers["x-api-key"], undefined);
    const viaQuery = await fetchText(`${gw.url}/service?api_key=k-123&x=1`);
    assert.equal(viaQuery.status, 200);
    assert.equal(JSON.parse(viaQuery.body).query, "?x=1");
  });

  await t.step("a wrong or missing API key is 401", async () => {
    assert.equal((await fetchText(`${gw.url}/service`, { headers: { "x-api-key": "k-124" } })).status, 401);
    assert.equal((await fetchText(`${gw.url}/service`, { method: "POST" })).status, 401);
  });
});
