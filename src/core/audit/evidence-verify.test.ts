// The offline verifier knows the bundle's shape without the spec at hand (it runs with nothing but the JWKS), so
// its lists of fields are written out: here they are held to the OpenAPI document, field for field. A field added
// to an Evidence* model in spec/ and not here would make every new bundle fail verification; one removed from the
// spec and kept here would let a bundle carry a claim nothing vouches for.
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { resolve } from "node:path";
import { BUNDLE_FIELDS, SECTION_FIELDS } from "./evidence-verify";

type Schema = {
  properties?: Record<string, { $ref?: string; allOf?: { $ref?: string }[]; anyOf?: { $ref?: string }[] }>;
};
const OPENAPI_FILE = resolve(import.meta.dirname, "../../../generated/openapi.json");
const schemas = (JSON.parse(readFileSync(OPENAPI_FILE, "utf8")) as { components: { schemas: Record<string, Schema> } })
  .components.schemas;
const bundle = schemas.EvidenceBundle!;

it("the bundle's fields are EvidenceBundle's", () => {
  expect([...BUNDLE_FIELDS].sort()).toEqual(Object.keys(bundle.properties ?? {}).sort());
});

it.each(Object.keys(SECTION_FIELDS))("the fields of section %s are its model's", (section) => {
  const property = bundle.properties?.[section];
  const ref = property?.$ref ?? property?.allOf?.[0]?.$ref ?? property?.anyOf?.[0]?.$ref;
  const model = schemas[String(ref).split("/").pop()!];
  expect([...SECTION_FIELDS[section]!].sort()).toEqual(Object.keys(model?.properties ?? {}).sort());
});
