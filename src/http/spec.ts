// The published OpenAPI document, loaded once, and what the HTTP layer derives from it:
// one entry per operation (method, Koa path, security, parameter and body schemas) and Ajv validators.
// The document is generated/openapi.json — the spec is the router.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import type { components } from "../../generated/api-types";
import { clipped, visibly } from "../core/policy/clip";
import type { ProblemItem } from "./boundary";
import { ID_PATTERN, ID_PATTERN_MESSAGE, idRuleRegExp } from "./control-characters";
import { type NumericParam, numericKind } from "./decimal-params";
import type { OperationId } from "./handlers";

// ajv-formats is CommonJS with a default export; under ESM interop it may arrive wrapped.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as unknown as (
  ajv: Ajv2020,
) => void;

export const OPENAPI_FILE = resolve(import.meta.dirname, "../../generated/openapi.json");

type Json = Record<string, unknown>;

export type SecurityScheme = "ApiKeyAuth" | "BearerAuth";

export interface OperationSpec {
  operationId: OperationId;
  method: string;
  /** OpenAPI path, e.g. /purutos/{name} */
  path: string;
  /** Koa path, e.g. /purutos/:name */
  koaPath: string;
  /** Alternatives: the caller must satisfy one of them. Empty → open. */
  security: SecurityScheme[];
  validatePath?: ValidateFunction | undefined;
  validateQuery?: ValidateFunction | undefined;
  /** The path and query parameters typed as numbers: read only from decimal digits (./decimal-params.ts). */
  numericParams: readonly NumericParam[];
  /** The header parameters the operation declares (lower case), and their validator (none declared: none). */
  headerNames: readonly string[];
  validateHeaders?: ValidateFunction | undefined;
  validateBody?: ValidateFunction | undefined;
  /** The operation documents a request body; a body sent to one that does not is refused (400). */
  takesBody: boolean;
  bodyRequired: boolean;
  /** Status → validator of the JSON body the spec declares (used by tests and the contract replay). */
  responses: Map<number, ResponseSpec>;
}

/** One documented response: its content type and the validator of its JSON body (undefined: not JSON). */
export interface ResponseSpec {
  contentType: string;
  readonly validate: ValidateFunction | undefined;
}

const DOC_ID = "urn:gatehouse:openapi";

/** Rewrites local refs so they resolve inside the registered OpenAPI document. */
function rebase(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(rebase);
  if (schema && typeof schema === "object") {
    const out: Json = {};
    for (const [k, v] of Object.entries(schema)) {
      out[k] = k === "$ref" && typeof v === "string" && v.startsWith("#/") ? DOC_ID + v : rebase(v);
    }
    return out;
  }
  return schema;
}

function newAjv(coerce: boolean): Ajv2020 {
  // The spec's id pattern compiled as the server's whole id rule (./control-characters.ts idRuleRegExp).
  const ajv = new Ajv2020({
    strict: false,
    allErrors: true,
    coerceTypes: coerce,
    useDefaults: false,
    code: { regExp: idRuleRegExp },
  });
  addFormats(ajv);
  return ajv;
}

export interface LoadedSpec {
  document: Json;
  operations: OperationSpec[];
  byId: Map<string, OperationSpec>;
  /**
   * Checks a value against a component schema of the spec (e.g. `ManifestInput` for a manifest file) with the
   * same Ajv instance and the same error items as request bodies; pointers are relative to the value.
   */
  validateSchema(name: SchemaName, value: unknown): ProblemItem[];
}

export type SchemaName = keyof components["schemas"];

export function loadSpec(file = OPENAPI_FILE): LoadedSpec {
  const document = JSON.parse(readFileSync(file, "utf8")) as Json;
  const components = { components: (document.components ?? {}) as Json };
  // Bodies are validated strictly (no coercion); path and query strings are coerced to their declared types.
  const strict = newAjv(false);
  const coercing = newAjv(true);
  strict.addSchema({ $id: DOC_ID, ...components });
  coercing.addSchema({ $id: DOC_ID, ...components });

  const operations: OperationSpec[] = [];
  const globalSecurity = (document.security ?? []) as Json[];
  for (const [path, item] of Object.entries((document.paths ?? {}) as Record<string, Json>)) {
    for (const method of ["get", "post", "put", "patch", "delete"]) {
      const op = item[method] as Json | undefined;
      if (!op) continue;
      const params = [...((item.parameters as Json[]) ?? []), ...((op.parameters as Json[]) ?? [])];
      const schemas = (components.components.schemas ?? {}) as Record<string, Json>;
      const numericParams = params.flatMap((p): NumericParam[] => {
        const kind = numericKind(p.schema as Json | undefined, schemas);
        const where = p.in;
        return kind && (where === "path" || where === "query") ? [{ where, name: p.name as string, kind }] : [];
      });
      const group = (where: string) => params.filter((p) => p.in === where);
      const paramsSchema = (where: string): ValidateFunction | undefined => {
        const ps = group(where);
        if (!ps.length && where !== "query") return undefined;
        return coercing.compile({
          type: "object",
          properties: Object.fromEntries(ps.map((p) => [p.name, rebase(p.schema ?? {})])),
          required: ps.filter((p) => p.required).map((p) => p.name as string),
          // Unknown query parameters are an error, like unknown body fields.
          additionalProperties: false,
        });
      };
      // Header names are case-insensitive (Node gives them in lower case); other headers are no one's business here.
      const headers = group("header");
      const validateHeaders = headers.length
        ? coercing.compile({
            type: "object",
            properties: Object.fromEntries(
              headers.map((p) => [(p.name as string).toLowerCase(), rebase(p.schema ?? {})]),
            ),
            required: headers.filter((p) => p.required).map((p) => (p.name as string).toLowerCase()),
          })
        : undefined;
      const body = ((op.requestBody as Json | undefined)?.content as Json | undefined)?.["application/json"] as
        | Json
        | undefined;
      const responses = new Map<number, ResponseSpec>();
      for (const [status, resp] of Object.entries((op.responses ?? {}) as Record<string, Json>)) {
        const content = (resp.content ?? {}) as Record<string, Json>;
        const [contentType, media] = Object.entries(content)[0] ?? ["", undefined];
        // Compiled on first use: only tests and the conformance tap check responses, the server never does.
        let compiled: ValidateFunction | undefined | null = null;
        responses.set(Number(status), {
          contentType,
          get validate() {
            if (compiled === null)
              compiled =
                media?.schema && contentType.includes("json")
                  ? strict.compile(rebase(media.schema) as Json)
                  : undefined;
            return compiled;
          },
        });
      }
      const security = ((op.security as Json[] | undefined) ?? globalSecurity).flatMap(
        (req) => Object.keys(req) as SecurityScheme[],
      );
      operations.push({
        operationId: op.operationId as OperationId,
        method: method.toUpperCase(),
        path,
        koaPath: path.replace(/\{([^}]+)\}/g, ":$1"),
        security,
        validatePath: paramsSchema("path"),
        validateQuery: paramsSchema("query"),
        numericParams,
        headerNames: headers.map((p) => (p.name as string).toLowerCase()),
        validateHeaders,
        validateBody: body?.schema ? strict.compile(rebase(body.schema) as Json) : undefined,
        takesBody: op.requestBody !== undefined,
        bodyRequired: Boolean((op.requestBody as Json | undefined)?.required),
        responses,
      });
    }
  }
  const componentValidators = new Map<SchemaName, ValidateFunction>();
  const validateSchema = (name: SchemaName, value: unknown): ProblemItem[] => {
    let validate = componentValidators.get(name);
    if (!validate) {
      validate = strict.compile({ $ref: `${DOC_ID}#/components/schemas/${name}` });
      componentValidators.set(name, validate);
    }
    return validate(value) ? [] : describeErrors("", validate.errors);
  };
  return { document, operations, byId: new Map(operations.map((o) => [o.operationId, o])), validateSchema };
}

/**
 * Ajv errors as problem items with a readable message (Ajv's "must NOT be valid" says nothing). The one error
 * format of every door: request parts (`/body/...`), and whole documents such as manifest files (`""`: pointers
 * relative to the document).
 */
export function describeErrors(
  where: "body" | "path" | "query" | "headers" | "",
  errors: ErrorObject[] | null | undefined,
): ProblemItem[] {
  const root = where ? `/${where}` : "";
  return (
    (errors ?? [])
      // A sealed object reports an extra field twice: as `unevaluatedProperties` and as the `not` of its
      // subschema `{not: {}}`. Keep one; other `not`/`if` errors repeat a more precise sibling.
      .filter(
        (e) => !((e.keyword === "not" && !e.schemaPath.endsWith("/unevaluatedProperties/not")) || e.keyword === "if"),
      )
      .map((e) => {
        if (e.keyword === "not") {
          // A name the client chose, quoted visibly (src/core/policy/clip.ts): no raw bidi override or CSI.
          const name = clipped(e.instancePath.split("/").pop() ?? "");
          return { pointer: `${root}${visibly(e.instancePath)}`, message: `unknown field "${name}" is not allowed` };
        }
        const base = `${root}${visibly(e.instancePath)}`;
        if (e.keyword === "unevaluatedProperties" || e.keyword === "additionalProperties") {
          const extra = e.params as { unevaluatedProperty?: string; additionalProperty?: string };
          const name = clipped(extra.unevaluatedProperty ?? extra.additionalProperty ?? "");
          return { pointer: `${base}/${name}`, message: `unknown field "${name}" is not allowed` };
        }
        if (e.keyword === "required") {
          const name = (e.params as { missingProperty: string }).missingProperty;
          return { pointer: `${base}/${name}`, message: `required field "${name}" is missing` };
        }
        if (e.keyword === "enum") {
          const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
          return { pointer: base, message: `must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}` };
        }
        if (e.keyword === "pattern") {
          const said = PATTERN_MESSAGES.get((e.params as { pattern: string }).pattern);
          if (said) return { pointer: base, message: said };
        }
        return { pointer: base, message: e.message ?? "is invalid" };
      })
  );
}

/** The spec's character rules (spec/common.tsp), said in words rather than as the regular expression. */
const PATTERN_MESSAGES = new Map([
  [ID_PATTERN, ID_PATTERN_MESSAGE],
  ["^[^\\u0000]*$", "must not hold NUL (U+0000)"],
]);
