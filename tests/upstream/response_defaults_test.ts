import assert from "node:assert/strict";
import {
  appendUnsentDefaults,
  markSentDefault,
  MAX_RESPONSE_DEFAULTS,
} from "../../src/upstream/response_defaults.ts";

const DEFAULTS = [
  "x-frame-options",
  "DENY",
  "x-content-type-options",
  "nosniff",
  "referrer-policy",
  "no-referrer",
];

Deno.test("markSentDefault() sets one bit per default the backend sent and ignores other fields", () => {
  let sent = 0;
  for (const name of ["content-type", "referrer-policy", "x-frame-options"]) {
    sent = markSentDefault(DEFAULTS, name, sent);
  }
  assert.equal(sent, 0b101);
});

Deno.test("appendUnsentDefaults() adds only the defaults whose bit is clear", () => {
  const headers = new Headers({ "x-frame-options": "SAMEORIGIN" });
  appendUnsentDefaults(headers, DEFAULTS, markSentDefault(DEFAULTS, "x-frame-options", 0));
  assert.deepEqual([...headers], [
    ["referrer-policy", "no-referrer"],
    ["x-content-type-options", "nosniff"],
    ["x-frame-options", "SAMEORIGIN"],
  ]);
});

Deno.test("markSentDefault() tracks the last of MAX_RESPONSE_DEFAULTS defaults", () => {
  const defaults: string[] = [];
  for (let i = 0; i < MAX_RESPONSE_DEFAULTS; i++) defaults.push(`x-default-${i}`, "ours");
  const last = `x-default-${MAX_RESPONSE_DEFAULTS - 1}`;
  const headers = new Headers();
  appendUnsentDefaults(headers, defaults, markSentDefault(defaults, last, 0));
  assert.equal(headers.get(last), null);
  assert.equal(headers.get("x-default-0"), "ours");
});
