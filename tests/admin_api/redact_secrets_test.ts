import assert from "node:assert/strict";
import { REDACTED, redactSecrets, restoreSecrets } from "../../src/admin_api/redact_secrets.ts";

const SECRET = "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t";
const DOC = {
  jwt: { secret: SECRET, issuer: "kairos" },
  jwt_secret: SECRET,
  admin: { token: "admin-token-0123456789", host: "127.0.0.1" },
  routers: [
    {
      external_path: "/a",
      auth: { api_keys: { keys: [{ id: "ci", sha256: "ab".repeat(32) }] } },
      backends: [{ host: "ftp://user:hunter2@files.example", port: 21 }],
      request_transformation: {
        headers: [
          { action: "set", name: "Authorization", value: "Bearer upstream-key" },
          { action: "set", name: "X-Trace", value: "on" },
        ],
      },
    },
    { external_path: "/b", backends: [{ host: "http://127.0.0.1", port: 80 }] },
  ],
};

Deno.test("redactSecrets() hides every secret and keeps everything else", () => {
  const out = redactSecrets(DOC);
  const text = JSON.stringify(out);
  for (const secret of [SECRET, "admin-token-0123456789", "ab".repeat(32), "hunter2", "upstream-key"]) {
    assert.ok(!text.includes(secret), `${secret} leaked`);
  }
  assert.equal(out.jwt.secret, REDACTED);
  assert.equal(out.jwt.issuer, "kairos");
  assert.equal(out.routers[0].backends[0].host, `ftp://user:${REDACTED}@files.example`);
  assert.equal(out.routers[0].request_transformation?.headers[1].value, "on");
  assert.equal(out.admin.host, "127.0.0.1");
});

Deno.test("redactSecrets() shows ${ENV} placeholders, which name a variable rather than hold a secret", () => {
  assert.deepEqual(redactSecrets({ jwt: { secret: "${JWT_SECRET}" } }), { jwt: { secret: "${JWT_SECRET}" } });
  assert.deepEqual(redactSecrets({ jwt: { secret: "x${JWT_SECRET}" } }), { jwt: { secret: REDACTED } });
});

Deno.test("restoreSecrets() puts the real values back, matching routes by external_path", () => {
  const redacted = redactSecrets(DOC);
  redacted.routers.reverse(); // the client reordered the routes
  const { value, unresolved } = restoreSecrets(redacted, [DOC]);
  assert.deepEqual(unresolved, []);
  const restored = value as typeof DOC;
  assert.equal(restored.jwt.secret, SECRET);
  assert.equal(restored.routers[1].backends[0].host, "ftp://user:hunter2@files.example");
  assert.equal(restored.routers[1].auth!.api_keys.keys[0].sha256, "ab".repeat(32));
});

Deno.test("restoreSecrets() tries sources in order and reports placeholders nothing can fill", () => {
  const next = { jwt: { secret: REDACTED }, routers: [{ external_path: "/new", auth: { token: REDACTED } }] };
  const { value, unresolved } = restoreSecrets(next, [{}, { jwt: { secret: "from-second" } }]);
  assert.equal((value as typeof next).jwt.secret, "from-second");
  assert.deepEqual(unresolved, ["routers[0].auth.token"]);
});
