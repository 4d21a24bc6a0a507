/**
 * The JSON Schema that `kairos schema` prints, for editors (`"$schema"` in a config file). It is generated
 * from the zod schema (input side, so defaulted fields are optional and keep their descriptions and
 * defaults), then widened to what the loader reads: the kairos-rs spellings that normalize.ts maps
 * (json_schema_dialects.ts), `_` keys and `$schema` at any depth, null for an optional field (absent), and a
 * `${NAME}` placeholder wherever a string is constrained (its value is only known at load).
 *
 * Unknown keys stay refused (`additionalProperties: false`). The loader drops them with a warning, so a
 * misspelled `timout_ms` silently falls back to its default; the editor's squiggle is the earliest place to
 * catch that, and editors show schema problems as warnings, like the loader. So the schema accepts what
 * `kairos validate --strict` accepts; what JSON Schema cannot say (cross-field checks, regex syntax, CIDRs)
 * only `kairos validate` checks.
 */
import { z } from "zod";
import { PLACEHOLDER_SOURCE } from "./env_placeholders.ts";
import { addDialects, type JsonSchema } from "./json_schema_dialects.ts";
import { configSchema } from "./schema.ts";

// stripIgnoredKeys drops these keys at every depth. At the top level `$schema` is a declared property,
// and a pattern matching a declared property is an error in strict validators (Ajv).
const TOP_IGNORED_KEYS = { "^_": {} };
const IGNORED_KEYS = { "^_": {}, "^\\$schema$": {} };
const PLACEHOLDER_REF = { $ref: "#/$defs/env_placeholder" };
// Kept beside the validation keywords' new `anyOf` when a node is split (see `withPlaceholder`).
const ANNOTATIONS = new Set(["description", "default", "deprecated", "title", "examples"]);
// zod writes its string checks as `format` too; the `pattern` beside each says the same in standard terms.
const ZOD_ONLY_FORMATS = new Set(["starts_with", "ends_with", "includes", "lowercase", "uppercase", "regex"]);

/** The config's JSON Schema (draft 2020-12): canonical fields, kairos-rs spellings, and the loader's leniency. */
export function configJsonSchema(): JsonSchema {
  const schema = z.toJSONSchema(configSchema, { io: "input" }) as JsonSchema;
  dropZodFormats(schema);
  addDialects(schema);
  const properties = schema.properties as JsonSchema;
  properties.$schema = { type: "string", description: "URL of this JSON Schema, for editors; ignored" };
  relax(schema, false);
  schema.patternProperties = TOP_IGNORED_KEYS;
  schema.$defs = {
    env_placeholder: {
      type: "string",
      pattern: PLACEHOLDER_SOURCE,
      description: "Contains ${NAME}: replaced by the environment variable NAME when the config is loaded",
    },
  };
  return schema;
}

function isSchema(value: unknown): value is JsonSchema {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function dropZodFormats(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(dropZodFormats);
  if (!isSchema(node)) return;
  if (typeof node.format === "string" && ZOD_ONLY_FORMATS.has(node.format)) delete node.format;
  for (const value of Object.values(node)) dropZodFormats(value);
}

/**
 * Widens a value schema and everything it holds to what the loader accepts; returns the (maybe new) node.
 * It follows `properties`, `additionalProperties`, `items` and `anyOf` (a value's alternatives) only: the
 * structural rules in `allOf` (json_schema_dialects.ts) test presence and must stay as written.
 */
function relax(node: JsonSchema, optional: boolean, alternative = false): JsonSchema {
  const required = new Set((node.required ?? []) as string[]);
  if (isSchema(node.properties)) {
    const properties = node.properties;
    for (const [key, sub] of Object.entries(properties)) {
      properties[key] = relax(sub as JsonSchema, !required.has(key));
    }
  }
  // A record value of null drops the entry, like an optional field.
  if (isSchema(node.additionalProperties)) node.additionalProperties = relax(node.additionalProperties, true);
  if (isSchema(node.items)) node.items = relax(node.items, false);
  const closed = node.additionalProperties === false ||
    (isSchema(node.additionalProperties) && Object.keys(node.additionalProperties).length > 0);
  if (node.type === "object" && closed) node.patternProperties = IGNORED_KEYS;
  if (Array.isArray(node.anyOf)) {
    node.anyOf = node.anyOf.map((branch: JsonSchema) => relax(branch, false, true));
    if (!alternative && node.anyOf.some(isConstrainedString)) node.anyOf.push(PLACEHOLDER_REF);
  } else if (!alternative && isConstrainedString(node)) {
    node = withPlaceholder(node);
  }
  if (optional) allowNull(node);
  return node;
}

function types(node: JsonSchema): unknown[] {
  return node.type === undefined ? [] : [node.type].flat();
}

/** A string with an enum, pattern, format or length: a `${NAME}` placeholder might not match it as written. */
function isConstrainedString(node: JsonSchema): boolean {
  return types(node).includes("string") &&
    ["enum", "const", "pattern", "format", "minLength", "maxLength"].some((key) => key in node);
}

/** `{description, default, anyOf: [the original checks, a placeholder]}`: hovers still show the annotations. */
function withPlaceholder(node: JsonSchema): JsonSchema {
  const outer: JsonSchema = {};
  const checks: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) (ANNOTATIONS.has(key) ? outer : checks)[key] = value;
  return { ...outer, anyOf: [checks, PLACEHOLDER_REF] };
}

/** stripIgnoredKeys reads a null-valued key as absent (serde's reading of `null` for an `Option`). */
function allowNull(node: JsonSchema): void {
  if (Array.isArray(node.anyOf)) {
    if (!node.anyOf.some((branch: JsonSchema) => types(branch).includes("null"))) {
      node.anyOf.push({ type: "null" });
    }
    return;
  }
  const list = types(node);
  if (list.length === 0 || list.includes("null")) return; // `{}` already takes anything
  node.type = [...list, "null"];
  if (Array.isArray(node.enum)) node.enum = [...node.enum, null];
}
