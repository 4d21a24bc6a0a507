import assert from "node:assert/strict";
import { compileCondition } from "../../src/policy/condition.ts";
import { PolicyConfigError } from "../../src/policy/policy_config_error.ts";
import { makeContext } from "./context_fixture.ts";

Deno.test("compileCondition() evaluates each operator against the request and response", async (t) => {
  const ctx = makeContext({
    method: "GET",
    url: "/v1/users?debug=1&page=3",
    headers: { "x-debug": "1", "x-empty": "" },
  });
  const response = new Response(null, { status: 503, headers: { "x-cache": "MISS" } });
  const cases: Array<[string, boolean]> = [
    ['method == "GET"', true],
    ['method != "GET"', false],
    ['path ~ "^/v1/"', true],
    ['path !~ "^/v1/"', false],
    ['path ~ "^/v\\d/users$"', true],
    ["header.x-debug", true],
    ["header.X-Debug", true],
    ["header.x-empty", false],
    ["header.x-missing", false],
    ['header.x-debug == "1"', true],
    ['header.x-missing != "1"', true],
    ["status == 503", true],
    ["status >= 500", true],
    ["status < 500", false],
    ['response_header.x-cache == "MISS"', true],
    ['query.debug == "1"', true],
    ["query.page > 2", true],
    ['query ~ "page=3"', true],
    ['method == "POST" || header.x-debug', true],
    ['method == "POST" && header.x-debug', false],
    ['!(method == "POST") && status == 503', true],
    ['!method == "GET"', false],
    ['method == "POST" || method == "PUT" || path ~ "users"', true],
  ];
  for (const [source, expected] of cases) {
    await t.step(`${source} → ${expected}`, () => {
      assert.equal(compileCondition(source, "c")(ctx, response), expected);
    });
  }
});

Deno.test("compileCondition() treats status as absent before the upstream answered", () => {
  const condition = compileCondition("status == 200", "c");
  assert.equal(condition(makeContext()), false);
});

Deno.test("compileCondition() rejects malformed conditions with the config path and column", async (t) => {
  const cases: Array<[string, RegExp]> = [
    ["", /empty condition/],
    ["method ==", /expected a quoted string or a number at the end/],
    ['method = "GET"', /unexpected character "=" at column 8/],
    ['verb == "GET"', /unknown operand at column 1/],
    ['path ~ "("', /invalid regular expression/],
    ['status > "x"', /expected a number after ">"/],
    ['(method == "GET"', /expected "\)" at the end/],
    ['method == "GET" method', /expected "&&", "\|\|" or the end at column 17/],
    ['path ~ "unterminated', /unterminated string at column 8/],
  ];
  for (const [source, message] of cases) {
    await t.step(JSON.stringify(source), () => {
      assert.throws(() => compileCondition(source, "routers[0].x.condition"), (err: unknown) => {
        assert.ok(err instanceof PolicyConfigError);
        assert.equal(err.path, "routers[0].x.condition");
        assert.match(err.message, message);
        return true;
      });
    });
  }
});
