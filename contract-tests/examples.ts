// Every named example in the published spec, as a replayable case. An example name ties together the
// request parts (path/query/header parameter examples and the request body example) and the response
// example with the same name, under whichever status it is documented.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

type Json = Record<string, unknown>;

export interface ExampleCase {
  name: string;
  operationId: string;
  method: string;
  path: string;
  params: Record<string, string>;
  query: Record<string, string>;
  headers: Record<string, string>;
  body?: unknown;
  /** Present when the spec documents the response of this example. */
  response?: { status: number; contentType: string; body: unknown };
  security: string[];
}

export const openapi = JSON.parse(
  readFileSync(resolve(import.meta.dirname, "../generated/openapi.json"), "utf8"),
) as Json;

export function collectCases(doc: Json = openapi): ExampleCase[] {
  const cases: ExampleCase[] = [];
  for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
    for (const method of ["get", "post", "put", "patch", "delete"]) {
      const op = item[method] as Json | undefined;
      if (!op) continue;
      const names = new Set<string>();
      const params = (op.parameters ?? []) as Json[];
      for (const p of params) for (const n of Object.keys((p.examples ?? {}) as Json)) names.add(n);
      const bodyExamples = (
        ((op.requestBody as Json | undefined)?.content as Json | undefined)?.["application/json"] as Json | undefined
      )?.examples as Record<string, Json> | undefined;
      for (const n of Object.keys(bodyExamples ?? {})) names.add(n);
      const responses: Array<{ status: number; contentType: string; examples: Record<string, Json> }> = [];
      for (const [status, r] of Object.entries((op.responses ?? {}) as Record<string, Json>)) {
        for (const [contentType, media] of Object.entries((r.content ?? {}) as Record<string, Json>)) {
          const examples = (media.examples ?? {}) as Record<string, Json>;
          for (const n of Object.keys(examples)) names.add(n);
          responses.push({ status: Number(status), contentType, examples });
        }
      }
      const security = ((op.security ?? doc.security ?? []) as Json[]).flatMap((s) => Object.keys(s));
      for (const name of [...names].sort()) {
        const pick = (where: string) =>
          Object.fromEntries(
            params
              .filter((p) => p.in === where && (p.examples as Json | undefined)?.[name])
              .map((p) => [p.name as string, String(((p.examples as Json)[name] as Json).value)]),
          );
        const resp = responses.find((r) => r.examples[name]);
        cases.push({
          name,
          operationId: op.operationId as string,
          method: method.toUpperCase(),
          path,
          params: pick("path"),
          query: pick("query"),
          headers: pick("header"),
          body: bodyExamples?.[name]?.value,
          ...(resp
            ? { response: { status: resp.status, contentType: resp.contentType, body: resp.examples[name]?.value } }
            : {}),
          security,
        });
      }
    }
  }
  return cases;
}

export function urlOf(c: ExampleCase, base: string): string {
  const path = c.path.replace(/\{([^}]+)\}/g, (_m, p: string) => encodeURIComponent(c.params[p] ?? `missing-${p}`));
  const qs = new URLSearchParams(c.query).toString();
  return base + path + (qs ? `?${qs}` : "");
}

/** Which credentials an example is about, from its name (`*unauthorized*`, `*not_configured*`). */
export function scenarioOf(c: ExampleCase): "normal" | "no-credentials" | "no-keys-configured" {
  if (c.name.includes("not_configured")) return "no-keys-configured";
  if (c.name.includes("unauthorized")) return "no-credentials";
  return "normal";
}
