/**
 * Policy audit: probes written as an attacker and as a demanding Kong/nginx user would write them.
 * Unit probes build contexts by hand; the last tests run the real gateway (tests/system/harness.ts).
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { base64url, exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT } from "jose";
import { jwtSchema, rateLimitSchema, requestTransformationSchema } from "../../src/config/policy_schema.ts";
import { validateConfig } from "../../src/config/validate.ts";
import { createClientIpResolver } from "../../src/proxy/client_ip.ts";
import { GatewayError } from "../../src/proxy/gateway_error.ts";
import { applyHeaderActions, compileHeaderActions } from "../../src/policy/header_actions.ts";
import { compileBodyLimit } from "../../src/policy/body_limit.ts";
import { compileCors } from "../../src/policy/cors.ts";
import { checkHeaderLimits } from "../../src/policy/header_limits.ts";
import { compileIpFilter } from "../../src/policy/ip_filter.ts";
import { createJwksCache } from "../../src/policy/jwks_cache.ts";
import { compileJwtVerifier } from "../../src/policy/jwt.ts";
import { compileRoutePipeline } from "../../src/policy/pipeline.ts";
import { PolicyConfigError } from "../../src/policy/policy_config_error.ts";
import { compileLimiter, compileRateLimit } from "../../src/policy/rate_limit.ts";
import { consume, newRateLimitState } from "../../src/policy/rate_limit_algorithms.ts";
import {
  createMemoryRateLimitStore,
  type RateLimitRule,
  type RateLimitStore,
} from "../../src/policy/rate_limit_store.ts";
import { compileRequestTransformation } from "../../src/policy/request_transform.ts";
import { compileResponseTransformation } from "../../src/policy/response_transform.ts";
import { fetchText, routeConfig, startBackend, startGateway } from "../system/harness.ts";
import {
  type ContextInit,
  makeConfig,
  makeContext,
  makeDeps,
  makeRoute,
  outcome,
  queued,
  runStages,
} from "./context_fixture.ts";

const SECRET = "audit-test-secret-audit-test-secret!";
const secretBytes = new TextEncoder().encode(SECRET);
const now = () => Math.floor(Date.now() / 1000);
const noFetch = () => Promise.reject(new Error("no fetch in this test"));

function verifier(raw: Record<string, unknown>, fetchFn: typeof fetch = noFetch) {
  const jwks = createJwksCache(fetchFn);
  return { verify: compileJwtVerifier(jwtSchema.parse(raw), "jwt", jwks), jwks };
}

/** A compact JWS signed with HMAC-SHA256 over exactly the given header and payload text. */
function handMade(header: unknown, payload: unknown, key: string | Uint8Array = SECRET): string {
  const h = base64url.encode(JSON.stringify(header));
  const p = base64url.encode(typeof payload === "string" ? payload : JSON.stringify(payload));
  return `${h}.${p}.${createHmac("sha256", key).update(`${h}.${p}`).digest("base64url")}`;
}

const hs = (claims: Record<string, unknown> = {}) =>
  new SignJWT({ sub: "alice", exp: now() + 300, ...claims }).setProtectedHeader({ alg: "HS256" }).sign(
    secretBytes,
  );

/** Runs a route's request stages; returns the context and the GatewayError thrown, if any. */
async function runRoute(
  route: Record<string, unknown>,
  init: ContextInit,
  top: Record<string, unknown> = { jwt: { secret: SECRET } },
) {
  const deps = makeDeps();
  try {
    const r = makeRoute(route);
    const pipeline = compileRoutePipeline(r, makeConfig(top, [r]), deps);
    const ctx = makeContext({ ...init, route: r });
    try {
      return { ctx, answer: await runStages(pipeline.request, ctx), error: undefined };
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      return { ctx, answer: undefined, error: err };
    }
  } finally {
    deps.dispose();
  }
}

function throwsAt(fn: () => unknown, path: string, message: RegExp) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof PolicyConfigError, String(err));
    assert.equal(err.path, path);
    assert.match(err.message, message);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------- JWT

Deno.test("audit: alg none in any spelling and HS256 keyed with the RSA public key are refused", async (t) => {
  const { publicKey } = await generateKeyPair("RS256", { extractable: true });
  const pem = await exportSPKI(publicKey);
  const rsa = verifier({ public_key: pem });
  const shared = verifier({ secret: SECRET });
  const payload = base64url.encode(JSON.stringify({ sub: "mallory", exp: now() + 300 }));
  for (const alg of ["none", "None", "NONE"]) {
    await t.step(`alg ${alg}, no signature`, async () => {
      const token = `${base64url.encode(JSON.stringify({ alg, typ: "JWT" }))}.${payload}.`;
      assert.equal(await outcome(shared.verify, token), "algorithm not allowed");
      assert.equal(await outcome(rsa.verify, token), "algorithm not allowed");
    });
  }
  await t.step("HS256 with the PEM text as HMAC key", async () => {
    const confused = handMade({ alg: "HS256" }, { sub: "mallory", exp: now() + 300 }, pem);
    assert.equal(await outcome(rsa.verify, confused), "algorithm not allowed");
  });
  rsa.jwks.dispose();
  shared.jwks.dispose();
});

Deno.test("audit: a token must be strict unpadded base64url (one token, one spelling)", async (t) => {
  const { verify, jwks } = verifier({ secret: SECRET });
  // A token whose signature has a `-` or `_`, so that it has a standard-alphabet twin.
  let good = await hs();
  for (let n = 0; !/[-_]/.test(good.split(".")[2]); n++) good = await hs({ n });
  const [h, p, s] = good.split(".");
  const cases: Array<[string, string, string]> = [
    ["the token as issued", good, "ok"],
    ["a padded signature", `${h}.${p}.${s}=`, "malformed token"],
    ["the standard alphabet", `${h}.${p}.${s.replaceAll("-", "+").replaceAll("_", "/")}`, "malformed token"],
    ["a fourth segment", `${good}.x`, "malformed token"],
    ["a space inside", `${h}.${p} .${s}`, "malformed token"],
    ["an empty header", `.${p}.${s}`, "malformed token"],
    ["a header that is not JSON", `${base64url.encode("x")}.${p}.${s}`, "malformed token"],
    ["a payload that is an array", handMade({ alg: "HS256" }, "[1]"), "malformed token"],
    ["no alg", handMade({}, { exp: now() + 60 }), "malformed token"],
  ];
  for (const [name, token, expected] of cases) {
    await t.step(name, async () => assert.equal(await outcome(verify, token), expected));
  }
  // A hand-made token that only differs by a padded signature must not ride on the cached original.
  const padded = `${h}.${p}.${s}=`;
  assert.equal(await outcome(verify, good), "ok");
  assert.equal(await outcome(verify, padded), "malformed token");
  jwks.dispose();
});

Deno.test("audit: exp and nbf honour clock_skew_seconds on both sides; iat is only type-checked", async (t) => {
  const { verify, jwks } = verifier({ secret: SECRET, clock_skew_seconds: 30 });
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ["exp 20 s ago (within skew)", { exp: now() - 20 }, "ok"],
    ["exp 40 s ago (beyond skew)", { exp: now() - 40 }, "token expired"],
    ["nbf 20 s ahead (within skew)", { nbf: now() + 20 }, "ok"],
    ["nbf 40 s ahead (beyond skew)", { nbf: now() + 40 }, "token not yet valid"],
    ["exp as a string", { exp: String(now() + 60) }, 'unexpected "exp" claim value'],
    ["nbf as a string is not called 'not yet valid'", { nbf: "0" }, 'unexpected "nbf" claim value'],
    ["iat as a string", { iat: "0" }, 'unexpected "iat" claim value'],
    ["iat in the future (RFC 7519 does not forbid it; kairos-rs accepts it)", { iat: now() + 3600 }, "ok"],
  ];
  for (const [name, claims, expected] of cases) {
    await t.step(name, async () => {
      const token = handMade({ alg: "HS256" }, { sub: "a", exp: now() + 300, ...claims });
      assert.equal(await outcome(verify, token), expected);
    });
  }
  await t.step("an unknown critical header parameter is refused and named", async () => {
    const token = handMade({ alg: "HS256", crit: ["x-new"], "x-new": 1 }, { exp: now() + 60 });
    assert.equal(await outcome(verify, token), "unsupported algorithm or critical header");
  });
  jwks.dispose();
});

Deno.test("audit: iss and aud checks with lists on either side", async (t) => {
  const { verify, jwks } = verifier({ secret: SECRET, issuer: "https://idp", audience: ["api", "admin"] });
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ["aud list sharing one audience", { iss: "https://idp", aud: ["other", "admin"] }, "ok"],
    ["aud string", { iss: "https://idp", aud: "api" }, "ok"],
    ["aud list sharing none", { iss: "https://idp", aud: ["x", "y"] }, 'unexpected "aud" claim value'],
    ["no aud", { iss: "https://idp" }, 'missing required claim "aud"'],
    [
      "iss as a list holding the issuer",
      { iss: ["https://idp"], aud: "api" },
      'unexpected "iss" claim value',
    ],
    ["iss with a trailing slash", { iss: "https://idp/", aud: "api" }, 'unexpected "iss" claim value'],
  ];
  for (const [name, claims, expected] of cases) {
    await t.step(name, async () => assert.equal(await outcome(verify, await hs(claims)), expected));
  }
  jwks.dispose();
});

Deno.test("audit: the Bearer scheme is case-insensitive, takes extra spaces, and nothing else", async (t) => {
  const token = await hs();
  const cases: Array<[string, string, number]> = [
    ["Bearer", `Bearer ${token}`, 200],
    ["BEARER", `BEARER ${token}`, 200],
    ["bearer with three spaces", `bearer   ${token}`, 200],
    ["Bearer with a trailing space", `Bearer ${token} `, 200],
    ["a tab instead of a space", `Bearer\t${token}`, 401],
    ["no space", `Bearer${token}`, 401],
    ["scheme only", "Bearer", 401],
    ["scheme and a space", "Bearer ", 401],
    ["two tokens", `Bearer ${token}, Bearer ${token}`, 401],
    ["Token scheme", `Token ${token}`, 401],
    ["at the size limit (8192) it is judged, not refused for size", `Bearer ${"a".repeat(8192)}`, 401],
  ];
  for (const [name, authorization, status] of cases) {
    await t.step(name, async () => {
      const { error } = await runRoute({ auth_required: true }, { headers: { authorization } });
      assert.equal(error?.status ?? 200, status, error?.message);
    });
  }
  await t.step("one byte over 8192 is refused before parsing", async () => {
    const { error } = await runRoute({ auth_required: true }, {
      headers: { authorization: `Bearer ${"a".repeat(8193)}` },
    });
    assert.equal(error?.status, 401);
    assert.match(error?.headers?.["www-authenticate"] ?? "", /longer than 8192 bytes/);
  });
});

Deno.test("audit: JWKS kid handling: kid-less tokens, HS confusion with JWKS keys, unknown-kid floods", async (t) => {
  const signers = await Promise.all([1, 2].map(async () => {
    const pair = await generateKeyPair("RS256", { extractable: true });
    return { ...pair, jwk: { ...(await exportJWK(pair.publicKey)), alg: "RS256" } as JWK };
  }));
  let fetches = 0;
  let keys: JWK[] = signers.map((s) => s.jwk);
  const fetchFn = (() => {
    fetches++;
    return Promise.resolve(Response.json({ keys }));
  }) as typeof fetch;
  const { verify, jwks } = verifier(
    { jwks_url: "https://idp.test/jwks", jwks_cooldown_ms: 60_000 },
    fetchFn,
  );
  const rs = (key: CryptoKey, kid?: string) =>
    new SignJWT({ sub: "a", exp: now() + 60 }).setProtectedHeader({ alg: "RS256", ...(kid ? { kid } : {}) })
      .sign(key);
  try {
    await t.step("a kid-less token is tried against each key that fits", async () => {
      assert.equal(await outcome(verify, await rs(signers[1].privateKey)), "ok");
      assert.equal(await outcome(verify, await rs(signers[0].privateKey)), "ok");
    });
    await t.step("an HS256 token keyed with a JWKS key's modulus is refused by algorithm", async () => {
      const forged = handMade({ alg: "HS256" }, { sub: "a", exp: now() + 60 }, signers[0].jwk.n!);
      assert.equal(await outcome(verify, forged), "algorithm not allowed");
    });
    await t.step("an oct key published in the JWKS does not enable HS tokens", async () => {
      keys = [...keys, { kty: "oct", kid: "sym", k: base64url.encode(SECRET), alg: "HS256" }];
      const forged = handMade({ alg: "HS256", kid: "sym" }, { sub: "a", exp: now() + 60 });
      assert.equal(await outcome(verify, forged), "algorithm not allowed");
    });
    await t.step("100 tokens with random kids cost at most one refetch per cooldown", async () => {
      const before = fetches;
      const results = await Promise.all(
        Array.from(
          { length: 100 },
          async (_, i) => outcome(verify, await rs(signers[0].privateKey, `k${i}`)),
        ),
      );
      assert.ok(results.every((r) => r === "no signing key matches the token"), results[0]);
      assert.ok(fetches - before <= 1, `${fetches - before} fetches`);
    });
  } finally {
    jwks.dispose();
  }
});

// ----------------------------------------------------------------------------------------- API keys

Deno.test("audit: API keys: header before query, near-misses refused, the query key stripped byte-exact", async (t) => {
  const sha = async (text: string) =>
    Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))))
      .map((b) => b.toString(16).padStart(2, "0")).join("");
  const auth = {
    api_keys: { header: "X-API-Key", query: "api_key", keys: [{ id: "svc", sha256: await sha("k-123456") }] },
  };
  const run = (init: ContextInit) => runRoute({ auth }, init, {});
  await t.step("a key differing in its last character is refused", async () => {
    assert.equal((await run({ headers: { "x-api-key": "k-123457" } })).error?.status, 401);
    assert.equal((await run({ headers: { "x-api-key": "k-12345" } })).error?.status, 401);
  });
  await t.step("the header wins over the query", async () => {
    const { error } = await run({ url: "/api/x?api_key=k-123456", headers: { "x-api-key": "wrong" } });
    assert.equal(error?.status, 401);
  });
  await t.step("a query key is removed and every other parameter keeps its exact bytes", async () => {
    const { ctx, error } = await run({ url: "/api/x?q=a%20b&api_key=k-123456&flag&t=%E2%9C%93" });
    assert.equal(error, undefined);
    assert.equal(ctx.claims?.sub, "svc");
    assert.equal(ctx.upstreamQuery, "?q=a%20b&flag&t=%E2%9C%93");
  });
  await t.step("a header key never reaches the backend", async () => {
    const { ctx } = await run({ headers: { "x-api-key": "k-123456" } });
    assert.equal(ctx.upstreamHeaders.has("x-api-key"), false);
  });
});

Deno.test("audit: forwarded claims are percent-encoded outside visible ASCII instead of failing the request", async () => {
  const token = await hs({ name: "José 日本", evil: "a\r\nX-Admin: 1", team: ["a", "b"] });
  const { ctx, error } = await runRoute({
    auth_required: true,
    auth: { forward_claims: { name: "X-User-Name", evil: "X-Evil", team: "X-Team" } },
  }, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(error, undefined);
  assert.equal(ctx.upstreamHeaders.get("x-user-name"), "Jos%C3%A9 %E6%97%A5%E6%9C%AC");
  assert.equal(ctx.upstreamHeaders.get("x-evil"), "a%0D%0AX-Admin: 1");
  assert.equal(ctx.upstreamHeaders.get("x-team"), "a,b");
  // Each value is one that a ByteString-only Headers (the fetch client) accepts.
  const headers = new Headers();
  for (const [name, value] of ctx.upstreamHeaders) headers.set(name, value);
});

// ------------------------------------------------------------------------------------ Rate limiting

Deno.test("audit: each kairos-rs rate-limit dialect limits as documented, with quota headers", async (t) => {
  const cases: Array<[string, Record<string, unknown>, number]> = [
    ["FixedWindow: L + burst per window", {
      strategy: "PerIP",
      requests_per_window: 2,
      window_duration: 60,
      burst_allowance: 1,
      window_type: "FixedWindow",
      enable_redis: false,
      redis_key_prefix: "kairos_rl",
    }, 3],
    ["SlidingWindow: L + burst per window", {
      strategy: "PerIPAndRoute",
      requests_per_window: 2,
      window_duration: 60,
      burst_allowance: 2,
      window_type: "SlidingWindow",
      enable_redis: false,
      redis_key_prefix: "kairos_rl",
    }, 4],
    ["TokenBucket: a full bucket of L + burst", {
      strategy: "PerRoute",
      requests_per_window: 1,
      window_duration: 60,
      burst_allowance: 2,
      window_type: "TokenBucket",
      enable_redis: false,
      redis_key_prefix: "kairos_rl",
    }, 3],
    ["README token_bucket: burst_size is the capacity", {
      algorithm: "token_bucket",
      requests_per_second: 2,
      burst_size: 5,
    }, 5],
  ];
  for (const [name, rateLimit, allowed] of cases) {
    await t.step(name, async () => {
      const result = validateConfig({
        version: 1,
        rate_limit: rateLimit,
        routers: [{
          external_path: "/api/{id}",
          internal_path: "/{id}",
          methods: ["GET"],
          backends: [{ host: "http://127.0.0.1", port: 9 }],
        }],
      });
      assert.ok(result.ok, JSON.stringify(!result.ok && result.errors));
      const deps = makeDeps();
      try {
        const route = result.config.routers[0];
        const pipeline = compileRoutePipeline(route, result.config, deps);
        const statuses: number[] = [];
        let last: GatewayError | undefined;
        for (let i = 0; i < allowed + 1; i++) {
          const ctx = makeContext({ route, routeId: route.external_path, url: `/api/${i % 2}` });
          try {
            await runStages(pipeline.request, ctx);
            statuses.push(200);
            assert.equal(queued(ctx, "ratelimit-remaining"), String(allowed - i - 1));
          } catch (err) {
            assert.ok(err instanceof GatewayError);
            statuses.push(err.status);
            last = err;
          }
        }
        assert.deepEqual(statuses, [...Array(allowed).fill(200), 429]);
        assert.equal(last?.type, "rate_limit_error");
        assert.equal(last?.headers?.["ratelimit-limit"], String(allowed));
        assert.equal(last?.headers?.["ratelimit-remaining"], "0");
        assert.ok(Number(last?.headers?.["retry-after"]) >= 1);
      } finally {
        deps.dispose();
      }
    });
  }
});

Deno.test("audit: a client that waits exactly the Retry-After it was given is let in", async (t) => {
  // A fixed pseudo-random walk (LCG), so the probe is the same on every run.
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (const algorithm of ["token_bucket", "fixed_window", "sliding_window"] as const) {
    await t.step(algorithm, () => {
      let refused = 0;
      for (let trial = 0; trial < 2000; trial++) {
        const rate = 1 + Math.floor(random() * 5);
        const rule: RateLimitRule = {
          algorithm,
          limit: rate + Math.floor(random() * 3),
          rate,
          windowMs: 100 + Math.floor(random() * 2000),
        };
        let at = Math.floor(random() * 1e6);
        const state = newRateLimitState(rule, at);
        for (let i = 0; i < 30; i++) {
          at += Math.floor((random() * rule.windowMs) / 3);
          const decision = consume(state, rule, at);
          if (decision.allowed) continue;
          refused++;
          const later = consume({ ...state }, rule, at + decision.retryAfterMs);
          assert.ok(later.allowed, `${JSON.stringify(rule)} refused again after ${decision.retryAfterMs} ms`);
        }
      }
      assert.ok(refused > 100);
    });
  }
});

Deno.test("audit: rate-limit keys: header values are bounded in size, X-Forwarded-For from an untrusted peer is ignored", async (t) => {
  await t.step("a 16 KiB header value is stored as a short digest", async () => {
    const keys: string[] = [];
    const inner = createMemoryRateLimitStore();
    const store: RateLimitStore = {
      hit: (key, rule, at) => (keys.push(key), inner.hit(key, rule, at)),
      dispose: () => inner.dispose(),
    };
    const limiter = compileLimiter(
      rateLimitSchema.parse({ requests_per_window: 1, window_ms: 60_000, key: { header: "X-Tenant" } }),
      "g",
    );
    const stage = compileRateLimit([limiter], store, () => {})!;
    const big = "t".repeat(16_384);
    await stage(makeContext({ headers: { "x-tenant": big } }));
    await stage(makeContext({ headers: { "x-tenant": "acme" } }));
    assert.ok(keys[0].length < 100, `key of ${keys[0].length} chars`);
    assert.equal(keys[1], "g|h:x-tenant:acme");
    // Same long value, same bucket: the second request is limited.
    assert.throws(() => stage(makeContext({ headers: { "x-tenant": big } })), /Too many requests/);
    assert.equal(inner.size, 2);
    store.dispose();
  });
  await t.step("per-IP keys use the socket peer unless it is a trusted proxy", () => {
    const untrusted = createClientIpResolver([]);
    assert.equal(untrusted("203.0.113.9", "1.1.1.1").clientIp, "203.0.113.9");
    const trusted = createClientIpResolver(["10.0.0.0/8"]);
    assert.equal(trusted("10.0.0.2", "1.1.1.1, 198.51.100.7, 10.0.0.9").clientIp, "198.51.100.7");
    assert.equal(trusted("203.0.113.9", "1.1.1.1").clientIp, "203.0.113.9");
  });
});

Deno.test("audit: two routes on one path with different methods each count only their own requests", async () => {
  const deps = makeDeps();
  try {
    const limit = { algorithm: "fixed_window", requests_per_window: 1, window_ms: 60_000, key: "ip" };
    const get = makeRoute({
      external_path: "/items",
      internal_path: "/items",
      methods: ["GET"],
      rate_limit: limit,
    });
    const post = makeRoute({
      external_path: "/items",
      internal_path: "/items",
      methods: ["POST"],
      rate_limit: limit,
    });
    const config = makeConfig({}, [get, post]);
    const send = async (route: typeof get) => {
      const pipeline = compileRoutePipeline(route, config, deps);
      const ctx = makeContext({ route, method: route.methods[0], url: "/items", routeId: "/items" });
      try {
        await runStages(pipeline.request, ctx);
        return 200;
      } catch (err) {
        return (err as GatewayError).status;
      }
    };
    assert.deepEqual([await send(get), await send(post), await send(get), await send(post)], [
      200,
      200,
      429,
      429,
    ]);
  } finally {
    deps.dispose();
  }
});

// --------------------------------------------------------------------------------------------- CORS

Deno.test("audit: CORS preflights with and without credentials never send * with credentials", async (t) => {
  const preflight = (config: Record<string, unknown>, headers: Record<string, string>) => {
    const stage = compileCors(
      {
        allowed_origins: ["*"],
        allowed_methods: ["GET", "POST", "OPTIONS"],
        allowed_headers: ["Content-Type", "Authorization"],
        exposed_headers: [],
        allow_credentials: false,
        max_age: 600,
        ...config,
      } as never,
      "cors",
    );
    const ctx = makeContext({ method: "OPTIONS", headers });
    try {
      return stage(ctx) as Response;
    } catch (err) {
      assert.ok(err instanceof GatewayError);
      return new Response(null, { status: err.status, headers: err.headers });
    }
  };
  const ask = (origin: string, extra: Record<string, string> = {}) => ({
    origin,
    "access-control-request-method": "POST",
    ...extra,
  });
  await t.step("wildcard without credentials: a literal *", () => {
    const res = preflight({}, ask("https://a.test"));
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
    assert.equal(res.headers.get("access-control-allow-credentials"), null);
    assert.equal(res.headers.get("access-control-max-age"), "600");
    assert.match(res.headers.get("vary") ?? "", /Origin/);
  });
  await t.step("wildcard with credentials: the origin echoed, methods and headers listed, not *", () => {
    const res = preflight(
      { allow_credentials: true, allowed_methods: ["*"], allowed_headers: ["*"], max_age: 0 },
      ask("https://a.test", { "access-control-request-headers": "x-custom, content-type" }),
    );
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), "https://a.test");
    assert.equal(res.headers.get("access-control-allow-credentials"), "true");
    assert.equal(res.headers.get("access-control-allow-methods"), "POST");
    assert.equal(res.headers.get("access-control-allow-headers"), "x-custom, content-type");
    assert.equal(res.headers.get("access-control-max-age"), "0");
  });
  await t.step("a disallowed origin is refused with Vary and without CORS headers", () => {
    const res = preflight(
      { allowed_origins: ["https://*.example.com"] },
      ask("https://example.com.evil.test"),
    );
    assert.equal(res.status, 403);
    assert.equal(res.headers.get("access-control-allow-origin"), null);
    assert.match(res.headers.get("vary") ?? "", /Origin/);
  });
  await t.step("the null origin needs an explicit entry; wildcard subdomains never match it", () => {
    assert.equal(preflight({ allowed_origins: ["https://*.example.com"] }, ask("null")).status, 403);
    const res = preflight({ allowed_origins: ["null"], allow_credentials: true }, ask("null"));
    assert.equal(res.headers.get("access-control-allow-origin"), "null");
  });
  await t.step("actual requests: exposed headers, Vary: Origin, nothing for a foreign origin", () => {
    const stage = compileCors({
      allowed_origins: ["https://app.test"],
      allowed_methods: ["GET"],
      allowed_headers: [],
      exposed_headers: ["X-Request-Id", "RateLimit-Remaining"],
      allow_credentials: true,
      max_age: 600,
    }, "cors");
    const ok = makeContext({ headers: { origin: "https://APP.test" } });
    stage(ok);
    assert.equal(queued(ok, "access-control-allow-origin"), "https://APP.test");
    assert.equal(queued(ok, "access-control-expose-headers"), "X-Request-Id, RateLimit-Remaining");
    assert.equal(queued(ok, "vary"), "Origin");
    const foreign = makeContext({ headers: { origin: "https://evil.test" } });
    stage(foreign);
    assert.equal(queued(foreign, "access-control-allow-origin"), undefined);
    assert.equal(queued(foreign, "vary"), "Origin");
  });
});

// ---------------------------------------------------------------------------------- Transformations

const headerAction = (a: Record<string, unknown>) =>
  ({ value: null, pattern: null, replacement: null, ...a }) as never;

Deno.test("audit: transformations accept kairos-rs (Rust) regex and replacement syntax", async (t) => {
  const replace = (pattern: string, replacement: string, value: string) => {
    const headers = new Headers({ "x-v": value });
    applyHeaderActions(
      compileHeaderActions([headerAction({ action: "replace", name: "X-V", pattern, replacement })], "h"),
      headers,
    );
    return headers.get("x-v");
  };
  const cases: Array<[string, string, string, string, string]> = [
    ["(?P<name>) with $name", "v(?P<major>\\d+)", "major=$major", "v12 v3", "major=12 major=3"],
    ["(?P<name>) with ${name} before a letter", "v(?P<n>\\d)", "${n}x", "v1", "1x"],
    ["$0 is the whole match", "\\d+", "<$0>", "a12b", "a<12>b"],
    ["${1} before a digit", "(\\d)", "${1}0", "7", "70"],
    ["$$ is a literal dollar, also before a name", "(?P<n>x)", "$$n $$1", "x", "$n $1"],
    ["a lone $ and JavaScript's $& stay literal", "x", "$ $&", "x", "$ $&"],
    ["(?i) at the start", "(?i)MOZILLA", "M", "mozilla/5", "M/5"],
    ["(?i) in the middle runs to the end of its group", "a(?i)b", "_", "aB AB", "_ AB"],
    ["\\A and \\z anchor the whole value", "\\A\\d+\\z", "n", "123", "n"],
    ["POSIX classes", "[[:digit:]]+", "#", "a1b22", "a#b#"],
  ];
  for (const [name, pattern, replacement, value, expected] of cases) {
    await t.step(name, () => assert.equal(replace(pattern, replacement, value), expected));
  }
  await t.step("path rewrite with a named group", async () => {
    const stage = compileRequestTransformation(
      requestTransformationSchema.parse({
        path: { pattern: "^/v1/(?P<rest>.*)$", replacement: "/v2/${rest}" },
      }),
      "t",
    )!;
    const ctx = makeContext({ upstreamPath: "/v1/users/7" });
    await stage(ctx);
    assert.equal(ctx.upstreamPath, "/v2/users/7");
  });
});

Deno.test("audit: Rust regex that JavaScript would silently misread is a config error at its path", async (t) => {
  const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ["a Unicode class", { pattern: "\\p{L}+", replacement: "x" }, "h[0].pattern", /unsupported escape "\\p"/],
    ["\\x{...}", { pattern: "\\x{41}", replacement: "x" }, "h[0].pattern", /unsupported escape "\\x"/],
    ["verbose mode", { pattern: "(?x) a b", replacement: "x" }, "h[0].pattern", /only i, m and s/],
    ["a nested class", { pattern: "[a[b]]", replacement: "x" }, "h[0].pattern", /nested character classes/],
    ["a missing numbered group", { pattern: "(a)", replacement: "$2" }, "h[0].replacement", /has 1/],
    ["a missing named group", { pattern: "(?P<a>a)", replacement: "${b}" }, "h[0].replacement", /no group/],
    [
      "$1a (Rust reads group '1a')",
      { pattern: "(a)", replacement: "$1a" },
      "h[0].replacement",
      /write "\$\{1\}"/,
    ],
  ];
  for (const [name, fields, path, message] of cases) {
    await t.step(name, () =>
      throwsAt(
        () => compileHeaderActions([headerAction({ action: "replace", name: "X-V", ...fields })], "h"),
        path,
        message,
      ));
  }
  await t.step("a path replacement the request line cannot carry", () =>
    throwsAt(
      () =>
        compileRequestTransformation(
          requestTransformationSchema.parse({ path: { pattern: "^/a", replacement: "/b c" } }),
          "t",
        ),
      "t.path.replacement",
      /visible ASCII/,
    ));
});

Deno.test("audit: patterns that backtrack exponentially in JavaScript (not in Rust) are flagged at load", async (t) => {
  const load = (pattern: string) =>
    validateConfig({
      version: 1,
      routers: [{
        external_path: "/api/{*rest}",
        internal_path: "/{rest}",
        methods: ["GET"],
        backends: [{ host: "http://127.0.0.1", port: 9 }],
        request_transformation: {
          headers: [{ action: "replace", name: "User-Agent", pattern, replacement: "x" }],
        },
      }],
    });
  const flagged = (pattern: string) => {
    const result = load(pattern);
    assert.ok(result.ok, JSON.stringify(!result.ok && result.errors));
    return result.warnings.some((w) =>
      w.path === "routers[0].request_transformation.headers[0].pattern" && /nests repetitions/.test(w.message)
    );
  };
  for (const pattern of ["^(\\w+\\s?)*$", "(a+)+b", "(?:x*){2,}", "((ab)*c)+"]) {
    await t.step(`${pattern} warns`, () => assert.ok(flagged(pattern)));
  }
  for (const pattern of ["^curl/(\\S+)$", "(ab)+", "(a|b)*c", "[(+]+"]) {
    await t.step(`${pattern} does not`, () => assert.ok(!flagged(pattern)));
  }
});

Deno.test("audit: ${name} naming a group of the pattern is a group reference, not an environment variable", () => {
  const config = (replacement: string) => ({
    version: 1,
    routers: [{
      external_path: "/api/{*rest}",
      internal_path: "/{rest}",
      methods: ["GET"],
      backends: [{ host: "http://127.0.0.1", port: 9 }],
      request_transformation: {
        path: { pattern: "^/(?P<path>.*)$", replacement },
        headers: [{ action: "replace", name: "X-V", pattern: "(?P<user>.+)", replacement: `u=${"${user}"}` }],
      },
    }],
  });
  const env = { path: "/usr/bin", PATH: "/usr/bin", user: "root", TARGET: "/v9" };
  const groups = validateConfig(config("/v2/${path}"), { env });
  assert.ok(groups.ok, JSON.stringify(!groups.ok && groups.errors));
  const transform = groups.config.routers[0].request_transformation!;
  assert.equal(transform.path?.replacement, "/v2/${path}");
  assert.equal(transform.headers[0].replacement, "u=${user}");
  // A name that is no group is still a placeholder.
  const placeholder = validateConfig(config("${TARGET}/${path}"), { env });
  assert.ok(placeholder.ok);
  assert.equal(placeholder.config.routers[0].request_transformation!.path?.replacement, "/v9/${path}");
});

Deno.test("audit: a Set-Cookie replace rewrites each cookie and keeps them apart", () => {
  const stage = compileResponseTransformation({
    headers: [headerAction({
      action: "replace",
      name: "Set-Cookie",
      pattern: "(?i)domain=old\\.test",
      replacement: "Domain=new.test",
    })],
    status_code_mappings: [],
  }, "r")!;
  const headers = new Headers();
  headers.append("set-cookie", "a=1; Domain=old.test; Path=/");
  headers.append("set-cookie", "b=2, with comma; domain=old.test");
  const out = stage(makeContext(), new Response("x", { headers })) as Response;
  assert.deepEqual(out.headers.getSetCookie(), [
    "a=1; Domain=new.test; Path=/",
    "b=2, with comma; Domain=new.test",
  ]);
});

Deno.test("audit: query actions change only the parameters they name, byte for byte elsewhere", async (t) => {
  const run = async (query_params: unknown[], url: string) => {
    const stage = compileRequestTransformation(requestTransformationSchema.parse({ query_params }), "t")!;
    const ctx = makeContext({ url });
    await stage(ctx);
    return ctx.upstreamQuery;
  };
  const cases: Array<[string, unknown[], string, string]> = [
    [
      "add keeps %20, valueless flags and bad escapes",
      [{ action: "add", name: "src", value: "gw gw" }],
      "/api/x?q=a%20b&flag&bad=%E0%A4",
      "?q=a%20b&flag&bad=%E0%A4&src=gw+gw",
    ],
    [
      "add leaves a present parameter",
      [{ action: "add", name: "q", value: "z" }],
      "/api/x?q=a%20b",
      "?q=a%20b",
    ],
    [
      "set replaces every copy at the first place",
      [{ action: "set", name: "a", value: "9" }],
      "/api/x?a=1&b=2&a=3",
      "?a=9&b=2",
    ],
    [
      "set matches an encoded name",
      [{ action: "set", name: "a b", value: "1" }],
      "/api/x?a+b=0&c",
      "?a+b=1&c",
    ],
    ["replace only when present", [{ action: "replace", name: "z", value: "1" }], "/api/x?a=1", "?a=1"],
    ["remove every copy; nothing left means no ?", [{ action: "remove", name: "a" }], "/api/x?a=1&a=2", ""],
  ];
  for (const [name, actions, url, expected] of cases) {
    await t.step(name, async () => assert.equal(await run(actions, url), expected));
  }
});

Deno.test("audit: status mappings follow conditions, including Rust-syntax regexes", () => {
  const stage = compileResponseTransformation({
    headers: [],
    status_code_mappings: [
      { from: 404, to: 204, condition: 'method == "DELETE"' },
      { from: 404, to: 410, condition: 'path ~ "(?i)^/API/OLD/"' },
      { from: 500, to: 503 },
    ],
  }, "r")!;
  const map = (method: string, url: string, status: number) =>
    (stage(makeContext({ method, url }), new Response(status === 204 ? null : "x", { status })) as Response)
      .status;
  assert.equal(map("DELETE", "/api/x", 404), 204);
  assert.equal(map("GET", "/api/old/x", 404), 410);
  assert.equal(map("GET", "/api/x", 404), 404);
  assert.equal(map("GET", "/api/x", 500), 503);
});

// ------------------------------------------------------------------- IP filter, body and header limits

Deno.test("audit: IP filter handles IPv4, IPv6, mapped and zoned addresses and fails closed on garbage", async (t) => {
  const filter = compileIpFilter({
    allow: ["10.0.0.0/8", "2001:db8::/32", "fe80::/10"],
    deny: ["10.6.0.0/16"],
  }, "f")!;
  const cases: Array<[string, boolean]> = [
    ["10.1.2.3", true],
    ["10.6.1.1", false],
    ["::ffff:10.1.2.3", true],
    ["::ffff:10.6.1.1", false],
    ["::ffff:a06:101", false], // 10.6.1.1 in hex
    ["2001:DB8::1", true],
    ["2001:db9::1", false],
    ["fe80::1%eth0", true],
    ["11.0.0.1", false],
    ["010.1.2.3", false], // octal-looking: ambiguous, refused
    ["unknown", false],
    ["", false],
  ];
  for (const [ip, allowed] of cases) {
    await t.step(`${ip || "(empty)"} → ${allowed ? "allowed" : "403"}`, () => {
      const ctx = makeContext({ clientIp: ip });
      if (allowed) assert.equal(filter(ctx), undefined);
      else {assert.throws(() =>
          filter(ctx), (err: unknown) =>
          err instanceof GatewayError && err.status === 403);}
    });
  }
});

Deno.test("audit: body limit: chunked exactly at the limit, declared at the limit, odd declared lengths", async (t) => {
  const stage = compileBodyLimit(10)!;
  const chunked = (sizes: number[]) =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (const size of sizes) controller.enqueue(new Uint8Array(size));
        controller.close();
      },
    });
  const read = async (ctx: ReturnType<typeof makeContext>) =>
    (await new Response(ctx.upstreamBody).bytes()).length;
  await t.step("chunked, exactly at the limit in uneven chunks, passes whole", async () => {
    const ctx = makeContext({ method: "POST", body: chunked([3, 3, 4]) });
    await stage(ctx);
    assert.equal(await read(ctx), 10);
  });
  await t.step("a declared length at the limit passes without a counting stream", async () => {
    const ctx = makeContext({ method: "POST", body: "0123456789", headers: { "content-length": "10" } });
    assert.equal(stage(ctx), undefined);
    assert.equal(ctx.upstreamBody, ctx.request.body);
    await ctx.request.body?.cancel();
  });
  await t.step(
    "a declared length that is not a plain number is counted, and cut past the limit",
    async () => {
      const ctx = makeContext({ method: "POST", body: chunked([6, 6]), headers: { "content-length": "+5" } });
      await stage(ctx);
      await assert.rejects(
        () => read(ctx),
        (err: unknown) => err instanceof GatewayError && err.status === 413,
      );
    },
  );
});

Deno.test("audit: header limits answer 431 one past each limit, not at it", () => {
  const server = { max_header_count: 3, max_header_bytes: 200 } as never;
  const request = new Request("http://gw.test/a");
  const extra = 3 + request.url.length + 11; // "GET" + URL + " HTTP/1.1\r\n"
  assert.equal(checkHeaderLimits(request, { count: 3, bytes: 200 - extra }, server), undefined);
  assert.equal(checkHeaderLimits(request, { count: 4, bytes: 10 }, server)?.status, 431);
  assert.equal(checkHeaderLimits(request, { count: 1, bytes: 201 - extra }, server)?.status, 431);
});

// ------------------------------------------------------------------------------------ Whole process

Deno.test("audit (gateway): spoofed X-Forwarded-For does not escape a per-IP limit, and concurrent requests are counted exactly", async () => {
  await using backend = startBackend(() => new Response("ok"));
  await using gw = await startGateway(routeConfig([{ port: backend.port }], {}, {
    rate_limit: {
      strategy: "PerIP",
      requests_per_window: 5,
      window_duration: 600,
      burst_allowance: 0,
      window_type: "FixedWindow",
      enable_redis: false,
      redis_key_prefix: "kairos_rl",
    },
  }));
  const results = await Promise.all(
    Array.from(
      { length: 20 },
      (_, i) =>
        fetchText(`${gw.url}/api/x`, {
          headers: { "x-forwarded-for": `198.51.100.${i}`, "x-real-ip": `9.9.9.${i}` },
        }),
    ),
  );
  const statuses = results.map((r) => r.status).sort();
  assert.deepEqual(statuses, [...Array(5).fill(200), ...Array(15).fill(429)]);
  const limited = results.find((r) => r.status === 429)!;
  assert.equal(limited.headers.get("content-type"), "application/json");
  assert.ok(Number(limited.headers.get("retry-after")) > 0);
  assert.equal(JSON.parse(limited.body).type, "rate_limit_error");
  assert.equal(backend.requests, 5);
});

Deno.test("audit (gateway): a kairos-rs config with (?P<name>) and ${name} loads and rewrites the path", async () => {
  const seen: string[] = [];
  await using backend = startBackend((req) => {
    const url = new URL(req.url);
    seen.push(`${url.pathname}${url.search} ${req.headers.get("user-agent")}`);
    return new Response("ok", {
      headers: [["set-cookie", "a=1; Domain=old.test"], ["set-cookie", "b=2; Domain=old.test"]],
    });
  });
  await using gw = await startGateway(
    routeConfig([{ port: backend.port }], {
      request_transformation: {
        headers: [{
          action: "replace",
          name: "User-Agent",
          pattern: "^(?P<product>[^/]+)/.*$",
          replacement: "${product}",
        }],
        path: { pattern: "^/(?P<path>.*)$", replacement: "/v2/${path}" },
        query_params: [{ action: "add", name: "gw", value: "1" }],
      },
      response_transformation: {
        headers: [{
          action: "replace",
          name: "Set-Cookie",
          pattern: "Domain=old\\.test",
          replacement: "Domain=new.test",
        }],
      },
    }),
    { env: { PATH: "/usr/bin:/bin", path: "/usr/bin:/bin" } },
  );
  const res = await fetch(`${gw.url}/api/users/7?q=a%20b`, { headers: { "user-agent": "curl/8.5" } });
  await res.body?.cancel();
  assert.equal(res.status, 200);
  assert.deepEqual(res.headers.getSetCookie(), ["a=1; Domain=new.test", "b=2; Domain=new.test"]);
  assert.deepEqual(seen, ["/v2/users/7?q=a%20b&gw=1 curl"]);
});
