// Test support: checks a live response body against what generated/openapi.json declares for the operation
// and status, so a mapping that leaks an undeclared field or drops a required one fails the test.
import { expect } from "vitest";
import type { OperationId } from "../http/handlers";
import { loadSpec } from "../http/spec";

const spec = loadSpec();

export function expectMatchesSpec(operationId: OperationId, status: number, body: unknown): void {
  const response = spec.byId.get(operationId)?.responses.get(status);
  if (!response) throw new Error(`${operationId} declares no ${status} response`);
  if (!response.validate) throw new Error(`${operationId} ${status} has no JSON schema to check against`);
  const valid = response.validate(body);
  // Raw Ajv errors: a sealed object's extra field fails as `unevaluatedProperties/not`, which
  // describeErrors drops, so the verdict is `valid` itself and the errors only explain it.
  const errors = (response.validate.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.schemaPath}: ${e.message}`);
  expect(valid ? [] : errors, `${operationId} ${status} body`).toEqual([]);
}
