/**
 * kairos-rs header actions, compiled once: `add` (only when absent), `set` (overwrite), `remove`,
 * `replace` (regex over the current value, every match, `$1` / `${name}` in the replacement; both in
 * Rust syntax, see config/rust_regex.ts). kairos-rs skipped invalid actions silently; here they are
 * config errors.
 */
import type { UpstreamFields } from "../proxy/field_list.ts";
import type { HeaderActionConfig } from "../config/policy_schema.ts";
import { PolicyConfigError } from "./policy_config_error.ts";
import { rustRegex, rustReplacement } from "../config/rust_regex.ts";

/** One compiled action. */
export type HeaderAction =
  | { readonly kind: "add" | "set"; readonly name: string; readonly value: string }
  | { readonly kind: "remove"; readonly name: string }
  | {
    readonly kind: "replace";
    readonly name: string;
    readonly pattern: RegExp;
    readonly replacement: string;
  };

/** Compiles one action at config path `path`; throws PolicyConfigError when it cannot run. */
export function compileHeaderAction(action: HeaderActionConfig, path: string): HeaderAction {
  const name = action.name.toLowerCase();
  switch (action.action) {
    case "add":
    case "set":
      if (action.value == null) {
        throw new PolicyConfigError(`${path}.value`, `header action "${action.action}" needs a value`);
      }
      return { kind: action.action, name, value: action.value };
    case "remove":
      return { kind: "remove", name };
    case "replace": {
      if (action.pattern == null) {
        throw new PolicyConfigError(`${path}.pattern`, 'header action "replace" needs a pattern');
      }
      const pattern = compileRegex(action.pattern, "g", `${path}.pattern`);
      return {
        kind: "replace",
        name,
        pattern,
        replacement: compileReplacement(action.replacement ?? "", pattern, `${path}.replacement`),
      };
    }
  }
}

/** Compiles a list of actions (path = the list's config path). */
export function compileHeaderActions(actions: readonly HeaderActionConfig[], path: string): HeaderAction[] {
  return actions.map((action, i) => compileHeaderAction(action, `${path}[${i}]`));
}

/** Applies the actions in order to mutable `headers`. */
export function applyHeaderActions(
  actions: readonly HeaderAction[],
  headers: UpstreamFields | Headers,
): void {
  for (const action of actions) {
    switch (action.kind) {
      case "add":
        if (!headers.has(action.name)) headers.set(action.name, action.value);
        break;
      case "set":
        headers.set(action.name, action.value);
        break;
      case "remove":
        headers.delete(action.name);
        break;
      case "replace": {
        // Set-Cookie fields cannot be joined into one (RFC 6265 §3): rewrite each cookie on its own.
        if (action.name === "set-cookie" && headers instanceof Headers) {
          const cookies = headers.getSetCookie();
          headers.delete(action.name);
          for (const cookie of cookies) {
            headers.append(action.name, cookie.replace(action.pattern, action.replacement));
          }
          break;
        }
        const current = headers.get(action.name);
        if (current !== null) headers.set(action.name, current.replace(action.pattern, action.replacement));
        break;
      }
    }
  }
}

/** Compiles a Rust-syntax regex, reporting a syntax error as a PolicyConfigError at `path`. */
export function compileRegex(pattern: string, flags: string, path: string): RegExp {
  try {
    return rustRegex(pattern, flags);
  } catch (err) {
    throw new PolicyConfigError(
      path,
      `Cannot compile regular expression ${JSON.stringify(pattern)}: ${(err as Error).message}`,
    );
  }
}

/** Compiles a Rust-syntax replacement for `regex`, reporting a bad group reference at `path`. */
export function compileReplacement(replacement: string, regex: RegExp, path: string): string {
  try {
    return rustReplacement(replacement, regex);
  } catch (err) {
    throw new PolicyConfigError(
      path,
      `Cannot use replacement ${JSON.stringify(replacement)}: ${(err as Error).message}`,
    );
  }
}
