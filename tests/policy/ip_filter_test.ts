import assert from "node:assert/strict";
import { ipFilterSchema } from "../../src/config/policy_schema.ts";
import { compileIpFilter } from "../../src/policy/ip_filter.ts";
import { PolicyConfigError } from "../../src/policy/policy_config_error.ts";
import { GatewayError } from "../../src/proxy/gateway_error.ts";
import { makeContext } from "./context_fixture.ts";

function allowed(filter: unknown, clientIp: string): boolean {
  const stage = compileIpFilter(ipFilterSchema.parse(filter), "ip_filter")!;
  try {
    stage(makeContext({ clientIp }));
    return true;
  } catch (err) {
    assert.ok(err instanceof GatewayError);
    assert.equal(err.status, 403);
    assert.equal(err.type, "forbidden");
    return false;
  }
}

Deno.test("compileIpFilter() lets deny win and makes a non-empty allow list default-deny", async (t) => {
  const cases: Array<[string, unknown, string, boolean]> = [
    ["deny list blocks a match", { deny: ["10.0.0.0/8"] }, "10.1.2.3", false],
    ["deny list lets others in", { deny: ["10.0.0.0/8"] }, "192.168.1.1", true],
    ["allow list admits a match", { allow: ["192.168.0.0/16"] }, "192.168.4.5", true],
    ["allow list refuses the rest", { allow: ["192.168.0.0/16"] }, "8.8.8.8", false],
    ["deny beats allow", { allow: ["10.0.0.0/8"], deny: ["10.0.0.5"] }, "10.0.0.5", false],
    ["IPv6 CIDR", { allow: ["2001:db8::/32"] }, "2001:db8:1::7", true],
    ["IPv6 outside", { allow: ["2001:db8::/32"] }, "2001:db9::1", false],
    [
      "IPv4-mapped IPv6 client matches an IPv4 block",
      { deny: ["203.0.113.0/24"] },
      "::ffff:203.0.113.9",
      false,
    ],
    ["IPv6 zone id is ignored", { allow: ["fe80::/10"] }, "fe80::1%eth0", true],
    ["unparseable client address is refused", { deny: ["10.0.0.0/8"] }, "not-an-ip", false],
  ];
  for (const [name, filter, ip, expected] of cases) {
    await t.step(name, () => assert.equal(allowed(filter, ip), expected));
  }
});

Deno.test("compileIpFilter() is absent for empty lists and rejects bad entries at their path", () => {
  assert.equal(compileIpFilter(ipFilterSchema.parse({}), "ip_filter"), undefined);
  assert.throws(
    () =>
      compileIpFilter(ipFilterSchema.parse({ deny: ["10.0.0.0/8", "10.0.0.0/33"] }), "routers[1].ip_filter"),
    (err: unknown) => err instanceof PolicyConfigError && err.path === "routers[1].ip_filter.deny[1]",
  );
});
