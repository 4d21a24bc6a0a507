import assert from "node:assert/strict";
import { GatewayError } from "../../../src/proxy/gateway_error.ts";
import { checkUpgradeRequest } from "../../../src/protocols/websocket/upgrade_request.ts";

const VALID: Record<string, string> = {
  upgrade: "websocket",
  connection: "keep-alive, Upgrade",
  "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
  "sec-websocket-version": "13",
};

function statusOf(headers: Record<string, string | null>, method = "GET"): number | "ok" {
  const merged = Object.fromEntries(
    Object.entries({ ...VALID, ...headers }).filter(([, v]) => v !== null),
  ) as Record<string, string>;
  try {
    checkUpgradeRequest(new Request("http://gw.test/ws", { method, headers: merged }));
    return "ok";
  } catch (err) {
    assert.ok(err instanceof GatewayError);
    return err.status;
  }
}

Deno.test("checkUpgradeRequest() accepts an RFC 6455 §4.2.1 upgrade and rejects the rest", async (t) => {
  const cases: Array<[string, Record<string, string | null>, number | "ok", string?]> = [
    ["a valid upgrade", {}, "ok"],
    ["Upgrade in another case", { upgrade: "WebSocket" }, "ok"],
    ["a plain GET", { upgrade: null, connection: null }, 426],
    ["another protocol", { upgrade: "h2c" }, 426],
    ["a POST upgrade", {}, 426, "POST"],
    ["no Upgrade in Connection", { connection: "keep-alive" }, 400],
    ["version 8", { "sec-websocket-version": "8" }, 426],
    ["no version", { "sec-websocket-version": null }, 426],
    ["no key", { "sec-websocket-key": null }, 400],
    ["a key of 15 bytes", { "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ=" }, 400],
    ["a key that is not base64", { "sec-websocket-key": "not a key at all!!!!!==" }, 400],
  ];
  for (const [name, headers, expected, method] of cases) {
    await t.step(`${name} → ${expected}`, () => assert.equal(statusOf(headers, method), expected));
  }
});

Deno.test("checkUpgradeRequest() names the protocol and version in a 426", () => {
  try {
    checkUpgradeRequest(new Request("http://gw.test/ws"));
    assert.fail("expected a 426");
  } catch (err) {
    assert.ok(err instanceof GatewayError);
    assert.equal(err.type, "upgrade_required");
    assert.deepEqual(err.headers, { upgrade: "websocket", "sec-websocket-version": "13" });
  }
});
