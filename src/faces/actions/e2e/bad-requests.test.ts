// Every operation of the governed-actions and oversight API can answer 400: the HTTP layer rejects unknown
// query parameters, out-of-range query values and malformed bodies before any handler runs. A client generated
// from the spec must find that 400 (a problem+json) declared, or it treats a documented error as a surprise.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../../contract-tests/fixtures";
import { loadSpec } from "../../../http/spec";
import { expectMatchesSpec } from "../../../test-support/spec-check";

const governedOperations = loadSpec().operations.filter((op) => op.path.startsWith("/api/v1/"));

let gh: TestGatehouse;

beforeAll(async () => {
  gh = await startTestGatehouse();
});
afterAll(async () => {
  await gh?.dispose();
});

function credentialsFor(security: string[]): Record<string, string> {
  if (security.includes("ApiKeyAuth")) return { "x-api-key": gh.apiKey };
  if (security.includes("BearerAuth")) return { authorization: `Bearer ${gh.operatorToken}` };
  return {};
}

describe("400 is declared wherever the gateway can answer it", () => {
  it("covers the whole face", () => {
    expect(governedOperations.length).toBeGreaterThanOrEqual(20);
  });

  it.each(governedOperations.map((op) => [op.operationId, op] as const))(
    "%s: an unknown query parameter → a declared 400 problem",
    async (operationId, op) => {
      const path = op.path.replace(/\{[^}]+\}/g, (name) => (name === "{org_id}" ? gh.orgId : "qa-unknown-id"));
      const response = await fetch(`${gh.url}${path}?not_a_parameter=1`, {
        method: op.method.toUpperCase(),
        headers: {
          ...credentialsFor(op.security),
          ...(op.method === "post" ? { "content-type": "application/json" } : {}),
        },
        ...(op.method === "post" ? { body: "{}" } : {}),
      });
      expect(response.status).toBe(400);
      expect(response.headers.get("content-type")).toContain("application/problem+json");
      const problem = (await response.json()) as { errors?: { pointer: string }[] };
      expect(problem.errors?.map((e: { pointer: string }) => e.pointer)).toContain("/query/not_a_parameter");
      expectMatchesSpec(operationId, 400, problem);
    },
  );
});
