import assert from "node:assert/strict";
import { validatePolicyConfig } from "../../src/policy/validate_policy_config.ts";
import { makeConfig, makeRoute } from "./context_fixture.ts";

Deno.test("validatePolicyConfig() finds nothing wrong in a sound config", () => {
  const route = makeRoute({
    auth_required: true,
    cors: { allowed_origins: ["https://*.example.com"] },
    request_transformation: { path: { pattern: "^/v1", replacement: "" } },
    response_transformation: { status_code_mappings: [{ from: 404, to: 410, condition: 'method == "GET"' }] },
  });
  assert.deepEqual(
    validatePolicyConfig(makeConfig({ jwt: { secret: "s" }, ip_filter: { allow: ["::1"] } }, [route])),
    [],
  );
});

Deno.test("validatePolicyConfig() reports every problem with its path", () => {
  const routes = [
    makeRoute({
      auth_required: true,
      ip_filter: { deny: ["300.1.1.1", "10.0.0.0/8", "fe80::/129"] },
      request_transformation: {
        headers: [{ action: "set", name: "X-A" }, { action: "replace", name: "X-B", pattern: "(" }],
        path: { pattern: "[", replacement: "" },
        query_params: [{ action: "add", name: "q" }],
      },
      response_transformation: {
        headers: [{ action: "add", name: "X-C" }],
        status_code_mappings: [{ from: 500, to: 100 }, { from: 404, to: 200, condition: 'status ~ "("' }],
      },
    }),
    makeRoute({
      cors: { allowed_origins: ["ftp//x"] },
      auth: { api_keys: { header: null, keys: [{ id: "a", sha256: "a".repeat(64) }] } },
    }),
  ];
  const problems = validatePolicyConfig(makeConfig({ cors: { allowed_origins: ["*.bad"] } }, routes));
  const paths = problems.map((p) => p.path);
  assert.deepEqual(paths, [
    "cors.allowed_origins[0]",
    "routers[0].ip_filter.deny[0]",
    "routers[0].ip_filter.deny[2]",
    "routers[0].auth_required",
    "routers[0].request_transformation.headers[0].value",
    "routers[0].request_transformation.headers[1].pattern",
    "routers[0].request_transformation.path.pattern",
    "routers[0].request_transformation.query_params[0].value",
    "routers[0].response_transformation.headers[0].value",
    "routers[0].response_transformation.status_code_mappings[0].to",
    "routers[0].response_transformation.status_code_mappings[1].condition",
    "routers[1].cors.allowed_origins[0]",
    "routers[1].auth.api_keys",
  ]);
  for (const problem of problems) {
    assert.ok(problem.message.length > 0 && !problem.message.startsWith("routers"));
  }
});
