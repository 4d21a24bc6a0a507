import assert from "node:assert/strict";
import { compileHostRouter, hostName } from "../../src/routing/host_router.ts";

const router = compileHostRouter([
  { pattern: "/api/{*rest}", methods: ["GET"], value: "any-host api" },
  { pattern: "/shared", methods: ["GET"], value: "any-host shared" },
  { pattern: "/api/{*rest}", methods: ["GET"], hosts: ["API.example.com"], value: "api.example.com" },
  { pattern: "/api/{*rest}", methods: ["GET"], hosts: ["*.example.com"], value: "*.example.com" },
  { pattern: "/api/{*rest}", methods: ["GET"], hosts: ["*.eu.example.com"], value: "*.eu.example.com" },
  { pattern: "/admin", methods: ["POST"], hosts: ["ops.example.org", "ops2.example.org."], value: "ops" },
]);

function matched(host: string | null, method: string, path: string): string {
  const result = router.match(host, method, path);
  return result.kind === "found" ? result.value : result.kind;
}

Deno.test("hostName() drops the port and a trailing dot and lowercases only when needed", () => {
  assert.equal(hostName("API.Example.com:8443"), "api.example.com");
  assert.equal(hostName("example.com."), "example.com");
  assert.equal(hostName("example.com.:80"), "example.com");
  assert.equal(hostName("[::1]:80"), "[::1]");
  assert.equal(hostName("[::1]"), "[::1]");
  assert.equal(hostName("10.0.0.1:80"), "10.0.0.1");
});

Deno.test("a route that names hosts answers only them; host-less routes answer every host", async (t) => {
  await t.step("exact name (any case, any port) beats a wildcard and the host-less route", () => {
    assert.equal(matched("api.example.com", "GET", "/api/x"), "api.example.com");
    assert.equal(matched("Api.Example.COM:8443", "GET", "/api/x"), "api.example.com");
  });
  await t.step("the longest wildcard covering the name wins, at any depth, never for the apex", () => {
    assert.equal(matched("www.example.com", "GET", "/api/x"), "*.example.com");
    assert.equal(matched("a.b.example.com", "GET", "/api/x"), "*.example.com");
    assert.equal(matched("fr.eu.example.com", "GET", "/api/x"), "*.eu.example.com");
    assert.equal(matched("example.com", "GET", "/api/x"), "any-host api");
  });
  await t.step("other hosts, and requests without a host, get the host-less routes", () => {
    assert.equal(matched("other.test", "GET", "/api/x"), "any-host api");
    assert.equal(matched(null, "GET", "/api/x"), "any-host api");
  });
  await t.step("a path the host's routes lack falls through to the host-less routes", () => {
    assert.equal(matched("api.example.com", "GET", "/shared"), "any-host shared");
  });
  await t.step("a host's path with another method is 405 unless a host-less route takes it", () => {
    const result = router.match("ops.example.org", "GET", "/admin");
    assert.equal(result.kind, "method_not_allowed");
    assert.equal(result.kind === "method_not_allowed" && result.allow, "POST");
    assert.equal(matched("ops2.example.org", "POST", "/admin"), "ops");
    assert.equal(matched("elsewhere.test", "POST", "/admin"), "not_found");
  });
});

Deno.test("without hosts in the config the router is the path table and ignores the host", () => {
  const plain = compileHostRouter([{ pattern: "/a", methods: ["GET"], value: "a" }]);
  const result = plain.match("whatever.test", "GET", "/a");
  assert.equal(result.kind === "found" && result.value, "a");
  assert.equal(plain.size, 1);
});
