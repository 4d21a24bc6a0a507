/**
 * Per-route claim rules (`auth.claims`), compiled once. A claim is named by its key (`roles`,
 * `https://example.com/roles`) or, when no such key exists, by a dotted path into nested objects
 * (`realm_access.roles`). Operators: `exists`, `equals`, `one_of`, `contains`, `contains_any`,
 * `contains_all`; the `contains*` family tests array elements, or the words of a space-separated
 * string (OAuth `scope`). Every operator of every rule must hold.
 */
import type { ClaimRule } from "../config/policy_schema.ts";

/** Returns why `claims` fail the rules, or undefined when they pass. */
export type ClaimCheck = (claims: Readonly<Record<string, unknown>>) => string | undefined;

/** Reads a claim by key, or by dotted path when no key has that name. */
export function readClaim(claims: Readonly<Record<string, unknown>>, name: string): unknown {
  if (Object.hasOwn(claims, name)) return claims[name];
  let value: unknown = claims;
  for (const part of name.split(".")) {
    if (typeof value !== "object" || value === null || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** Compiles the rules (undefined when there are none). */
export function compileClaimRules(rules: Readonly<Record<string, ClaimRule>>): ClaimCheck | undefined {
  const entries = Object.entries(rules);
  if (entries.length === 0) return undefined;
  return function checkClaims(claims) {
    for (const [name, rule] of entries) {
      const why = checkRule(readClaim(claims, name), rule);
      if (why) return `claim "${name}" ${why}`;
    }
    return undefined;
  };
}

function checkRule(value: unknown, rule: ClaimRule): string | undefined {
  if (rule.exists !== undefined && (value !== undefined) !== rule.exists) {
    return rule.exists ? "is missing" : "must be absent";
  }
  if (rule.equals !== undefined && value !== rule.equals) return `is not ${JSON.stringify(rule.equals)}`;
  if (rule.one_of && !rule.one_of.includes(value as string | number)) {
    return `is not one of ${JSON.stringify(rule.one_of)}`;
  }
  if (rule.contains !== undefined || rule.contains_any || rule.contains_all) {
    const items = members(value);
    if (rule.contains !== undefined && !items.includes(rule.contains)) {
      return `does not contain ${JSON.stringify(rule.contains)}`;
    }
    if (rule.contains_any && !rule.contains_any.some((item) => items.includes(item))) {
      return `contains none of ${JSON.stringify(rule.contains_any)}`;
    }
    if (rule.contains_all && !rule.contains_all.every((item) => items.includes(item))) {
      return `does not contain all of ${JSON.stringify(rule.contains_all)}`;
    }
  }
  return undefined;
}

function members(value: unknown): readonly unknown[] {
  if (Array.isArray(value)) return value;
  if (typeof value === "string") return value.split(" ").filter((word) => word !== "");
  return [];
}
