import assert from "node:assert/strict";
import { AdminAuth, isLoopbackHost } from "../../src/admin_api/admin_auth.ts";
import { ApiError } from "../../src/admin_api/api_error.ts";

const TOKEN = "correct-horse-battery-staple";

function auth(token: string | undefined, allowedOrigins: string[] = []) {
  return new AdminAuth({ token: () => token, allowedOrigins: () => allowedOrigins, listenHost: "127.0.0.1" });
}

function req(headers: Record<string, string>, path = "/api/routes"): Request {
  return new Request(`http://127.0.0.1:5901${path}`, { headers: { host: "127.0.0.1:5901", ...headers } });
}

async function status(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 200;
  } catch (err) {
    assert.ok(err instanceof ApiError, String(err));
    return err.status;
  }
}

Deno.test("AdminAuth accepts the right bearer token and refuses a missing or wrong one with 401", async (t) => {
  const a = auth(TOKEN);
  for (
    const [name, headers, expected] of [
      ["right token", { authorization: `Bearer ${TOKEN}` }, 200],
      ["scheme in lower case", { authorization: `bearer ${TOKEN}` }, 200],
      ["no header", {}, 401],
      ["wrong token", { authorization: "Bearer correct-horse-battery-stapl" }, 401],
      ["longer token", { authorization: `Bearer ${TOKEN}x` }, 401],
      ["empty token", { authorization: "Bearer " }, 401],
      ["basic auth", { authorization: `Basic ${btoa(`admin:${TOKEN}`)}` }, 401],
    ] as const
  ) {
    await t.step(
      name,
      async () => assert.equal(await status(a.check(req(headers), "/api/routes", "127.0.0.1")), expected),
    );
  }
});

Deno.test("AdminAuth names the caller by a token id, never the token", async () => {
  const caller = await auth(TOKEN).check(
    req({ authorization: `Bearer ${TOKEN}` }),
    "/api/routes",
    "10.0.0.7",
  );
  assert.match(caller.id, /^token:[0-9a-f]{8}$/);
  assert.equal(caller.address, "10.0.0.7");
});

Deno.test("AdminAuth sends WWW-Authenticate with a 401 (RFC 6750 §3)", async () => {
  await assert.rejects(auth(TOKEN).check(req({}), "/api/routes", "127.0.0.1"), (err) => {
    assert.ok(err instanceof ApiError);
    assert.match(err.headers["www-authenticate"], /^Bearer /);
    return true;
  });
});

Deno.test("AdminAuth takes ?access_token only where the caller passes it, and leaves probes open", async () => {
  const a = auth(TOKEN);
  assert.equal(await status(a.check(req({}), "/ws/metrics", "127.0.0.1", TOKEN)), 200);
  assert.equal(await status(a.check(req({}), "/ws/metrics", "127.0.0.1", "nope")), 401);
  assert.equal(await status(a.check(req({}, "/health"), "/health", "127.0.0.1")), 200);
  assert.equal(await status(a.check(req({}, "/metrics"), "/metrics", "127.0.0.1")), 401);
});

Deno.test("AdminAuth refuses a foreign Origin with 403, with or without a token", async (t) => {
  for (
    const [name, token, origin, allowed, expected] of [
      ["foreign, no token", undefined, "https://evil.example", [], 403],
      ["foreign, with token", TOKEN, "https://evil.example", [], 403],
      ["null origin", undefined, "null", [], 403],
      ["own origin", undefined, "http://127.0.0.1:5901", [], 200],
      ["allowed origin", undefined, "https://ops.example", ["https://ops.example"], 200],
    ] as const
  ) {
    await t.step(name, async () => {
      const headers: Record<string, string> = { origin };
      if (token) headers.authorization = `Bearer ${token}`;
      assert.equal(
        await status(auth(token, [...allowed]).check(req(headers), "/api/routes", "127.0.0.1")),
        expected,
      );
    });
  }
});

Deno.test("AdminAuth without a token refuses a Host that is not this machine (DNS rebinding)", async () => {
  const a = auth(undefined);
  assert.equal(await status(a.check(req({ host: "evil.example:5901" }), "/api/routes", "127.0.0.1")), 403);
  assert.equal(await status(a.check(req({ host: "localhost:5901" }), "/api/routes", "127.0.0.1")), 200);
  assert.equal(await status(a.check(req({ host: "[::1]:5901" }), "/api/routes", "127.0.0.1")), 200);
  // With a token the Host is not checked: the token is what protects the listener.
  const t = auth(TOKEN);
  const headers = { host: "gw.example:5901", authorization: `Bearer ${TOKEN}` };
  assert.equal(await status(t.check(req(headers), "/api/routes", "10.0.0.1")), 200);
});

Deno.test("isLoopbackHost() tells loopback addresses from the rest", async (t) => {
  for (
    const [host, expected] of [
      ["127.0.0.1", true],
      ["127.1.2.3", true],
      ["localhost", true],
      ["::1", true],
      ["[::1]", true],
      ["0.0.0.0", false],
      ["::", false],
      ["10.0.0.1", false],
      ["example.com", false],
    ] as const
  ) {
    await t.step(host, () => assert.equal(isLoopbackHost(host), expected));
  }
});
