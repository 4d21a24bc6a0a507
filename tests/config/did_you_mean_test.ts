import assert from "node:assert/strict";
import { closestMatch, levenshtein } from "../../src/config/did_you_mean.ts";

Deno.test("levenshtein() counts insertions, deletions and substitutions", () => {
  assert.equal(levenshtein("", ""), 0);
  assert.equal(levenshtein("abc", ""), 3);
  assert.equal(levenshtein("kitten", "sitting"), 3);
  assert.equal(levenshtein("metods", "methods"), 1);
});

Deno.test("closestMatch() suggests the nearest key within two edits, ignoring case", () => {
  assert.equal(closestMatch("wieght", ["weight", "host", "port"]), "weight");
  assert.equal(closestMatch("PORT", ["port", "host"]), "port");
  assert.equal(closestMatch("enabled", ["host", "port"]), undefined);
  assert.equal(closestMatch("abc", []), undefined);
});
