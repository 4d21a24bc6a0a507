import assert from "node:assert/strict";
import { GatewayError } from "../../../src/proxy/gateway_error.ts";
import { applyAccessToken, checkOrigin, queryBearer } from "../../../src/protocols/websocket/access_rules.ts";
import { makeContext, makeRoute } from "../../policy/context_fixture.ts";

Deno.test("queryBearer() reads an access_token parameter as a Bearer credential (RFC 6750 §2.3)", async (t) => {
  const cases: Array<[string, string | null]> = [
    ["?access_token=abc.def-ghi_1", "Bearer abc.def-ghi_1"],
    ["?x=1&access_token=a%2Bb%3D", "Bearer a+b="],
    ["?x=1", null],
    ["", null],
    ["?my_access_token=abc", null],
    ["?access_token=bad%0D%0Avalue", null], // would break the header
    ["?access_token=%E0%A4%A", null], // malformed escape
  ];
  for (const [query, expected] of cases) {
    await t.step(`${JSON.stringify(query)} → ${expected}`, () => assert.equal(queryBearer(query), expected));
  }
});

Deno.test("applyAccessToken() moves the token from the upstream query to Authorization", async (t) => {
  await t.step("the token leaves the query; other parameters keep their exact encoding", () => {
    const ctx = makeContext({ url: "/api/x?a=1%202&access_token=tok&b=+" });
    applyAccessToken(ctx);
    assert.equal(ctx.upstreamQuery, "?a=1%202&b=+");
    assert.equal(ctx.upstreamHeaders.get("authorization"), "Bearer tok");
  });
  await t.step("a client's own Authorization header wins", () => {
    const ctx = makeContext({ url: "/api/x?access_token=tok", headers: { authorization: "Bearer mine" } });
    applyAccessToken(ctx);
    assert.equal(ctx.upstreamQuery, "");
    assert.equal(ctx.upstreamHeaders.get("authorization"), "Bearer mine");
  });
  await t.step("auth.strip_authorization keeps it from the backend", () => {
    const ctx = makeContext({
      url: "/api/x?access_token=tok",
      route: makeRoute({ auth: { strip_authorization: true } }),
    });
    applyAccessToken(ctx);
    assert.equal(ctx.upstreamHeaders.get("authorization"), null);
  });
});

Deno.test("checkOrigin() refuses an Origin the CORS stage did not grant", async (t) => {
  const run = (origin: string | null, shaped: [string, string][] | undefined) => {
    const ctx = makeContext({ headers: origin ? { origin } : {} });
    ctx.responseHeaders = shaped;
    try {
      checkOrigin(ctx);
      return "ok";
    } catch (err) {
      assert.ok(err instanceof GatewayError);
      return err.status;
    }
  };
  await t.step("no CORS policy: any origin", () => assert.equal(run("https://a.test", undefined), "ok"));
  await t.step("granted", () => {
    assert.equal(
      run("https://a.test", [["vary", "Origin"], ["access-control-allow-origin", "https://a.test"]]),
      "ok",
    );
  });
  await t.step("granted by a literal *", () => {
    assert.equal(run("https://a.test", [["access-control-allow-origin", "*"]]), "ok");
  });
  await t.step("not granted", () => assert.equal(run("https://evil.test", [["vary", "Origin"]]), 403));
  await t.step("no Origin (not a browser)", () => assert.equal(run(null, [["vary", "Origin"]]), "ok"));
});
