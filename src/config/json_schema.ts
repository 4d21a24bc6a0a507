/**
 * The JSON Schema that `kairos schema` prints, generated from the zod schema (input side, so defaulted
 * fields are optional). It describes the canonical shape; kairos-rs spellings are named in descriptions.
 */
import { z } from "zod";
import { configSchema } from "./schema.ts";

type JsonObject = Record<string, unknown>;

const RATE_LIMIT_NOTE = "kairos-rs: also strategy (PerIP…, Composite), window_duration (s), " +
  "burst_allowance, window_type, requests_per_second/minute and burst_size";

// Where each kairos-rs alias lands, as a path of property names ("*" = array items).
const ALIAS_NOTES: [string[], string][] = [
  [["jwt"], 'kairos-rs: a top-level "jwt_secret" is read as jwt.secret, and jwt.algorithm as algorithms'],
  [["rate_limit"], RATE_LIMIT_NOTE],
  [["routers", "*", "rate_limit"], RATE_LIMIT_NOTE],
  [["routers", "*", "backends"], 'kairos-rs: a route-level "host" + "port" pair is read as one backend'],
  [
    ["routers", "*", "retry"],
    'kairos-rs: also "retry_config", with retryable_status_codes, base_delay_ms and max_delay_ms',
  ],
  [
    ["routers", "*", "circuit_breaker"],
    'kairos-rs: "circuit_breaker_threshold" is read as failure_threshold',
  ],
];

/** The config's JSON Schema; `_`-prefixed keys (comments) and `$schema` are allowed everywhere they are ignored. */
export function configJsonSchema(): JsonObject {
  const schema = z.toJSONSchema(configSchema, { io: "input" }) as JsonObject;
  allowCommentKeys(schema);
  const properties = schema.properties as JsonObject;
  properties.$schema = { type: "string", description: "URL of this JSON Schema, for editors; ignored" };
  for (const [path, note] of ALIAS_NOTES) {
    const node = propertyAt(schema, path);
    if (node) node.description = node.description ? `${node.description}. ${note}` : note;
  }
  return schema;
}

/** Adds `patternProperties: {"^_": {}}` to every closed object, because normalize.ts strips such keys. */
function allowCommentKeys(node: unknown): void {
  if (Array.isArray(node)) {
    node.forEach(allowCommentKeys);
    return;
  }
  if (node === null || typeof node !== "object") return;
  const obj = node as JsonObject;
  if (obj.type === "object" && obj.additionalProperties === false) obj.patternProperties = { "^_": {} };
  for (const value of Object.values(obj)) allowCommentKeys(value);
}

function propertyAt(schema: JsonObject, path: string[]): JsonObject | undefined {
  let node: JsonObject | undefined = schema;
  for (const key of path) {
    node = key === "*"
      ? node?.items as JsonObject
      : (node?.properties as JsonObject | undefined)?.[key] as JsonObject;
    if (!node) return undefined;
  }
  return node;
}
