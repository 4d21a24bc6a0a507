import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { configJsonSchema } from "../../src/config/json_schema.ts";
Deno.test("probe", () => {
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
  (addFormats as any)(ajv);
  const v = ajv.compile(configJsonSchema());
  console.log(typeof v);
});
