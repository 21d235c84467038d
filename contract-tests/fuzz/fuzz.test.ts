// The fuzzer's short run inside `make test` (`make fuzz` runs 20,000): seeded schema-derived requests over every
// operation of the OpenAPI; no 5xx, every 4xx problem+json, no dropped connection.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../fixtures";
import { formatReport, fuzz, loadOperations } from "./fuzzer";

let g: TestGatehouse;
beforeAll(async () => {
  g = await startTestGatehouse();
});
afterAll(() => g.dispose());

describe("schema-derived fuzzing", () => {
  it("2,000 requests over every operation: 0 × 5xx, every 4xx problem+json", { timeout: 240_000 }, async () => {
    const target = { url: g.url, apiKey: g.apiKey, operatorToken: g.operatorToken, orgId: g.orgId };
    const report = await fuzz(target, { seed: 2026, requests: 2000, concurrency: 4 });
    const summary = formatReport(target, report);
    expect(report.serverErrors, summary).toEqual([]);
    expect(report.nonProblem4xx, summary).toEqual([]);
    expect(report.networkErrors, summary).toEqual([]);
    // Every operation of the spec was exercised.
    expect(Object.keys(report.byOperation).sort()).toEqual(
      loadOperations()
        .operations.map((o) => o.operationId)
        .sort(),
    );
  });
});
