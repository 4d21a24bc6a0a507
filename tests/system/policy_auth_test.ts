/**
 * Whole-process authentication: HS256 tokens minted here with jose (valid, expired, forged,
 * oversized, wrong algorithm, alg none) and RS256 tokens checked against a JWKS that a test server
 * rotates. Every method of a protected route is covered, including HEAD, PATCH and OPTIONS.
 */
import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, type JWK, SignJWT, UnsecuredJWT } from "jose";
import { fetchText, startBackend, startGateway } from "./harness.ts";

const SECRET = "system-test-secret-system-test-secret";
const secret = new TextEncoder().encode(SECRET);
const exp = () => Math.floor(Date.now() / 1000) + 300;
const hs = (claims: Record<string, unknown> = {}, alg = "HS256", key = secret) =>
  new SignJWT({ sub: "alice", exp: exp(), ...claims }).setProtectedHeader({ alg }).sign(key);

function echoBackend() {
  return startBackend((req) =>
    Response.json({
      method: req.method,
      path: new URL(req.url).pathname,
      authorization: req.headers.get("authorization"),
    })
  );
}

Deno.test("gateway verifies HS256 bearer tokens on every method of a protected route", async (t) => {
  await using backend = echoBackend();
  await using gw = await startGateway({
    version: 1,
    jwt: { secret: SECRET },
    routers: [
      {
        external_path: "/secure/{*rest}",
        internal_path: "/{rest}",
        methods: ["GET", "HEAD", "POST", "PATCH", "OPTIONS", "DELETE"],
        auth_required: true,
        backends: [{ host: backend.host, port: backend.port }],
      },
      {
        external_path: "/open",
        internal_path: "/open",
        methods: ["GET"],
        backends: [{ host: backend.host, port: backend.port }],
      },
    ],
  });
  const secure = `${gw.url}/secure/thing`;

  await t.step("a valid token reaches the backend, Authorization included", async () => {
    const token = await hs();
    const res = await fetchText(secure, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).authorization, `Bearer ${token}`);
  });

  await t.step(
    "no issuer/audience configured: tokens with any iss/aud pass (kairos-rs rejected all)",
    async () => {
      const res = await fetchText(secure, {
        headers: { authorization: `Bearer ${await hs({ iss: "x", aud: "y" })}` },
      });
      assert.equal(res.status, 200);
    },
  );

  for (const method of ["GET", "HEAD", "POST", "PATCH", "OPTIONS", "DELETE"]) {
    await t.step(`${method} without a token is 401 with a Bearer challenge`, async () => {
      const before = backend.requests;
      const res = await fetchText(secure, { method });
      assert.equal(res.status, 401);
      assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer realm="kairos"/);
      if (method !== "HEAD") assert.equal(JSON.parse(res.body).type, "authentication_error");
      assert.equal(backend.requests, before);
    });
  }

  const bad: Array<[string, () => Promise<string>, RegExp]> = [
    ["expired", () => hs({ exp: Math.floor(Date.now() / 1000) - 3600 }), /token expired/],
    [
      "forged signature",
      async () => (await hs()).replace(/\.[^.]+$/, ".AAAA"),
      /signature verification failed/,
    ],
    [
      "signed with another secret",
      () => hs({}, "HS256", new TextEncoder().encode("not-the-secret")),
      /signature verification failed/,
    ],
    ["over 8 KiB", () => hs({ pad: "x".repeat(9000) }), /longer than 8192 bytes/],
    [
      "alg none",
      () => Promise.resolve(new UnsecuredJWT({ sub: "alice", exp: exp() }).encode()),
      /algorithm not allowed/,
    ],
    ["RS256 where only HS is configured", async () => {
      const { privateKey } = await generateKeyPair("RS256");
      return new SignJWT({ sub: "a", exp: exp() }).setProtectedHeader({ alg: "RS256" }).sign(privateKey);
    }, /algorithm not allowed/],
    ["malformed", () => Promise.resolve("abc.def"), /malformed token/],
  ];
  for (const [name, mint, description] of bad) {
    await t.step(`${name} token is 401 invalid_token`, async () => {
      const before = backend.requests;
      const res = await fetchText(secure, { headers: { authorization: `Bearer ${await mint()}` } });
      assert.equal(res.status, 401);
      const challenge = res.headers.get("www-authenticate") ?? "";
      assert.match(challenge, /error="invalid_token"/);
      assert.match(challenge, description);
      assert.equal(JSON.parse(res.body).type, "authentication_error");
      assert.equal(backend.requests, before);
    });
  }

  await t.step("the gateway keeps serving after the bad input, and open routes need no token", async () => {
    assert.equal((await fetchText(`${gw.url}/open`)).status, 200);
    assert.equal(
      (await fetchText(secure, { headers: { authorization: `Bearer ${await hs()}` } })).status,
      200,
    );
  });
});

Deno.test("gateway verifies RS256 tokens against a JWKS that rotates its keys", async () => {
  const keys = await Promise.all(["k1", "k2"].map(async (kid) => {
    const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true });
    const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" };
    const sign = () =>
      new SignJWT({ sub: "u", exp: exp() }).setProtectedHeader({ alg: "RS256", kid }).sign(privateKey);
    return { jwk, sign };
  }));
  let published: JWK[] = [keys[0].jwk];
  let jwksFetches = 0;
  await using idp = startBackend(() => {
    jwksFetches++;
    return Response.json({ keys: published });
  });
  await using backend = echoBackend();
  await using gw = await startGateway({
    version: 1,
    jwt: { jwks_url: `${idp.url}/.well-known/jwks.json`, jwks_cooldown_ms: 0 },
    routers: [{
      external_path: "/secure",
      internal_path: "/s",
      methods: ["GET"],
      auth_required: true,
      backends: [{ host: backend.host, port: backend.port }],
    }],
  });
  const call = async (token: string) =>
    (await fetchText(`${gw.url}/secure`, { headers: { authorization: `Bearer ${token}` } })).status;

  assert.equal(await call(await keys[0].sign()), 200);
  assert.equal(await call(await keys[0].sign()), 200);
  assert.equal(jwksFetches, 1);
  // Rotation: the provider now publishes only k2. A k2 token makes the gateway refetch.
  published = [keys[1].jwk];
  assert.equal(await call(await keys[1].sign()), 200);
  assert.equal(jwksFetches, 2);
  assert.equal(await call(await keys[0].sign()), 401);
  // An HS256 token "signed" with the JWKS is algorithm confusion: refused.
  const confused = await hs({}, "HS256", new TextEncoder().encode(JSON.stringify(keys[1].jwk)));
  assert.equal(await call(confused), 401);
});
