// Replays every documented example against the real server: the status must be the documented one, the
// body must be valid against the spec, and the fields that do not vary between runs must be equal.
// An operation whose face has not landed answers 501: counted as pending, listed in the coverage line.
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { loadSpec } from "../src/http/spec";
import { collectCases, scenarioOf, urlOf, type ExampleCase } from "./examples";
import { record } from "./coverage";
import { expectationFor } from "./expectations";
import { API_KEY, setups, startTestGatehouse, withOverrides, type TestGatehouse } from "./fixtures";
import { deliver, disposeScenarios, scenarioFor, type Scenario } from "./scenarios";

const spec = loadSpec();
const cases = collectCases();
let running: TestGatehouse | undefined;
let condition: Scenario | undefined;
afterEach(async () => {
  await condition?.after?.();
  await running?.dispose();
  running = undefined;
  condition = undefined;
});
afterAll(disposeScenarios);

async function replay(documented: ExampleCase) {
  const scenario = scenarioOf(documented);
  // The condition the example is about (./scenarios.ts): how the server is started and the request sent.
  condition = scenarioFor(documented);
  running = await startTestGatehouse({
    env: {
      ...(scenario === "no-keys-configured" ? { PURUTO_GATEWAY_API_KEY: "" } : {}),
      ...(await condition?.env()),
    },
  });
  // The setup creates the state the example needs; ids it issued replace the documented placeholders.
  const prepared = (await setups[documented.name]?.(running, documented)) ?? {};
  const conditionHeaders = (await condition?.before?.(running)) ?? {};
  const c = withOverrides(documented, prepared.request);
  const headers: Record<string, string> = { ...c.headers };
  // A setup may name the caller (an operator whose name the example prints); otherwise the test's own.
  if (scenario === "normal" && !headers.Authorization) {
    if (c.security.includes("ApiKeyAuth")) headers["X-API-Key"] = API_KEY;
    else if (c.security.includes("BearerAuth")) headers.Authorization = `Bearer ${running.operatorToken}`;
  } else if (scenario === "no-credentials" && c.security.includes("ApiKeyAuth")) {
    headers["X-API-Key"] = "wrong-key-for-this-example";
  }
  Object.assign(headers, conditionHeaders);
  const res = await deliver(urlOf(c, running.url), c.method, headers, c.body, condition?.delivery);
  const { text, contentType } = res;
  return {
    status: res.status,
    contentType,
    body: contentType.includes("json") ? JSON.parse(text) : text,
    context: { request: c, facts: prepared.facts ?? {} },
  };
}

describe("every example, against the real server", () => {
  it.each(cases.map((c) => [c.name + " " + c.method + " " + c.path, c] as const))("%s", async (_label, c) => {
    const res = await replay(c);
    // 501 is pending work, unless the example documents it.
    if (res.status === 501 && c.response?.status !== 501) {
      record("server", `${c.operationId}:${c.name}`, "pending", c.operationId);
      return;
    }
    const op = spec.byId.get(c.operationId)!;
    const expectedStatus = c.response?.status;
    if (expectedStatus !== undefined) expect(res.status, JSON.stringify(res.body)).toBe(expectedStatus);
    else expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);

    const validate = op.responses.get(res.status)?.validate;
    expect(validate, `no schema declared for ${c.operationId} ${res.status}`).toBeDefined();
    expect(validate!(res.body), JSON.stringify(validate!.errors)).toBe(true);
    if (res.status >= 400) expect(res.contentType).toContain("application/problem+json");

    if (c.response) expectationFor(c)(c.response.body, res.body, res.context);
    record("server", `${c.operationId}:${c.name}`, "green");
  });
});
