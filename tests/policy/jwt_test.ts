import assert from "node:assert/strict";
import { exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT } from "jose";
import { jwtSchema } from "../../src/config/policy_schema.ts";
import { createJwksCache } from "../../src/policy/jwks_cache.ts";
import { compileJwtVerifier } from "../../src/policy/jwt.ts";
import { PolicyConfigError } from "../../src/policy/policy_config_error.ts";
import { outcome } from "./context_fixture.ts";

const SECRET = "a-test-secret-of-reasonable-length";
const secretBytes = new TextEncoder().encode(SECRET);
const now = () => Math.floor(Date.now() / 1000);

function verifier(raw: Record<string, unknown>) {
  const jwks = createJwksCache(() => Promise.reject(new Error("no fetch in this test")));
  return compileJwtVerifier(jwtSchema.parse(raw), "jwt", jwks);
}

function hs(claims: Record<string, unknown>, alg = "HS256", key: Uint8Array = secretBytes) {
  return new SignJWT({ sub: "alice", ...claims }).setProtectedHeader({ alg }).sign(key);
}

Deno.test("compileJwtVerifier() with a secret judges HS tokens by signature, time and claims", async (t) => {
  const verify = verifier({ secret: SECRET });
  const cases: Array<[string, Promise<string>, string]> = [
    ["valid HS256", hs({ exp: now() + 60 }), "ok"],
    ["valid HS384", hs({ exp: now() + 60 }, "HS384"), "ok"],
    ["valid HS512", hs({ exp: now() + 60 }, "HS512"), "ok"],
    ["expired beyond the skew", hs({ exp: now() - 120 }), "token expired"],
    ["expired within the 60 s skew", hs({ exp: now() - 30 }), "ok"],
    ["not yet valid", hs({ exp: now() + 600, nbf: now() + 300 }), "token not yet valid"],
    ["no exp (required by default)", hs({}), 'missing required claim "exp"'],
    [
      "wrong secret",
      hs({ exp: now() + 60 }, "HS256", new TextEncoder().encode("another-secret")),
      "signature verification failed",
    ],
    [
      "alg none",
      Promise.resolve(new UnsecuredJWT({ sub: "x", exp: now() + 60 }).encode()),
      "algorithm not allowed",
    ],
    ["garbage", Promise.resolve("not.a.jwt"), "malformed token"],
  ];
  for (const [name, token, expected] of cases) {
    await t.step(name, async () => assert.equal(await outcome(verify, await token), expected));
  }
});

Deno.test("compileJwtVerifier() checks issuer and audience only when configured", async (t) => {
  const token = await hs({ exp: now() + 60 });
  await t.step("omitted: any token passes (kairos-rs rejected them all)", async () => {
    assert.equal(await outcome(verifier({ secret: SECRET }), token), "ok");
    assert.equal(await outcome(verifier({ secret: SECRET, issuer: null, audience: "" }), token), "ok");
  });
  await t.step("configured issuer", async () => {
    const verify = verifier({ secret: SECRET, issuer: "https://idp.test" });
    assert.equal(await outcome(verify, token), 'missing required claim "iss"');
    assert.equal(
      await outcome(verify, await hs({ exp: now() + 60, iss: "https://evil.test" })),
      'unexpected "iss" claim value',
    );
    assert.equal(await outcome(verify, await hs({ exp: now() + 60, iss: "https://idp.test" })), "ok");
  });
  await t.step("configured audiences accept an array aud", async () => {
    const verify = verifier({ secret: SECRET, audience: ["api", "admin"] });
    assert.equal(await outcome(verify, await hs({ exp: now() + 60, aud: ["other", "api"] })), "ok");
    assert.equal(
      await outcome(verify, await hs({ exp: now() + 60, aud: "other" })),
      'unexpected "aud" claim value',
    );
  });
});

Deno.test("compileJwtVerifier() enforces required_claims and can allow tokens without exp", async () => {
  const verify = verifier({ secret: SECRET, required_claims: ["tenant"], require_exp: false });
  assert.equal(await outcome(verify, await hs({})), 'missing required claim "tenant"');
  assert.equal(await outcome(verify, await hs({ tenant: "t1" })), "ok");
});

Deno.test("compileJwtVerifier() accepts only the configured algorithms", async () => {
  const verify = verifier({ secret: SECRET, algorithms: ["HS512"] });
  assert.equal(await outcome(verify, await hs({ exp: now() + 60 })), "algorithm not allowed");
  assert.equal(await outcome(verify, await hs({ exp: now() + 60 }, "HS512")), "ok");
});

Deno.test("compileJwtVerifier() verifies each asymmetric family with a PEM public key", async (t) => {
  for (const alg of ["RS256", "RS512", "PS256", "ES256", "ES384", "EdDSA"]) {
    await t.step(alg, async () => {
      const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
      const verify = verifier({ public_key: await exportSPKI(publicKey) });
      const token = await new SignJWT({ sub: "a", exp: now() + 60 }).setProtectedHeader({ alg }).sign(
        privateKey,
      );
      assert.equal(await outcome(verify, token), "ok");
      const other = await generateKeyPair(alg);
      const forged = await new SignJWT({ sub: "a", exp: now() + 60 }).setProtectedHeader({ alg }).sign(
        other.privateKey,
      );
      assert.equal(await outcome(verify, forged), "signature verification failed");
    });
  }
});

Deno.test("compileJwtVerifier() rejects algorithm confusion: an HS token signed with the RSA public key", async () => {
  const { publicKey } = await generateKeyPair("RS256", { extractable: true });
  const pem = await exportSPKI(publicKey);
  const verify = verifier({ public_key: pem });
  const confused = await hs({ exp: now() + 60 }, "HS256", new TextEncoder().encode(pem));
  assert.equal(await outcome(verify, confused), "algorithm not allowed");
});

Deno.test("compileJwtVerifier() reports unusable key material at its config path", async (t) => {
  const { publicKey } = await generateKeyPair("ES256", { extractable: true });
  const ecPem = await exportSPKI(publicKey);
  const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ["no key", { issuer: "x" }, "jwt", /expected a key/],
    [
      "bad PEM",
      { public_key: "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----" },
      "jwt.public_key",
      /Cannot read/,
    ],
    [
      "RS256 with an EC key",
      { public_key: ecPem, algorithms: ["RS256"] },
      "jwt.algorithms[0]",
      /needs a different/,
    ],
    [
      "HS256 without a secret",
      { public_key: ecPem, algorithms: ["HS256"] },
      "jwt.algorithms[0]",
      /needs a "secret"/,
    ],
    ["both PEM and JWKS", { public_key: ecPem, jwks_url: "http://127.0.0.1:1/jwks" }, "jwt", /keep one/],
  ];
  for (const [name, raw, path, message] of cases) {
    await t.step(name, () => {
      assert.throws(() => verifier(raw), (err: unknown) => {
        assert.ok(err instanceof PolicyConfigError);
        assert.equal(err.path, path);
        assert.match(err.message, message);
        return true;
      });
    });
  }
});
