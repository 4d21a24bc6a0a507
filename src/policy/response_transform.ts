/**
 * The response transformation stage (kairos-rs `response_transformation`): header actions on the
 * response and `status_code_mappings` (first mapping whose `from` matches and whose condition holds).
 */
import type { ResponseTransformationConfig } from "../config/policy_schema.ts";
import type { RequestContext, ResponseStage } from "../proxy/context.ts";
import { compileCondition, type Condition } from "./condition.ts";
import { applyHeaderActions, compileHeaderActions } from "./header_actions.ts";
import { PolicyConfigError } from "./policy_config_error.ts";

type StatusMapping = { readonly from: number; readonly to: number; readonly condition?: Condition };

// RFC 9110 §6.4.1: these statuses never carry content, so a mapping to them drops the body.
const NULL_BODY = new Set([204, 205, 304]);

/** Compiles the stage (undefined when it would do nothing). */
export function compileResponseTransformation(
  config: ResponseTransformationConfig,
  path: string,
): ResponseStage | undefined {
  const headers = compileHeaderActions(config.headers, `${path}.headers`);
  const mappings = config.status_code_mappings.map((mapping, i) =>
    compileStatusMapping(mapping, `${path}.status_code_mappings[${i}]`)
  );
  if (headers.length === 0 && mappings.length === 0) return undefined;

  return function transformResponse(ctx: RequestContext, response: Response): Response {
    let out = response;
    for (const mapping of mappings) {
      if (mapping.from !== response.status || (mapping.condition && !mapping.condition(ctx, response))) {
        continue;
      }
      let body = response.body;
      if (NULL_BODY.has(mapping.to) && body) {
        body.cancel().catch(() => {});
        body = null;
      }
      // Same stream, new status: the body keeps streaming.
      out = new Response(body, { status: mapping.to, headers: response.headers });
      break;
    }
    if (headers.length > 0) applyHeaderActions(headers, out.headers);
    return out;
  };
}

/** Compiles one mapping at config path `path`. */
export function compileStatusMapping(
  mapping: ResponseTransformationConfig["status_code_mappings"][number],
  path: string,
): StatusMapping {
  // The Fetch API cannot build a 1xx response, and a 1xx never reaches this stage.
  if (mapping.to < 200) {
    throw new PolicyConfigError(`${path}.to`, `expected a final status 200-599, got ${mapping.to}`);
  }
  if (mapping.from < 200) {
    throw new PolicyConfigError(`${path}.from`, `expected a final status 200-599, got ${mapping.from}`);
  }
  const condition = mapping.condition ? compileCondition(mapping.condition, `${path}.condition`) : undefined;
  return { from: mapping.from, to: mapping.to, condition };
}
