// Path and query values arrive as text, and Ajv's type coercion reads any text JavaScript takes for a number:
// `?limit=0x10` was 16, `1e2` 100, `0b11` 3, ` 5` 5, and `/manifests/x/versions/1e0` version 1. A client that sends
// those meant something else (or is probing what reaches the handler): a numeric parameter is read only from plain
// decimal digits, anything else is 400 like any other wrong type.
import type { ProblemItem } from "./boundary";

/** A path or query parameter the spec types as a number. */
export interface NumericParam {
  where: "path" | "query";
  name: string;
  kind: "integer" | "number";
}

const DECIMAL: Record<NumericParam["kind"], RegExp> = {
  integer: /^-?[0-9]+$/,
  number: /^-?[0-9]+(\.[0-9]+)?$/,
};

const MESSAGE: Record<NumericParam["kind"], string> = {
  integer: "must be an integer written in decimal digits",
  number: "must be a number written in decimal digits",
};

/** The numeric parameters whose text is not plain decimal, as problem items (none: all are, or absent). */
export function nonDecimalParams(
  numeric: readonly NumericParam[],
  values: { path: Record<string, unknown>; query: Record<string, unknown> },
): ProblemItem[] {
  const problems: ProblemItem[] = [];
  for (const { where, name, kind } of numeric) {
    const value = values[where][name];
    // An absent parameter is the schema's business, and so is a repeated one (an array: a wrong type).
    if (typeof value === "string" && !DECIMAL[kind].test(value)) {
      problems.push({ pointer: `/${where}/${name}`, message: MESSAGE[kind] });
    }
  }
  return problems;
}

/** The parameter's type when the spec makes it a number (a `$ref` resolved against the document's schemas). */
export function numericKind(
  schema: Record<string, unknown> | undefined,
  schemas: Record<string, Record<string, unknown>>,
): NumericParam["kind"] | undefined {
  const ref = schema?.$ref;
  const resolved = typeof ref === "string" ? schemas[ref.split("/").pop() as string] : schema;
  const type = resolved?.type;
  return type === "integer" || type === "number" ? type : undefined;
}
