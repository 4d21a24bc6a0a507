import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { jwtSchema } from "../../src/config/policy_schema.ts";
import { createJwksCache, JwksUnavailableError } from "../../src/policy/jwks_cache.ts";
import { compileJwtVerifier } from "../../src/policy/jwt.ts";
import { describeJwtError } from "../../src/policy/jwt_errors.ts";

type Signer = { kid: string; jwk: JWK; sign(claims?: Record<string, unknown>): Promise<string> };

async function signer(kid: string): Promise<Signer> {
  const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" };
  return {
    kid,
    jwk,
    sign: (claims = {}) =>
      new SignJWT({ sub: "u1", exp: Math.floor(Date.now() / 1000) + 60, ...claims })
        .setProtectedHeader({ alg: "RS256", kid })
        .sign(privateKey),
  };
}

/** A JWKS endpoint whose key list and health the test controls. */
function jwksServer() {
  const state = { keys: [] as JWK[], status: 200, hang: false, fetches: 0 };
  const hung: Array<() => void> = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (_req) => {
    state.fetches++;
    if (state.hang) return new Promise<Response>((resolve) => hung.push(() => resolve(new Response("late"))));
    if (state.status !== 200) return new Response("down", { status: state.status });
    return Response.json({ keys: state.keys });
  });
  return {
    state,
    url: `http://127.0.0.1:${server.addr.port}/.well-known/jwks.json`,
    async close() {
      for (const release of hung) release();
      await server.shutdown();
    },
  };
}

async function outcome(verify: (t: string) => Promise<unknown>, token: string): Promise<string> {
  try {
    await verify(token);
    return "ok";
  } catch (err) {
    return err instanceof JwksUnavailableError ? "unavailable" : describeJwtError(err);
  }
}

function makeVerifier(url: string, extra: Record<string, unknown> = {}) {
  const logs: string[] = [];
  const jwks = createJwksCache();
  const verify = compileJwtVerifier(
    jwtSchema.parse({ jwks_url: url, jwks_cooldown_ms: 0, ...extra }),
    "jwt",
    jwks,
    (_level, msg) => logs.push(msg),
  );
  return { verify, jwks, logs };
}

Deno.test("JWKS keys are fetched once, cached, and refetched for an unknown kid (rotation)", async () => {
  const server = jwksServer();
  const k1 = await signer("k1");
  const k2 = await signer("k2");
  const { verify, jwks } = makeVerifier(server.url);
  try {
    server.state.keys = [k1.jwk];
    assert.equal(await outcome(verify, await k1.sign()), "ok");
    assert.equal(await outcome(verify, await k1.sign({ n: 2 })), "ok");
    assert.equal(server.state.fetches, 1);
    // The provider rotates: k2 replaces k1.
    server.state.keys = [k2.jwk];
    assert.equal(await outcome(verify, await k2.sign()), "ok");
    assert.equal(server.state.fetches, 2);
    assert.equal(await outcome(verify, await k1.sign({ n: 3 })), "no signing key matches the token");
  } finally {
    jwks.dispose();
    await server.close();
  }
});

Deno.test("JWKS refetches for unknown kids at most once per cooldown", async () => {
  const server = jwksServer();
  const k1 = await signer("k1");
  const stranger = await signer("stranger");
  const { verify, jwks } = makeVerifier(server.url, { jwks_cooldown_ms: 600_000 });
  try {
    server.state.keys = [k1.jwk];
    assert.equal(await outcome(verify, await k1.sign()), "ok");
    for (let i = 0; i < 5; i++) {
      assert.equal(await outcome(verify, await stranger.sign({ i })), "no signing key matches the token");
    }
    assert.equal(server.state.fetches, 1);
  } finally {
    jwks.dispose();
    await server.close();
  }
});

Deno.test("JWKS outage keeps the last good keys, for unknown kids and for stale sets", async () => {
  const server = jwksServer();
  const k1 = await signer("k1");
  const k2 = await signer("k2");
  const { verify, jwks, logs } = makeVerifier(server.url, { jwks_cache_ms: 1000 });
  try {
    server.state.keys = [k1.jwk];
    assert.equal(await outcome(verify, await k1.sign()), "ok");
    server.state.status = 503;
    // Unknown kid: the refetch fails, the known key still works.
    assert.equal(await outcome(verify, await k2.sign()), "no signing key matches the token");
    assert.equal(server.state.fetches, 2);
    assert.equal(await outcome(verify, await k1.sign({ n: 1 })), "ok");
    assert.ok(logs.includes("JWKS fetch failed; keeping the last good keys"));
  } finally {
    jwks.dispose();
    await server.close();
  }
});

Deno.test("JWKS that was never reachable makes tokens unverifiable, and a hung fetch times out", async (t) => {
  const k1 = await signer("k1");
  await t.step("HTTP error", async () => {
    const server = jwksServer();
    server.state.status = 500;
    const { verify, jwks } = makeVerifier(server.url);
    try {
      assert.equal(await outcome(verify, await k1.sign()), "unavailable");
    } finally {
      jwks.dispose();
      await server.close();
    }
  });
  await t.step("timeout", async () => {
    const server = jwksServer();
    server.state.hang = true;
    const { verify, jwks } = makeVerifier(server.url, { jwks_timeout_ms: 100 });
    try {
      assert.equal(await outcome(verify, await k1.sign()), "unavailable");
    } finally {
      jwks.dispose();
      await server.close();
    }
  });
});

Deno.test("createJwksCache() shares one entry per URL", async () => {
  const server = jwksServer();
  const k1 = await signer("k1");
  server.state.keys = [k1.jwk];
  const jwks = createJwksCache();
  try {
    const options = { cacheMs: 60_000, cooldownMs: 0, timeoutMs: 1000 };
    const a = jwks.keys(server.url, options);
    const b = jwks.keys(server.url, options);
    assert.equal(a, b);
    const header = { alg: "RS256", kid: "k1" };
    await Promise.all([a(header, { payload: "", signature: "" }), b(header, { payload: "", signature: "" })]);
    assert.equal(server.state.fetches, 1);
  } finally {
    jwks.dispose();
    await server.close();
  }
});

Deno.test("a stale JWKS is refreshed in the background while the old keys stay in use", async () => {
  const server = jwksServer();
  const k1 = await signer("k1");
  server.state.keys = [k1.jwk];
  const logs: string[] = [];
  const jwks = createJwksCache();
  const tick = () => new Promise((resolve) => setTimeout(resolve, 5));
  try {
    const keys = jwks.keys(server.url, {
      cacheMs: 1,
      cooldownMs: 0,
      timeoutMs: 1000,
      log: (_l, msg) => logs.push(msg),
    });
    const token = { payload: "", signature: "" };
    await keys({ alg: "RS256", kid: "k1" }, token);
    server.state.status = 503;
    await tick();
    // Stale: a background refresh starts (and fails); the call is answered from the old set at once.
    assert.ok(await keys({ alg: "RS256", kid: "k1" }, token));
    for (let i = 0; i < 200 && logs.length === 0; i++) await tick();
    assert.deepEqual(logs, ["JWKS fetch failed; keeping the last good keys"]);
    // Still stale and still down: the next call is answered too, and starts another background attempt.
    assert.ok(await keys({ alg: "RS256", kid: "k1" }, token));
    for (let i = 0; i < 200 && logs.length === 1; i++) await tick();
    assert.equal(logs.length, 2);
    assert.equal(server.state.fetches, 3);
  } finally {
    jwks.dispose();
    await server.close();
  }
});

Deno.test("a token verified before a JWKS rotation is judged again against the new set", async () => {
  const server = jwksServer();
  const k1 = await signer("k1");
  const k2 = await signer("k2");
  const { verify, jwks } = makeVerifier(server.url);
  try {
    server.state.keys = [k1.jwk];
    const old = await k1.sign();
    assert.equal(await outcome(verify, old), "ok");
    assert.equal(await outcome(verify, old), "ok"); // from the verified-token cache
    server.state.keys = [k2.jwk];
    assert.equal(await outcome(verify, await k2.sign()), "ok");
    assert.equal(await outcome(verify, old), "no signing key matches the token");
  } finally {
    jwks.dispose();
    await server.close();
  }
});
