import assert from "node:assert/strict";
import { closeReason, codeForBackend, codeForClient } from "../../../src/protocols/websocket/close_codes.ts";

Deno.test("codeForClient() forwards a backend's close code unless the client leg cannot carry it", async (t) => {
  const cases: Array<[number, number | undefined]> = [
    [1000, 1000],
    [1001, 1001],
    [1008, 1008],
    [1013, 1013],
    [3000, 3000],
    [4999, 4999],
    [1005, undefined], // no code in, no code out
    [1006, 1011], // an abrupt backend loss
    [1014, 1011], // Deno's server socket refuses 1014
    [1015, 1011],
    [2000, 1011],
  ];
  for (const [code, expected] of cases) {
    await t.step(`${code} → ${expected}`, () => assert.equal(codeForClient(code), expected));
  }
});

Deno.test("codeForBackend() forwards a client's close code and maps a vanished client to 1001", async (t) => {
  const cases: Array<[number, number | undefined]> = [
    [1000, 1000],
    [1001, 1001],
    [1009, 1009],
    [1014, 1014],
    [4001, 4001],
    [1005, undefined],
    [1006, 1001],
    [0, 1001],
    [1015, 1011],
  ];
  for (const [code, expected] of cases) {
    await t.step(`${code} → ${expected}`, () => assert.equal(codeForBackend(code), expected));
  }
});

Deno.test("closeReason() keeps at most 123 UTF-8 bytes without splitting a character", () => {
  assert.equal(closeReason("short"), "short");
  assert.equal(closeReason("a".repeat(200)), "a".repeat(123));
  const cut = closeReason("é".repeat(100)); // 2 bytes each
  assert.equal(cut, "é".repeat(61));
  assert.ok(new TextEncoder().encode(closeReason("€".repeat(60))).length <= 123);
});
