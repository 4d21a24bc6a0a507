/**
 * Whole-process transformations and security headers: request header/path/query actions reaching a
 * real backend, response header actions and conditional status mappings, and kairos-rs's security
 * headers (on by default, never overwriting the backend's, switchable per route).
 */
import assert from "node:assert/strict";
import { fetchText, runKairos, startBackend, startGateway } from "./harness.ts";

Deno.test("gateway transforms requests and responses and adds security headers", async (t) => {
  await using backend = startBackend((req) => {
    const url = new URL(req.url);
    if (url.pathname.includes("/missing")) return new Response("nope", { status: 404 });
    return Response.json(
      { path: url.pathname, query: url.search, headers: Object.fromEntries(req.headers) },
      { headers: { server: "backend/1.0", "x-frame-options": "SAMEORIGIN", "x-version": "v1.2.3" } },
    );
  });
  const b = [{ host: backend.host, port: backend.port }];
  await using gw = await startGateway({
    version: 1,
    routers: [
      {
        external_path: "/api/{*rest}",
        internal_path: "/v1/{rest}",
        methods: ["GET", "HEAD"],
        backends: b,
        request_transformation: {
          headers: [
            { action: "add", name: "X-Gateway", value: "kairos" },
            { action: "add", name: "X-Tenant", value: "default" },
            { action: "set", name: "X-Env", value: "prod" },
            { action: "remove", name: "X-Internal" },
            {
              action: "replace",
              name: "User-Agent",
              pattern: "^curl/(.*)$",
              replacement: "curl-via-kairos/$1",
            },
          ],
          path: { pattern: "^/v1/legacy/(.*)$", replacement: "/v2/$1" },
          query_params: [
            { action: "add", name: "source", value: "gateway" },
            { action: "set", name: "limit", value: "10" },
            { action: "remove", name: "debug" },
          ],
        },
        response_transformation: {
          headers: [
            { action: "remove", name: "Server" },
            { action: "set", name: "X-Served-By", value: "kairos" },
            { action: "replace", name: "X-Version", pattern: "v(\\d+)\\..*", replacement: "major-$1" },
          ],
          status_code_mappings: [
            { from: 404, to: 410, condition: 'path ~ "^/api/missing/old" && method == "GET"' },
            { from: 404, to: 200, condition: 'header.x-soft-404 == "1"' },
          ],
        },
      },
      {
        external_path: "/plain",
        internal_path: "/plain",
        methods: ["GET"],
        backends: b,
        security_headers: { enabled: false },
      },
      {
        external_path: "/custom",
        internal_path: "/custom",
        methods: ["GET"],
        backends: b,
        security_headers: {
          headers: { "Content-Security-Policy": "default-src 'none'", "X-XSS-Protection": "" },
        },
      },
    ],
  });

  await t.step("request header, path and query actions reach the backend", async () => {
    const res = await fetchText(`${gw.url}/api/legacy/items?debug=1&limit=500&page=2`, {
      headers: { "x-tenant": "acme", "x-env": "dev", "x-internal": "secret", "user-agent": "curl/8.5.0" },
    });
    assert.equal(res.status, 200);
    const seen = JSON.parse(res.body);
    assert.equal(seen.path, "/v2/items");
    const query = new URLSearchParams(seen.query);
    assert.equal(query.get("source"), "gateway");
    assert.equal(query.get("limit"), "10");
    assert.equal(query.get("page"), "2");
    assert.equal(query.has("debug"), false);
    assert.equal(seen.headers["x-gateway"], "kairos");
    assert.equal(seen.headers["x-tenant"], "acme");
    assert.equal(seen.headers["x-env"], "prod");
    assert.equal(seen.headers["x-internal"], undefined);
    assert.equal(seen.headers["user-agent"], "curl-via-kairos/8.5.0");
  });

  await t.step("response header actions apply to the backend's response", async () => {
    const res = await fetchText(`${gw.url}/api/items`);
    assert.equal(res.headers.has("server"), false);
    assert.equal(res.headers.get("x-served-by"), "kairos");
    assert.equal(res.headers.get("x-version"), "major-1");
  });

  await t.step("status mappings follow their conditions", async () => {
    assert.equal((await fetchText(`${gw.url}/api/missing/old/1`)).status, 410);
    assert.equal((await fetchText(`${gw.url}/api/missing/new`)).status, 404);
    assert.equal(
      (await fetchText(`${gw.url}/api/missing/new`, { headers: { "x-soft-404": "1" } })).status,
      200,
    );
    assert.equal((await fetchText(`${gw.url}/api/missing/old/1`, { method: "HEAD" })).status, 404);
  });

  await t.step("security headers are added by default without overwriting the backend's", async () => {
    const res = await fetchText(`${gw.url}/api/items`);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.equal(res.headers.get("strict-transport-security"), "max-age=31536000; includeSubDomains");
    assert.equal(res.headers.get("content-security-policy"), "default-src 'self'");
    assert.equal(res.headers.get("referrer-policy"), "strict-origin-when-cross-origin");
    assert.equal(res.headers.get("permissions-policy"), "geolocation=(), microphone=(), camera=()");
    assert.equal(res.headers.get("x-xss-protection"), "1; mode=block");
    assert.equal(res.headers.get("x-frame-options"), "SAMEORIGIN");
  });

  await t.step("a route can switch security headers off or change them", async () => {
    const plain = await fetchText(`${gw.url}/plain`);
    assert.equal(plain.headers.has("x-content-type-options"), false);
    assert.equal(plain.headers.has("content-security-policy"), false);
    const custom = await fetchText(`${gw.url}/custom`);
    assert.equal(custom.headers.get("content-security-policy"), "default-src 'none'");
    assert.equal(custom.headers.has("x-xss-protection"), false);
    assert.equal(custom.headers.get("x-content-type-options"), "nosniff");
  });
});

Deno.test("gateway refuses a config whose transformation could inject headers or does not compile", async (t) => {
  const route = (extra: Record<string, unknown>) => ({
    version: 1,
    routers: [{
      external_path: "/x",
      internal_path: "/x",
      methods: ["GET"],
      backends: [{ host: "http://127.0.0.1", port: 1 }],
      ...extra,
    }],
  });
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    [
      "CR/LF in a header value",
      { request_transformation: { headers: [{ action: "set", name: "X-A", value: "a\r\nX-Injected: 1" }] } },
      /request_transformation\.headers\[0\]\.value/,
    ],
    [
      "an invalid regex",
      { request_transformation: { path: { pattern: "([", replacement: "" } } },
      /request_transformation\.path\.pattern/,
    ],
    [
      "an invalid condition",
      {
        response_transformation: {
          status_code_mappings: [{ from: 404, to: 200, condition: "method = GET" }],
        },
      },
      /status_code_mappings\[0\]\.condition/,
    ],
  ];
  for (const [name, extra, path] of cases) {
    await t.step(name, async () => {
      const dir = await Deno.makeTempDir();
      try {
        const file = `${dir}/config.json`;
        await Deno.writeTextFile(file, JSON.stringify(route(extra)));
        const out = await runKairos(["validate", "-c", file]);
        const text = out.stdout + out.stderr;
        assert.notEqual(out.code, 0, text);
        assert.match(text, path);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  }
});

for (const client of ["http1", "fetch"] as const) {
  Deno.test(`70 custom security headers: each is added unless the backend sent it (${client})`, async () => {
    // The backend sends ten of them: a bit-per-header record would wrap around past 32 and skip others.
    const sent: Record<string, string> = {};
    for (let i = 0; i < 10; i++) sent[`x-custom-${i}`] = "backend";
    await using backend = startBackend(() => new Response("ok", { headers: sent }));
    const headers: Record<string, string> = {};
    for (let i = 0; i < 70; i++) headers[`X-Custom-${i}`] = "gateway";
    await using gw = await startGateway({
      version: 1,
      server: { upstream_client: client },
      routers: [{
        external_path: "/many",
        internal_path: "/many",
        methods: ["GET"],
        backends: [{ host: backend.host, port: backend.port }],
        security_headers: { headers },
      }],
    });
    const res = await fetchText(`${gw.url}/many`);
    assert.equal(res.status, 200);
    for (let i = 0; i < 70; i++) {
      assert.equal(res.headers.get(`x-custom-${i}`), i < 10 ? "backend" : "gateway", `x-custom-${i}`);
    }
    assert.equal(res.headers.get("x-frame-options"), "DENY");
  });
}

Deno.test("a backtracking pattern meeting a hostile header does not stall the gateway run as `deno task start` runs it", async () => {
  // The V8 flags of the start task (shipped_v8_flags_test.ts checks that every other way of starting Kairos
  // carries the same ones), passed the way Deno reads them.
  const tasks = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url))).tasks;
  const v8Flags = /--v8-flags=(\S+)/.exec(tasks.start)?.[1];
  assert.ok(v8Flags?.includes("--enable-experimental-regexp-engine-on-excessive-backtracks"), tasks.start);
  await using backend = startBackend((req) => Response.json({ probe: req.headers.get("x-probe") }));
  await using gw = await startGateway({
    version: 1,
    routers: [{
      external_path: "/echo",
      internal_path: "/echo",
      methods: ["GET"],
      backends: [{ host: backend.host, port: backend.port }],
      request_transformation: {
        headers: [{ action: "replace", name: "X-Probe", pattern: "^(\\w+\\s?)*$", replacement: "matched" }],
      },
    }],
  }, { env: { DENO_V8_FLAGS: v8Flags! } });
  // 29 word characters and a mismatch: seconds of backtracking without the flag (26 took 0.3 s, each one more
  // doubles it), about 1 ms with it.
  const started = performance.now();
  const res = await fetchText(`${gw.url}/echo`, { headers: { "x-probe": "a".repeat(29) + "!" } });
  const took = performance.now() - started;
  assert.equal(res.status, 200);
  assert.equal(JSON.parse(res.body).probe, "a".repeat(29) + "!");
  assert.ok(took < 500, `answered after ${took.toFixed(0)} ms`);
});
