import assert from "node:assert/strict";
import { keepIgnoredKeys, keepUnmodeledKeys, restoreRedacted } from "../../src/admin_api/document_edits.ts";
import { REDACTED } from "../../src/admin_api/redact_secrets.ts";
import { ConfigChangeError } from "../../src/runtime/config_change_error.ts";

Deno.test("keepUnmodeledKeys() carries comments, $schema and unknown sections into a replacement", () => {
  const previous = {
    $schema: "./schema.json",
    _comment: "top",
    future_section: { enabled: true },
    jwt_secret: "dialect spelling, not carried",
    routers: [{ _comment: "users", external_path: "/users" }, { _comment: "gone", external_path: "/old" }],
  };
  const next = {
    version: 1,
    routers: [{ external_path: "/new" }, { external_path: "/users", methods: ["GET"] }],
  };
  assert.deepEqual(keepUnmodeledKeys(next, previous), {
    $schema: "./schema.json",
    _comment: "top",
    version: 1,
    routers: [{ external_path: "/new" }, { _comment: "users", external_path: "/users", methods: ["GET"] }],
    future_section: { enabled: true },
  });
});

Deno.test("keepUnmodeledKeys() lets the replacement's own values win", () => {
  assert.deepEqual(keepUnmodeledKeys({ _comment: "new" }, { _comment: "old" }), { _comment: "new" });
});

Deno.test("restoreRedacted() restores from the file's kairos-rs spelling (jwt_secret → jwt.secret)", () => {
  const restored = restoreRedacted({ jwt: { secret: REDACTED } }, {
    jwt_secret: "${JWT_SECRET}",
    routers: [],
  });
  assert.deepEqual(restored, { jwt: { secret: "${JWT_SECRET}" } });
});

Deno.test("restoreRedacted() refuses a placeholder with nothing to restore, with 400 and the path", () => {
  assert.throws(
    () => restoreRedacted({ admin: { token: REDACTED } }, { admin: {} }),
    (err) => err instanceof ConfigChangeError && err.status === 400 && err.errors[0].path === "admin.token",
  );
});

Deno.test("keepIgnoredKeys() carries only comments, not fields the replacement left out", () => {
  assert.deepEqual(
    keepIgnoredKeys({ external_path: "/a" }, { _comment: "c", external_path: "/a", timeout_ms: 5 }),
    { _comment: "c", external_path: "/a" },
  );
});
