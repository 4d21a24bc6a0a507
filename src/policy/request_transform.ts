/**
 * The request transformation stage (kairos-rs `request_transformation`): header actions on the upstream
 * headers, a regex rewrite of the upstream (internal) path, and query parameter actions.
 */
import type { RequestTransformationConfig } from "../config/policy_schema.ts";
import type { RequestContext, RequestStage } from "../proxy/context.ts";
import { applyHeaderActions, compileHeaderActions, compileRegex, toJsReplacement } from "./header_actions.ts";
import { PolicyConfigError } from "./policy_config_error.ts";

type QueryAction =
  | { readonly kind: "add" | "set" | "replace"; readonly name: string; readonly value: string }
  | {
    readonly kind: "remove";
    readonly name: string;
  };

/**
 * Compiles the stage (undefined when it would do nothing). Query `add` sets a parameter only when
 * absent, `set` overwrites it, `remove` drops it, `replace` overwrites it only when present.
 */
export function compileRequestTransformation(
  config: RequestTransformationConfig,
  path: string,
): RequestStage | undefined {
  const headers = compileHeaderActions(config.headers, `${path}.headers`);
  const pathRule = config.path
    ? {
      // kairos-rs replaces the first match only.
      pattern: compileRegex(config.path.pattern, "", `${path}.path.pattern`),
      replacement: toJsReplacement(config.path.replacement),
    }
    : undefined;
  const query = config.query_params.map((action, i): QueryAction => {
    if (action.action === "remove") return { kind: "remove", name: action.name };
    if (action.value == null) {
      throw new PolicyConfigError(
        `${path}.query_params[${i}].value`,
        `query action "${action.action}" needs a value`,
      );
    }
    return { kind: action.action, name: action.name, value: action.value };
  });
  if (headers.length === 0 && !pathRule && query.length === 0) return undefined;

  return function transformRequest(ctx: RequestContext) {
    if (headers.length > 0) applyHeaderActions(headers, ctx.upstreamHeaders);
    if (pathRule) {
      const rewritten = ctx.upstreamPath.replace(pathRule.pattern, pathRule.replacement);
      ctx.upstreamPath = rewritten.startsWith("/") ? rewritten : `/${rewritten}`;
    }
    if (query.length > 0) ctx.upstreamQuery = applyQueryActions(query, ctx.upstreamQuery);
    return undefined;
  };
}

function applyQueryActions(actions: readonly QueryAction[], query: string): string {
  const params = new URLSearchParams(query);
  for (const action of actions) {
    switch (action.kind) {
      case "add":
        if (!params.has(action.name)) params.set(action.name, action.value);
        break;
      case "set":
        params.set(action.name, action.value);
        break;
      case "replace":
        if (params.has(action.name)) params.set(action.name, action.value);
        break;
      case "remove":
        params.delete(action.name);
        break;
    }
  }
  const out = params.toString();
  return out === "" ? "" : `?${out}`;
}
