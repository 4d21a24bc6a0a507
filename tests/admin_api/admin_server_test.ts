import assert from "node:assert/strict";
import { planAdminListener } from "../../src/admin_api/admin_server.ts";
import { adminSchema } from "../../src/config/schema.ts";
import { adminFixture } from "./admin_harness.ts";

const TOKEN = "admin-token-0123456789";

Deno.test("planAdminListener() reads admin settings, lets KAIROS_ADMIN_* win, refuses exposure without a token", async (t) => {
  const admin = (over: Record<string, unknown> = {}) => adminSchema.parse(over);
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  await t.step("defaults", () => {
    assert.deepEqual(planAdminListener(admin(), env({})), {
      host: "127.0.0.1",
      port: 5901,
      envToken: undefined,
    });
  });
  await t.step("environment wins", () => {
    const plan = planAdminListener(
      admin({ host: "127.0.0.1", port: 6000 }),
      env({ KAIROS_ADMIN_HOST: "0.0.0.0", KAIROS_ADMIN_PORT: "7000", KAIROS_ADMIN_TOKEN: TOKEN }),
    );
    assert.deepEqual(plan, { host: "0.0.0.0", port: 7000, envToken: TOKEN });
  });
  await t.step("0.0.0.0 without a token", () => {
    assert.throws(
      () => planAdminListener(admin({ host: "0.0.0.0" }), env({})),
      /Cannot start the admin listener on 0\.0\.0\.0:5901 without a token/,
    );
  });
  await t.step("0.0.0.0 with admin.token", () => {
    assert.equal(planAdminListener(admin({ host: "0.0.0.0", token: TOKEN }), env({})).host, "0.0.0.0");
  });
  await t.step("a short or bad environment value", () => {
    assert.throws(() => planAdminListener(admin(), env({ KAIROS_ADMIN_TOKEN: "short" })), /at least 16/);
    assert.throws(() => planAdminListener(admin(), env({ KAIROS_ADMIN_PORT: "x" })), /KAIROS_ADMIN_PORT/);
  });
});

Deno.test("planAdminListener() reads KAIROS_ADMIN_PORT as digits only, like KAIROS_PORT", async (t) => {
  const plan = (value: string) =>
    planAdminListener(adminSchema.parse({}), (name) => name === "KAIROS_ADMIN_PORT" ? value : undefined);
  for (const [text, port] of [["0", 0], ["80", 80], ["0080", 80], ["65535", 65535]] as const) {
    await t.step(`"${text}" is port ${port}`, () => assert.equal(plan(text).port, port));
  }
  // Number() reads all of these as numbers, so they used to bind somewhere unintended.
  for (const text of ["0x50", "1e3", " 80", "80 ", "+80", "-1", "8.0", "", "65536", "1000000", "80a"]) {
    await t.step(`"${text}" is refused`, () => {
      assert.throws(
        () => plan(text),
        (err: Error) =>
          err instanceof TypeError &&
          err.message ===
            `Cannot start the admin listener as KAIROS_ADMIN_PORT must be a port number 0-65535: current value is "${text}"`,
      );
    });
  }
});

Deno.test("with a token, every admin endpoint but the probes answers 401 to a missing or wrong token", async (t) => {
  await using f = await adminFixture(undefined, { token: TOKEN });
  for (const url of ["/api/routes", "/api/config", "/api/status", "/metrics", "/api/nothing"]) {
    await t.step(url, async () => {
      assert.equal((await f.call("GET", url)).status, 401);
      assert.equal(
        (await f.call("GET", url, undefined, { authorization: "Bearer wrong-token-0123456789" })).status,
        401,
      );
    });
  }
  assert.equal(
    (await f.call("GET", "/api/routes", undefined, { authorization: `Bearer ${TOKEN}` })).status,
    200,
  );
  assert.equal((await f.call("GET", "/health")).status, 200);
  const write = await f.call("POST", "/api/routes", { external_path: "/x" });
  assert.equal(write.status, 401);
  assert.equal(f.store.version, 1);
});

Deno.test("the admin listener serves /health, /ready, /live and /metrics like the main port", async () => {
  await using f = await adminFixture();
  assert.equal((await f.call("GET", "/health")).json.status, "healthy");
  assert.equal((await f.call("GET", "/ready")).json.status, "ready");
  assert.equal((await f.call("GET", "/live")).json.status, "alive");
  const metrics = await f.raw(new Request("http://127.0.0.1/metrics", { headers: { host: "127.0.0.1" } }));
  assert.match(await metrics.text(), /^kairos_requests_total 0$/m);
});

Deno.test("a cross-origin browser request is refused with 403 before it can change anything", async () => {
  await using f = await adminFixture();
  const res = await f.call("DELETE", "/api/routes/static/{*path}", undefined, {
    origin: "https://evil.example",
  });
  assert.equal(res.status, 403);
  assert.match(res.json.message, /cross-origin/);
  assert.equal(f.store.config.routers.length, 2);
});
