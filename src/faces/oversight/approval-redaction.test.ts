// An approval is shown with its tool's redaction applied, and that redaction never weakens with time: a manifest
// reloaded (GitOps) without a path it named before still hides that value in the approvals asked for under it —
// in the operator's GET and list and in the verdict's audit record. The paths are kept with the approval, on
// both store backends, across a restart.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../contract-tests/fixtures";
import { agent, executeBody, exportedRecords, operator } from "../../test-support/http";
import { gatehouseBackends, type OpenedBackend } from "../../test-support/backends";

const UAPK = "card-bot";
const CARD = "4111 1111 1111 1111";

function manifest(redact: string[] | undefined) {
  return {
    uapk_id: UAPK,
    agent: { id: UAPK, name: "Card Bot" },
    capabilities: ["payment:send"],
    constraints: { require_human_approval: ["payment:send"] },
    tools: { "payment:send": { connector: { type: "echo" }, ...(redact ? { redact } : {}) } },
  };
}

const backends = await gatehouseBackends("approval redaction over time");

describe.each(backends)("an approval stays redacted after its manifest drops the path ($name)", (backend) => {
  let opened: OpenedBackend;
  let g: TestGatehouse;
  let folder: string;
  let approvalId: string;

  /** A Gatehouse on the same store (data folder or database), loading the manifest folder as it is now. */
  const start = () =>
    startTestGatehouse({
      env: { ...opened.env, GATEHOUSE_DATA_DIR: join(folder, "data"), GATEHOUSE_MANIFEST_DIR: join(folder, "m") },
    });
  const writeManifest = (redact?: string[]) =>
    writeFileSync(join(folder, "m", "card-bot.json"), JSON.stringify(manifest(redact)));

  beforeAll(async () => {
    opened = await backend.open();
    folder = mkdtempSync(join(tmpdir(), "approval-redaction-"));
    for (const dir of ["data", "m"]) mkdirSync(join(folder, dir));
    writeManifest(["params.card"]);
    g = await start();
    const action = { type: "payment", tool: "send", params: { card: CARD, memo: "rent" } };
    const reply = await agent(g).post("/api/v1/gateway/execute", executeBody(UAPK, action));
    expect(reply.body).toMatchObject({ decision: "ESCALATE" });
    approvalId = reply.body.approval_id;
    expect((await operator(g).get(`/approvals/${approvalId}`)).body.action.params.card).toBe("[redacted]");

    // The manifest is reloaded without the path (a later commit of the GitOps folder), on a restarted node.
    await g.dispose();
    writeManifest(undefined);
    g = await start();
  });

  afterAll(async () => {
    await g?.dispose();
    await opened?.dispose();
    rmSync(folder, { recursive: true, force: true });
  });

  it("GET, the list and the agent's read still redact the card", async () => {
    const got = await operator(g).get(`/approvals/${approvalId}`);
    expect(got.body.action.params).toEqual({ card: "[redacted]", memo: "rent" });
    const listed = await operator(g).get("/approvals");
    expect(listed.body.items.find((a: { approval_id: string }) => a.approval_id === approvalId).action.params).toEqual({
      card: "[redacted]",
      memo: "rent",
    });
    const asAgent = await agent(g).get(`/api/v1/gateway/approvals/${approvalId}`);
    expect(asAgent.body.action.params.card).toBe("[redacted]");
    expect(got.text + listed.text + asAgent.text).not.toContain(CARD);
  });

  it("the verdict's audit record redacts it too", async () => {
    expect((await operator(g).post(`/approvals/${approvalId}/approve`, { reason: "ok" })).status).toBe(200);
    const { text, records } = await exportedRecords(g);
    const verdict = records.find((r) => r.approval_id === approvalId && r.kind === "approval");
    expect(verdict?.action?.params?.card).toBe("[redacted]");
    expect(text).not.toContain(CARD);
  });
});
