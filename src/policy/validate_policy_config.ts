/**
 * Config checks that need compiling: regexes, conditions, CIDRs, origins, keys, header actions, and
 * protected routes without a credential source. The loader adds these problems to the schema's.
 */
import type { Config } from "../config/schema.ts";
import { compileApiKeys } from "./api_keys.ts";
import { compileAuth, routeAuth } from "./auth.ts";
import { compileCondition } from "./condition.ts";
import { compileCors } from "./cors.ts";
import { compileHeaderAction } from "./header_actions.ts";
import { compileIpBlock } from "./ip_filter.ts";
import { createJwksCache } from "./jwks_cache.ts";
import { compileJwtVerifier } from "./jwt.ts";
import { PolicyConfigError } from "./policy_config_error.ts";
import { compilePathRewrite } from "./request_transform.ts";
import { compileStatusMapping } from "./response_transform.ts";

/** One problem, at a config path like `routers[2].response_transformation.status_code_mappings[0].condition`. */
export type PolicyProblem = { path: string; message: string };

/** Every policy problem of `config` (empty when all policies compile). */
export function validatePolicyConfig(config: Config): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  const check = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      if (!(err instanceof PolicyConfigError)) throw err;
      problems.push({ path: err.path, message: err.problem });
    }
  };
  const jwks = createJwksCache(() => Promise.reject(new Error("validation never fetches")));
  try {
    if (config.jwt) check(() => compileJwtVerifier(config.jwt!, "jwt", jwks));
    if (config.cors) check(() => compileCors(config.cors!, "cors"));
    if (config.ip_filter) checkIpFilter(config.ip_filter, "ip_filter", check);
    config.routers.forEach((route, i) => {
      const path = `routers[${i}]`;
      if (route.cors) check(() => compileCors(route.cors!, `${path}.cors`));
      if (route.ip_filter) checkIpFilter(route.ip_filter, `${path}.ip_filter`, check);
      const auth = routeAuth(route);
      if (auth?.api_keys) check(() => compileApiKeys(auth.api_keys!, `${path}.auth.api_keys`));
      const apiKeysOk = !auth?.api_keys || problems.every((p) => !p.path.startsWith(`${path}.auth.api_keys`));
      if (apiKeysOk) {
        check(() =>
          compileAuth({
            protect: route.auth_required,
            auth,
            jwt: config.jwt,
            verifier: config.jwt ? () => Promise.reject(new Error("unused")) : undefined,
            log: () => {},
          }, path)
        );
      }
      const req = route.request_transformation;
      if (req) {
        const base = `${path}.request_transformation`;
        req.headers.forEach((action, j) => check(() => compileHeaderAction(action, `${base}.headers[${j}]`)));
        if (req.path) check(() => compilePathRewrite(req.path!, `${base}.path`));
        req.query_params.forEach((action, j) => {
          if (action.action !== "remove" && action.value == null) {
            problems.push({
              path: `${base}.query_params[${j}].value`,
              message: `query action "${action.action}" needs a value`,
            });
          }
        });
      }
      const res = route.response_transformation;
      if (res) {
        const base = `${path}.response_transformation`;
        res.headers.forEach((action, j) => check(() => compileHeaderAction(action, `${base}.headers[${j}]`)));
        res.status_code_mappings.forEach((mapping, j) => {
          const at = `${base}.status_code_mappings[${j}]`;
          check(() => compileStatusMapping(mapping, at));
          if (mapping.condition) check(() => compileCondition(mapping.condition!, `${at}.condition`));
        });
      }
    });
  } finally {
    jwks.dispose();
  }
  return dedupe(problems);
}

function checkIpFilter(
  filter: { allow: string[]; deny: string[] },
  path: string,
  check: (fn: () => unknown) => void,
): void {
  filter.allow.forEach((entry, i) => check(() => compileIpBlock(entry, `${path}.allow[${i}]`)));
  filter.deny.forEach((entry, i) => check(() => compileIpBlock(entry, `${path}.deny[${i}]`)));
}

function dedupe(problems: PolicyProblem[]): PolicyProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path}\n${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
