import assert from "node:assert/strict";
import { envLookup, expandEnvPlaceholders } from "../../src/config/env_placeholders.ts";

Deno.test("expandEnvPlaceholders() replaces ${NAME} in nested strings and leaves keys alone", () => {
  const result = expandEnvPlaceholders(
    { "${K}": "${A}", list: ["x-${A}-${B}", 3, true, null], deep: { v: "${B}" } },
    envLookup({ A: "1", B: "two" }),
  );
  assert.deepEqual(result, {
    value: { "${K}": "1", list: ["x-1-two", 3, true, null], deep: { v: "two" } },
    errors: [],
  });
});

Deno.test("expandEnvPlaceholders() treats $${ as a literal and ignores non-name braces", () => {
  const { value, errors } = expandEnvPlaceholders(
    ["$${A}", "${1}", "${}", "${a-b}", "$A", "${A"],
    envLookup({ A: "x" }),
  );
  assert.deepEqual(value, ["${A}", "${1}", "${}", "${a-b}", "$A", "${A"]);
  assert.deepEqual(errors, []);
});

Deno.test("expandEnvPlaceholders() reports each unset variable at its path", () => {
  const { errors } = expandEnvPlaceholders({ a: [{ b: "${X} ${Y}" }] }, envLookup({ Y: "" }));
  assert.deepEqual(errors, [{
    path: "a[0].b",
    message: 'Cannot expand "${X}": environment variable X is not set',
  }]);
});

Deno.test("envLookup() without a map reads Deno.env", () => {
  Deno.env.set("KAIROS_TEST_ENV_LOOKUP", "v");
  try {
    assert.equal(envLookup()("KAIROS_TEST_ENV_LOOKUP"), "v");
    assert.equal(envLookup()("KAIROS_TEST_ENV_LOOKUP_UNSET"), undefined);
  } finally {
    Deno.env.delete("KAIROS_TEST_ENV_LOOKUP");
  }
});
