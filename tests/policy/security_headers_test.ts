import assert from "node:assert/strict";
import { securityHeadersSchema } from "../../src/config/policy_schema.ts";
import { compileSecurityHeaders, DEFAULT_SECURITY_HEADERS } from "../../src/policy/security_headers.ts";
import { makeContext } from "./context_fixture.ts";

Deno.test("compileSecurityHeaders() adds kairos-rs's seven headers by default", () => {
  const out = compileSecurityHeaders(undefined)!(makeContext(), new Response(null));
  assert.equal(Object.keys(DEFAULT_SECURITY_HEADERS).length, 7);
  for (const [name, value] of Object.entries(DEFAULT_SECURITY_HEADERS)) {
    assert.equal(out.headers.get(name), value);
  }
  assert.equal(out.headers.get("strict-transport-security"), "max-age=31536000; includeSubDomains");
});

Deno.test("compileSecurityHeaders() never overwrites a header the backend set", () => {
  const backend = new Response(null, { headers: { "content-security-policy": "default-src *" } });
  const out = compileSecurityHeaders(undefined)!(makeContext(), backend);
  assert.equal(out.headers.get("content-security-policy"), "default-src *");
  assert.equal(out.headers.get("x-frame-options"), "DENY");
});

Deno.test("compileSecurityHeaders() honours overrides, removals and the switch", async (t) => {
  await t.step("override and remove", () => {
    const config = securityHeadersSchema.parse({
      headers: { "X-Frame-Options": "SAMEORIGIN", "Strict-Transport-Security": "", "X-Extra": "1" },
    });
    const out = compileSecurityHeaders(config)!(makeContext(), new Response(null));
    assert.equal(out.headers.get("x-frame-options"), "SAMEORIGIN");
    assert.equal(out.headers.has("strict-transport-security"), false);
    assert.equal(out.headers.get("x-extra"), "1");
  });
  await t.step("disabled", () => {
    assert.equal(compileSecurityHeaders(securityHeadersSchema.parse({ enabled: false })), undefined);
  });
});
