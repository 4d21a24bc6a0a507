/** Recursive Object.freeze, so a validated config is an immutable snapshot. */

/** Freezes `value` and every object and array reachable from it; returns it. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object") {
    Object.freeze(value);
    // Config data is a tree (parsed JSON/YAML through zod), so no cycle guard is needed.
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}
