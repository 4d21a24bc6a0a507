import assert from "node:assert/strict";
import { createClientIpResolver } from "../../src/proxy/client_ip.ts";

Deno.test("createClientIpResolver() believes X-Forwarded-For only from trusted proxies", async (t) => {
  const resolve = createClientIpResolver(["10.0.0.0/8", "::1/128"]);
  const cases: Array<[string, string, string | null, string, boolean]> = [
    ["an untrusted peer is the client whatever it claims", "203.0.113.5", "1.1.1.1", "203.0.113.5", false],
    ["a trusted peer without the header is the client", "10.1.2.3", null, "10.1.2.3", true],
    ["a trusted peer's header names the client", "10.1.2.3", "198.51.100.7", "198.51.100.7", true],
    ["trusted hops are skipped from the right", "10.1.2.3", "198.51.100.7, 10.9.9.9", "198.51.100.7", true],
    ["a spoofed left entry is not believed", "10.1.2.3", "6.6.6.6, 198.51.100.7", "198.51.100.7", true],
    ["IPv6 loopback is trusted", "::1", "2001:db8::1", "2001:db8::1", true],
    [
      "all-trusted chains fall back to the left-most entry",
      "10.1.2.3",
      "10.0.0.1, 10.0.0.2",
      "10.0.0.1",
      true,
    ],
  ];
  for (const [name, peer, xff, client, trusted] of cases) {
    await t.step(name, () => {
      assert.deepEqual(resolve(peer, xff), { clientIp: client, peerTrusted: trusted });
    });
  }
});

Deno.test("createClientIpResolver() rejects an invalid CIDR", () => {
  assert.throws(() => createClientIpResolver(["10.0.0.0/99"]), /Cannot trust proxy "10.0.0.0\/99"/);
});
