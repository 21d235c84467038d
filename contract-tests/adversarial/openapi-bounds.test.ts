// Issue 10 §2: every value a client can send is bounded in the spec (the OWASP API4 "unrestricted resource
// consumption" rules, checked here without the Spectral ruleset, which cannot be installed offline). Walks every
// parameter and request body of generated/openapi.json; a gap must be bounded in spec/*.tsp or listed below with
// its reason. Responses are Gatehouse's own output and are not walked.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";

type Schema = Record<string, unknown>;
const spec = JSON.parse(readFileSync(resolve(import.meta.dirname, "../../generated/openapi.json"), "utf8")) as {
  paths: Record<
    string,
    Record<
      string,
      {
        operationId?: string;
        parameters?: { name: string; in: string; schema: Schema }[];
        requestBody?: { content: Record<string, { schema: Schema }> };
      }
    >
  >;
  components: { schemas: Record<string, Schema> };
};

/** Written reasons for the gaps that stay. */
const REASONS: { match: (gap: Gap) => boolean; reason: string }[] = [
  {
    match: (g) => g.kind === "object",
    reason:
      "free-form object (params, context, tools, headers, puruto payload): TypeSpec 1.11 has no maxProperties " +
      "decorator; the body size limit and the JSON depth limit (32) at the boundary bound it",
  },
  {
    match: (g) => g.kind === "string" && g.where.endsWith("/items"),
    reason: "item of an array that has maxItems; the body size limit bounds the whole",
  },
  {
    match: (g) => g.kind === "string" && g.where.includes("/unevaluatedProperties/"),
    reason: "value of a free-form map (a connector header): the body size limit bounds it",
  },
  { match: (g) => g.kind === "string" && g.format === "date-time", reason: "date-time format bounds its length" },
];

interface Gap {
  kind: "string" | "array" | "integer" | "number" | "object";
  where: string;
  format?: string;
}

function gapsOf(schema: Schema, where: string, seen: Set<string>, gaps: Gap[]): void {
  if (typeof schema.$ref === "string") {
    const name = schema.$ref.split("/").pop() as string;
    if (!seen.has(name)) {
      seen.add(name);
      gapsOf(spec.components.schemas[name] ?? {}, `#/components/schemas/${name}`, seen, gaps);
    }
    return;
  }
  const t = schema.type;
  const bounded = (...keys: string[]) => keys.every((k) => schema[k] !== undefined);
  const fixed = schema.enum !== undefined || schema.const !== undefined;
  if (t === "string" && !fixed && !bounded("maxLength"))
    gaps.push({ kind: "string", where, ...(schema.format ? { format: String(schema.format) } : {}) });
  if (t === "array" && !bounded("maxItems")) gaps.push({ kind: "array", where });
  if ((t === "integer" || t === "number") && !bounded("minimum", "maximum")) gaps.push({ kind: t, where });
  const open = schema.unevaluatedProperties ?? schema.additionalProperties;
  const sealed = open === false || (typeof open === "object" && open !== null && "not" in open);
  if (t === "object" && !sealed && !bounded("maxProperties") && (open !== undefined || !schema.properties))
    gaps.push({ kind: "object", where });
  for (const [key, value] of Object.entries(schema)) {
    if (Array.isArray(value)) {
      value.forEach((v, i) => {
        if (typeof v === "object" && v) gapsOf(v as Schema, `${where}/${key}/${i}`, seen, gaps);
      });
    } else if (typeof value === "object" && value && key !== "examples" && key !== "default")
      gapsOf(value as Schema, `${where}/${key}`, seen, gaps);
  }
}

function requestGaps(): Gap[] {
  const gaps: Gap[] = [];
  const seen = new Set<string>();
  for (const item of Object.values(spec.paths)) {
    for (const op of Object.values(item)) {
      if (!op.operationId) continue;
      for (const p of op.parameters ?? []) gapsOf(p.schema, `${op.operationId} ${p.in} ${p.name}`, seen, gaps);
      const body = op.requestBody?.content["application/json"]?.schema;
      if (body) gapsOf(body, `${op.operationId} body`, seen, gaps);
    }
  }
  return gaps;
}

describe("request bounds in the spec (OWASP API4)", () => {
  const gaps = requestGaps();

  it("every string a client sends has maxLength, every array maxItems, every number a range — or a written reason", () => {
    const unexplained = gaps.filter((g) => !REASONS.some((r) => r.match(g)));
    expect(unexplained).toEqual([]);
  });

  it("still finds gaps when a bound is missing (the walker works)", () => {
    const probe: Gap[] = [];
    gapsOf(
      { type: "object", properties: { a: { type: "string" }, b: { type: "array", items: { type: "integer" } } } },
      "probe",
      new Set(),
      probe,
    );
    expect(probe.map((g) => g.kind).sort()).toEqual(["array", "integer", "string"]);
  });

  it("bounds the identifiers and free text of the governed-action requests", () => {
    const action = spec.components.schemas.Action as { properties: Record<string, Schema> };
    expect(action.properties.tool?.maxLength).toBe(128);
    expect(action.properties.amount?.maximum).toBeDefined();
    const batch = spec.components.schemas.BatchRequest as { properties: Record<string, Schema> };
    expect(batch.properties.actions?.maxItems).toBe(100);
  });
});
