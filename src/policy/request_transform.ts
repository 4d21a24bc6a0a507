/**
 * The request transformation stage (kairos-rs `request_transformation`): header actions on the upstream
 * headers, a regex rewrite of the upstream (internal) path, and query parameter actions.
 */
import type { RequestTransformationConfig } from "../config/policy_schema.ts";
import type { RequestContext, RequestStage } from "../proxy/context.ts";
import {
  applyHeaderActions,
  compileHeaderActions,
  compileRegex,
  compileReplacement,
} from "./header_actions.ts";
import { PolicyConfigError } from "./policy_config_error.ts";
import { editQuery, encodePair, type QueryEdit } from "./query_edit.ts";

/** A compiled `path` rewrite; `query` when the replacement can write a `?` (a query of its own). */
export type PathRewrite = { readonly pattern: RegExp; readonly replacement: string; readonly query: boolean };

/** Compiles `path` (`{pattern, replacement}`, Rust syntax) at config path `path`. */
export function compilePathRewrite(
  rule: NonNullable<RequestTransformationConfig["path"]>,
  path: string,
): PathRewrite {
  // kairos-rs replaces the first match only.
  const pattern = compileRegex(rule.pattern, "", `${path}.pattern`);
  // The result becomes the request target, which allows only visible ASCII (RFC 9112 §3.2): any other
  // character would fail every request at the upstream client, so refuse it here.
  if (!/^[\x21-\x7e]*$/.test(rule.replacement)) {
    throw new PolicyConfigError(
      `${path}.replacement`,
      `expected visible ASCII only (percent-encode the rest), got ${JSON.stringify(rule.replacement)}`,
    );
  }
  return {
    pattern,
    replacement: compileReplacement(rule.replacement, pattern, `${path}.replacement`),
    // Captured text comes from the path, where a `?` is always escaped: only the replacement writes one.
    query: rule.replacement.includes("?"),
  };
}

/**
 * Rewrites `ctx.upstreamPath` with `rule`. A `?` in the result starts a query that goes first, before
 * the request's own (`/new?x=1` on `?a=2` sends `/new?x=1&a=2`), so the target never has two `?`.
 */
export function rewritePath(ctx: RequestContext, rule: PathRewrite): void {
  const rewritten = ctx.upstreamPath.replace(rule.pattern, rule.replacement);
  const mark = rule.query ? rewritten.indexOf("?") : -1;
  const path = mark < 0 ? rewritten : rewritten.slice(0, mark);
  ctx.upstreamPath = path.startsWith("/") ? path : `/${path}`;
  if (mark < 0 || mark === rewritten.length - 1) return; // a bare `?` adds nothing
  const added = rewritten.slice(mark);
  const own = ctx.upstreamQuery;
  if (own.length <= 1) ctx.upstreamQuery = added;
  else ctx.upstreamQuery = added.endsWith("&") ? added + own.slice(1) : `${added}&${own.slice(1)}`;
}

/**
 * Compiles the stage (undefined when it would do nothing). Query `add` sets a parameter only when
 * absent, `set` overwrites it, `remove` drops it, `replace` overwrites it only when present.
 */
export function compileRequestTransformation(
  config: RequestTransformationConfig,
  path: string,
): RequestStage | undefined {
  const headers = compileHeaderActions(config.headers, `${path}.headers`);
  const pathRule = config.path ? compilePathRewrite(config.path, `${path}.path`) : undefined;
  const query = config.query_params.map((action, i): QueryEdit => {
    if (action.action === "remove") return { kind: "remove", name: action.name };
    if (action.value == null) {
      throw new PolicyConfigError(
        `${path}.query_params[${i}].value`,
        `query action "${action.action}" needs a value`,
      );
    }
    return { kind: action.action, name: action.name, pair: encodePair(action.name, action.value) };
  });
  if (headers.length === 0 && !pathRule && query.length === 0) return undefined;

  return function transformRequest(ctx: RequestContext) {
    if (headers.length > 0) applyHeaderActions(headers, ctx.upstreamHeaders);
    if (pathRule) rewritePath(ctx, pathRule);
    if (query.length > 0) ctx.upstreamQuery = editQuery(ctx.upstreamQuery, query);
    return undefined;
  };
}
