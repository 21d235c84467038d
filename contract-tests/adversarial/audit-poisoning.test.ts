// Issue 10 §3: hostile writes cannot poison the audit log. An agent sends huge, deep and wide params; the stored
// record keeps each oversized value as hash + preview and says so (meta.truncated), and every operator read
// (list, get, export, online verify) keeps working — after a restart too.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { boundMembers, MAX_STORED_VALUE_BYTES } from "../../src/core/audit/bound";
import { sha256Canonical } from "../../src/core/audit/canonical";
import { startTestGatehouse, type TestGatehouse } from "../fixtures";
import { registerSupportBot } from "../setups/governed-actions";

const dataDir = mkdtempSync(join(tmpdir(), "gatehouse-audit-poison-"));
let g: TestGatehouse;
beforeAll(async () => {
  g = await startTestGatehouse({ env: { GATEHOUSE_DATA_DIR: dataDir } });
  await registerSupportBot(g);
});
afterAll(async () => {
  await g.close();
  rmSync(dataDir, { recursive: true, force: true });
});

function nestedObject(depth: number): unknown {
  let value: unknown = "leaf";
  for (let i = 0; i < depth; i++) value = { n: value };
  return value;
}

const hostileParams = {
  to: "customer@example.com",
  huge: "x".repeat(600_000),
  deep: nestedObject(28),
  wide: Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`k${i}`, `value-${i}`])),
};

async function operator(path: string) {
  const res = await fetch(`${g.url}/api/v1/orgs/${g.orgId}${path}`, {
    headers: { authorization: `Bearer ${g.operatorToken}` },
  });
  return { status: res.status, text: await res.text() };
}

async function operatorReadsWork() {
  const list = await operator("/interactions?limit=50");
  expect(list.status).toBe(200);
  const items = (
    JSON.parse(list.text) as {
      items: {
        interaction_id: string;
        action: { params: Record<string, unknown> } | null;
        kind: string;
        meta?: { truncated?: string[]; context?: { user?: string } };
      }[];
    }
  ).items;
  expect(items.length).toBeGreaterThan(0);
  expect(list.text.length).toBeLessThan(200_000);
  const get = await operator(`/interactions/${items[0]?.interaction_id}`);
  expect(get.status).toBe(200);
  const exported = await operator("/interactions/export");
  expect(exported.status).toBe(200);
  const verify = await operator("/interactions/verify");
  expect(JSON.parse(verify.text)).toMatchObject({ valid: true });
  return items;
}

describe("hostile params in the audit log", () => {
  it("bounds each oversized value to hash + preview and names it", () => {
    const { value, truncated } = boundMembers("params", hostileParams);
    const stored = value as Record<string, { truncated?: boolean; sha256?: string; preview?: string }>;
    expect(truncated.sort()).toEqual(["params.deep", "params.huge", "params.wide"]);
    expect(stored.to).toBe("customer@example.com");
    expect(stored.huge?.sha256).toBe(sha256Canonical(hostileParams.huge));
    expect(stored.huge?.preview?.length).toBeLessThanOrEqual(256);
    expect(JSON.stringify(value).length).toBeLessThan(4 * MAX_STORED_VALUE_BYTES);
  });

  it("keeps operator reads working after hostile writes, and after a restart", async () => {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${g.url}/api/v1/gateway/execute`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": g.apiKey },
        body: JSON.stringify({
          uapk_id: "customer-support-bot",
          agent_id: "customer-support-bot",
          action: { type: "email", tool: "send", params: hostileParams },
        }),
      });
      expect(res.status).toBeLessThan(500);
    }
    // The request's free-form context is the agent's too: bounded like its params, in the intent and the outcome.
    const withContext = await fetch(`${g.url}/api/v1/gateway/execute`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": g.apiKey },
      body: JSON.stringify({
        uapk_id: "customer-support-bot",
        agent_id: "customer-support-bot",
        context: { user: "ann", huge: "x".repeat(600_000) },
        action: { type: "email", tool: "send", params: { to: "customer@example.com" } },
      }),
    });
    expect(withContext.status).toBe(200);
    const items = await operatorReadsWork();
    // The decision/intent names the bounded params; an outcome whose connector echoed them names result.data.*.
    const named = items.flatMap((r) => r.meta?.truncated ?? []);
    expect(named).toEqual(expect.arrayContaining(["params.huge", "params.deep", "params.wide"]));
    const contextual = items.filter((r) => r.meta?.truncated?.includes("meta.context.huge"));
    expect(contextual.map((r) => r.kind).sort()).toEqual(["intent", "outcome"]);
    expect(contextual[0]?.meta?.context?.user).toBe("ann");
    const withParams = items.find((r) => r.action?.params?.huge !== undefined);
    expect(withParams?.action?.params.to).toBe("customer@example.com");

    await g.close();
    g = await startTestGatehouse({ env: { GATEHOUSE_DATA_DIR: dataDir } });
    await operatorReadsWork();
  });
});
