/**
 * Whole-process admin listener: route CRUD answers at once and survives a restart, token auth, the
 * refusal to expose an unauthenticated listener, and no secret in any GET.
 */
import assert from "node:assert/strict";
import { fetchText, routeConfig, runKairos, startBackend, startGateway } from "./harness.ts";

const TOKEN = "admin-token-0123456789-abcdef";
const JWT_SECRET = "jwt-secret-from-env-0123456789-0123456789";
const KEY_HASH = "cd".repeat(32);

function json(body: unknown, headers: Record<string, string> = {}): RequestInit {
  return { headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) };
}

Deno.test("a route created through the admin API answers at once, and after a restart from the saved file", async () => {
  await using users = startBackend((req) => new Response(`users ${new URL(req.url).pathname}`));
  await using orders = startBackend((req) => new Response(`orders ${new URL(req.url).pathname}`));
  const config = { _comment: "kept", ...routeConfig([users]) };
  let configPath: string;
  {
    await using gw = await startGateway(config, { admin: true });
    configPath = gw.configPath;
    assert.equal((await fetchText(`${gw.url}/orders/7`)).status, 404);
    const created = await fetchText(`${gw.adminUrl}/api/routes`, {
      method: "POST",
      ...json({
        external_path: "/orders/{id}",
        internal_path: "/v2/orders/{id}",
        methods: ["GET"],
        backends: [{ host: orders.host, port: orders.port }],
      }),
    });
    assert.equal(created.status, 201, created.body);
    assert.equal(JSON.parse(created.body).persisted, true);
    // Routable at once: no restart, no reload call.
    assert.deepEqual(await fetchText(`${gw.url}/orders/7`).then((r) => [r.status, r.body]), [
      200,
      "orders /v2/orders/7",
    ]);
    const updated = await fetchText(`${gw.adminUrl}/api/routes/orders/{id}`, {
      method: "PUT",
      ...json({
        external_path: "/orders/{id}",
        internal_path: "/v3/orders/{id}",
        methods: ["GET"],
        backends: [{ host: orders.host, port: orders.port }],
      }),
    });
    assert.equal(updated.status, 200, updated.body);
    assert.equal((await fetchText(`${gw.url}/orders/7`)).body, "orders /v3/orders/7");
    const deleted = await fetchText(`${gw.adminUrl}/api/routes/api/{*rest}`, { method: "DELETE" });
    assert.equal(deleted.status, 200, deleted.body);
    assert.equal((await fetchText(`${gw.url}/api/x`)).status, 404);
    await gw.waitForOutput(/"msg":"config change".*"action":"route.delete"/);
    assert.equal(await gw.stop(), 0);
  }
  const saved = JSON.parse(await Deno.readTextFile(configPath));
  assert.equal(saved._comment, "kept");
  await using again = await startGateway(undefined, { configPath, admin: true });
  assert.equal((await fetchText(`${again.url}/orders/7`)).body, "orders /v3/orders/7");
  assert.equal((await fetchText(`${again.url}/api/x`)).status, 404);
});

Deno.test("the admin listener answers 401 to a missing or wrong token and serves the right one", async () => {
  await using backend = startBackend(() => new Response("ok"));
  await using gw = await startGateway(routeConfig([backend]), {
    admin: true,
    env: { KAIROS_ADMIN_TOKEN: TOKEN },
  });
  const missing = await fetchText(`${gw.adminUrl}/api/routes`);
  assert.equal(missing.status, 401);
  assert.match(missing.headers.get("www-authenticate") ?? "", /^Bearer/);
  const wrong = await fetchText(`${gw.adminUrl}/api/routes`, {
    headers: { authorization: `Bearer ${TOKEN}x` },
  });
  assert.equal(wrong.status, 401);
  const write = await fetchText(`${gw.adminUrl}/api/routes/api/{*rest}`, { method: "DELETE" });
  assert.equal(write.status, 401);
  const right = await fetchText(`${gw.adminUrl}/api/routes`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.equal(right.status, 200);
  assert.equal((await fetchText(`${gw.url}/api/x`)).body, "ok", "the unauthorised DELETE changed nothing");
});

Deno.test("the gateway refuses to start with the admin listener on 0.0.0.0 and no token", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/config.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify(routeConfig([{ port: 9 }], {}, { admin: { enabled: true } })),
    );
    const out = await runKairos(
      ["serve", "-c", path, "--host", "127.0.0.1", "--port", "0"],
      { KAIROS_ADMIN_HOST: "0.0.0.0", KAIROS_ADMIN_PORT: "0" },
    );
    assert.equal(out.code, 1);
    assert.match(out.stderr, /Cannot start the admin listener on 0\.0\.0\.0:0 without a token/);
    assert.match(out.stderr, /admin\.token or KAIROS_ADMIN_TOKEN/);
    assert.doesNotMatch(out.stdout, /"msg":"listening"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("no GET on either listener returns a secret, whether from the file or the environment", async () => {
  await using backend = startBackend(() => new Response("ok"));
  const config = routeConfig([backend], {
    auth: { api_keys: { keys: [{ id: "ci", sha256: KEY_HASH }] } },
  }, { admin: { enabled: true, token: TOKEN }, jwt: { secret: "${TEST_JWT_SECRET}" } });
  await using gw = await startGateway(config, { admin: true, env: { TEST_JWT_SECRET: JWT_SECRET } });
  const auth = { headers: { authorization: `Bearer ${TOKEN}` } };
  const urls = [
    "/api/routes",
    "/api/routes/api/{*rest}",
    "/api/config",
    "/api/config?view=file",
    "/api/config/status",
    "/api/status",
    "/api/metrics/list",
    "/api/metrics/history?name=requests_total",
    "/metrics",
    "/health",
  ].map((u) => `${gw.adminUrl}${u}`);
  urls.push(`${gw.url}/metrics`, `${gw.url}/health`);
  for (const url of urls) {
    const res = await fetchText(url, auth);
    assert.equal(res.status, 200, url);
    for (const secret of [TOKEN, JWT_SECRET, KEY_HASH]) {
      assert.ok(!res.body.includes(secret), `${url} leaks ${secret}`);
    }
  }
  // The file view shows the placeholder, which names the variable, not its value.
  const file = JSON.parse((await fetchText(`${gw.adminUrl}/api/config?view=file`, auth)).body);
  assert.equal(file.jwt.secret, "${TEST_JWT_SECRET}");
  assert.ok(!gw.output().includes(TOKEN), "the token is not logged either");
});

Deno.test("/ws/metrics streams Snapshots over the admin listener, with the token as access_token", async () => {
  await using backend = startBackend(() => new Response("ok"));
  await using gw = await startGateway(routeConfig([backend]), {
    admin: true,
    env: { KAIROS_ADMIN_TOKEN: TOKEN },
  });
  await fetchText(`${gw.url}/api/x`);
  const refused = await fetchText(`${gw.adminUrl}/ws/metrics`, { headers: { upgrade: "websocket" } });
  assert.equal(refused.status, 401);
  const ws = new WebSocket(`${gw.adminUrl.replace("http", "ws")}/ws/metrics?access_token=${TOKEN}`);
  const closed = new Promise((resolve) => ws.onclose = resolve);
  try {
    const first = await new Promise<Record<string, unknown>>((resolve, reject) => {
      ws.onmessage = (e) => resolve(JSON.parse(e.data));
      ws.onerror = () => reject(new Error("WebSocket failed"));
    });
    assert.equal(first.type, "Snapshot");
    assert.equal(first.requests_total, 1);
  } finally {
    ws.close();
    await closed;
  }
});
