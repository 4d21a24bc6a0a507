import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { compileRoutePipeline, isPreflight } from "../../src/policy/pipeline.ts";
import { PolicyConfigError } from "../../src/policy/policy_config_error.ts";
import { GatewayError } from "../../src/proxy/gateway_error.ts";
import {
  type ContextInit,
  makeConfig,
  makeContext,
  makeDeps,
  makeRoute,
  queued,
  runStages,
} from "./context_fixture.ts";

const SECRET = "pipeline-test-secret-pipeline-test";
const bearer = async (sub: string) =>
  `Bearer ${await new SignJWT({ sub, exp: Math.floor(Date.now() / 1000) + 60 }).setProtectedHeader({
    alg: "HS256",
  })
    .sign(new TextEncoder().encode(SECRET))}`;

function build(route: Record<string, unknown>, top: Record<string, unknown> = {}) {
  const deps = makeDeps();
  const r = makeRoute(route);
  const pipeline = compileRoutePipeline(r, makeConfig(top, [r]), deps);
  return {
    pipeline,
    deps,
    async send(init: ContextInit = {}) {
      const ctx = makeContext({ ...init, route: r });
      try {
        const answer = await runStages(pipeline.request, ctx);
        return { ctx, status: answer?.status ?? 0, answer };
      } catch (err) {
        if (!(err instanceof GatewayError)) throw err;
        return { ctx, status: err.status, error: err };
      }
    },
  };
}

Deno.test("compileRoutePipeline() runs the IP filter before CORS and auth", async () => {
  const p = build({ auth_required: true }, {
    jwt: { secret: SECRET },
    ip_filter: { deny: ["10.0.0.0/8"] },
    cors: { allowed_origins: ["https://app.test"] },
  });
  const preflight = {
    method: "OPTIONS",
    headers: { origin: "https://app.test", "access-control-request-method": "GET" },
  };
  assert.equal((await p.send({ ...preflight, clientIp: "10.1.1.1" })).status, 403);
  assert.equal((await p.send({ ...preflight, clientIp: "192.0.2.1" })).status, 204);
  p.deps.dispose();
});

Deno.test("compileRoutePipeline() lets a CORS preflight past auth, but not a bare OPTIONS", async () => {
  const p = build({ auth_required: true }, { jwt: { secret: SECRET }, cors: { allowed_origins: ["*"] } });
  const preflight = {
    method: "OPTIONS",
    headers: { origin: "https://a.test", "access-control-request-method": "PUT" },
  };
  assert.equal(isPreflight(makeContext(preflight).request), true);
  assert.equal((await p.send(preflight)).status, 204);
  assert.equal((await p.send({ method: "OPTIONS" })).status, 401);
  // An actual cross-origin request that fails auth still carries the CORS headers for the error.
  const failed = await p.send({ headers: { origin: "https://a.test" } });
  assert.equal(failed.status, 401);
  assert.equal(queued(failed.ctx, "access-control-allow-origin"), "*");
  p.deps.dispose();
});

Deno.test("compileRoutePipeline() answers preflights for routes without OPTIONS or CORS with 405", async () => {
  const p = build({ methods: ["GET"] });
  const result = await p.send({
    method: "OPTIONS",
    headers: { origin: "https://a.test", "access-control-request-method": "GET" },
  });
  assert.equal(result.status, 405);
  assert.equal(result.error?.headers?.allow, "GET");
  p.deps.dispose();
});

Deno.test("compileRoutePipeline() limits per user after authentication", async () => {
  const p = build({
    auth_required: true,
    rate_limit: { requests_per_window: 1, window_ms: 60_000, key: "user" },
  }, {
    jwt: { secret: SECRET },
  });
  const alice = await bearer("alice");
  assert.equal((await p.send({ headers: { authorization: alice }, clientIp: "1.1.1.1" })).status, 0);
  assert.equal((await p.send({ headers: { authorization: alice }, clientIp: "2.2.2.2" })).status, 429);
  assert.equal(
    (await p.send({ headers: { authorization: await bearer("bob") }, clientIp: "2.2.2.2" })).status,
    0,
  );
  // An unauthenticated request is refused by auth before it can spend anyone's quota.
  assert.equal((await p.send({ clientIp: "3.3.3.3" })).status, 401);
  p.deps.dispose();
});

Deno.test("compileRoutePipeline() lets a route's cors, ip_filter and security_headers replace the global ones", async () => {
  const p = build(
    {
      ip_filter: { allow: ["10.0.0.0/8"] },
      security_headers: { enabled: false },
      cors: { allowed_origins: ["https://b.test"] },
    },
    { ip_filter: { deny: ["10.0.0.0/8"] }, cors: { allowed_origins: ["https://a.test"] } },
  );
  const ok = await p.send({ clientIp: "10.0.0.1", headers: { origin: "https://b.test" } });
  assert.equal(ok.status, 0);
  assert.equal(queued(ok.ctx, "access-control-allow-origin"), "https://b.test");
  assert.equal(p.pipeline.response.length, 0);
  p.deps.dispose();
});

Deno.test("compileRoutePipeline() applies the route body limit before the global one and transforms last", async () => {
  const p = build({
    max_body_bytes: 4,
    request_transformation: { headers: [{ action: "set", name: "X-Via", value: "kairos" }] },
  }, { server: { max_body_bytes: 1000 } });
  const big = await p.send({ method: "POST", body: "12345", headers: { "content-length": "5" } });
  assert.equal(big.status, 413);
  await big.ctx.request.body?.cancel();
  const small = await p.send({ method: "POST", body: "1234", headers: { "content-length": "4" } });
  assert.equal(small.status, 0);
  assert.equal(small.ctx.upstreamHeaders.get("x-via"), "kairos");
  await small.ctx.request.body?.cancel();
  p.deps.dispose();
});

Deno.test("compileRoutePipeline() adds security headers by default, after the response transformation", async () => {
  const p = build({
    response_transformation: { headers: [{ action: "set", name: "X-Frame-Options", value: "SAMEORIGIN" }] },
  });
  let response = new Response("x");
  for (const stage of p.pipeline.response) response = stage(makeContext(), response);
  assert.equal(response.headers.get("x-frame-options"), "SAMEORIGIN");
  assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  await response.body?.cancel();
  p.deps.dispose();
});

Deno.test("compileRoutePipeline() refuses a protected route with no credential source", () => {
  const deps = makeDeps();
  const r = makeRoute({ auth_required: true });
  assert.throws(
    () => compileRoutePipeline(r, makeConfig({}, [r]), deps),
    (err: unknown) => err instanceof PolicyConfigError && err.path === "routers[0].auth_required",
  );
  deps.dispose();
});
