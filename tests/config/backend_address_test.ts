import assert from "node:assert/strict";
import { type BackendAddress, backendKey, parseBackendHost } from "../../src/config/backend_address.ts";
import type { Protocol } from "../../src/config/schema.ts";

Deno.test("parseBackendHost() splits accepted hosts per protocol", async (t) => {
  const cases: [string, number, Protocol, BackendAddress][] = [
    ["http://a", 80, "http", { scheme: "http", hostname: "a", port: 80, authority: "a:80" }],
    ["HTTPS://API.Example.com", 443, "http", {
      scheme: "https",
      hostname: "api.example.com",
      port: 443,
      authority: "api.example.com:443",
    }],
    ["http://app_http", 80, "http", {
      scheme: "http",
      hostname: "app_http",
      port: 80,
      authority: "app_http:80",
    }],
    ["http://a:8080", 8080, "http", { scheme: "http", hostname: "a", port: 8080, authority: "a:8080" }],
    ["http://[::1]", 8080, "http", { scheme: "http", hostname: "::1", port: 8080, authority: "[::1]:8080" }],
    ["http://[::1]:8080", 8080, "http", {
      scheme: "http",
      hostname: "::1",
      port: 8080,
      authority: "[::1]:8080",
    }],
    ["http://10.0.0.5", 1, "http", {
      scheme: "http",
      hostname: "10.0.0.5",
      port: 1,
      authority: "10.0.0.5:1",
    }],
    ["wss://chat", 443, "websocket", { scheme: "wss", hostname: "chat", port: 443, authority: "chat:443" }],
    ["http://chat", 80, "websocket", { scheme: "http", hostname: "chat", port: 80, authority: "chat:80" }],
    ["ftp://ftp.example.com", 21, "ftp", {
      scheme: "ftp",
      hostname: "ftp.example.com",
      port: 21,
      authority: "ftp.example.com:21",
    }],
    ["ftps://f", 990, "ftp", { scheme: "ftps", hostname: "f", port: 990, authority: "f:990" }],
    ["files", 21, "ftp", { scheme: "ftp", hostname: "files", port: 21, authority: "files:21" }],
    ["8.8.8.8", 53, "dns", { scheme: "dns", hostname: "8.8.8.8", port: 53, authority: "8.8.8.8:53" }],
    ["2001:4860::8888", 53, "dns", {
      scheme: "dns",
      hostname: "2001:4860::8888",
      port: 53,
      authority: "[2001:4860::8888]:53",
    }],
    ["tcp://1.1.1.1", 53, "dns", { scheme: "tcp", hostname: "1.1.1.1", port: 53, authority: "1.1.1.1:53" }],
  ];
  for (const [host, port, protocol, expected] of cases) {
    await t.step(
      `${protocol} ${host}`,
      () => assert.deepEqual(parseBackendHost(host, port, protocol), expected),
    );
  }
});

Deno.test("parseBackendHost() explains rejected hosts", async (t) => {
  const cases: [string, number, Protocol, RegExp][] = [
    ["ws://a", 1, "http", /http route must start with http:\/\/, https:\/\//],
    ["a.example", 1, "http", /must start with/],
    ["dns://a", 1, "websocket", /must start with ws:\/\//],
    ["http://a", 21, "ftp", /ftp route/],
    ["http://a", 53, "dns", /dns route/],
    ["http://a/x", 1, "http", /put the path in internal_path/],
    ["http://a?x=1", 1, "http", /put the path in internal_path/],
    ["http://a:1", 2, "http", /names port 1 but port is 2; drop the port from host/],
    ["http://a:0", 0, "http", /invalid port/],
    ["http://a:x", 1, "http", /invalid port/],
    ["http://user:pw@a", 1, "http", /credentials/],
    ["http://::1", 1, "http", /without brackets/],
    ["http://[::1", 1, "http", /invalid IPv6/],
    ["http://[1.2.3.4]", 1, "http", /invalid IPv6/],
    ["http://[::1]x", 1, "http", /text after/],
    ["http://", 1, "http", /no hostname/],
    ["http://300.1.1.1", 1, "http", /invalid IPv4/],
    ["http://-bad-", 1, "http", /invalid hostname/],
    ["http://a b", 1, "http", /invalid hostname/],
  ];
  for (const [host, port, protocol, message] of cases) {
    await t.step(`${protocol} ${host}`, () => {
      const result = parseBackendHost(host, port, protocol);
      assert.equal(typeof result, "string");
      assert.match(result as string, message);
    });
  }
});

Deno.test("backendKey() shares ws/wss state with http/https and keeps ftp and dns apart", () => {
  const key = (host: string, port: number, protocol: "http" | "websocket" | "ftp" | "dns") => {
    const address = parseBackendHost(host, port, protocol);
    assert.ok(typeof address !== "string", String(address));
    return backendKey(address);
  };
  assert.equal(key("ws://10.0.0.5", 8080, "websocket"), key("http://10.0.0.5", 8080, "http"));
  assert.equal(key("wss://[::1]", 443, "websocket"), "https://[::1]:443");
  assert.equal(key("ftp://files", 21, "ftp"), "ftp://files:21");
  assert.notEqual(key("udp://9.9.9.9", 53, "dns"), key("http://9.9.9.9", 53, "http"));
});
