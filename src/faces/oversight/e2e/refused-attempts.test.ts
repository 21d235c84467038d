// A refused attempt at an approval leaves a signed audit record: an operator approving the action they asked for
// (their MCP session) gets 403 SELF_APPROVAL, and the org's chain gains a `refusal` record naming them. It is not a
// verdict: the approval stays pending, the evidence bundle still says so (its status comes from `approval` records),
// and the chain and the bundle still verify offline (`gatehouse evidence verify`).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../../cli/program";
import { gatehouseBackends, type OpenedBackend } from "../../../test-support/backends";
import { startTestGatehouse, type TestGatehouse } from "../../../test-support/gatehouse";
import { operator } from "../../../test-support/http";
import { expectMatchesSpec } from "../../../test-support/spec-check";
import { mcpClient, registerMcpBot, UAPK } from "../../../test-support/mcp";

const ALICE = "alice@acme.example";
const backends = await gatehouseBackends("refused approval attempts");

type Record_ = { kind: string; approval_id: string | null; decision: string; meta: Record<string, unknown> | null };

describe.each(backends)("refused approval attempts ($name)", (backend) => {
  let opened: OpenedBackend;
  let g: TestGatehouse;
  let alice: Client;
  let work: string;

  beforeAll(async () => {
    opened = await backend.open();
    g = await startTestGatehouse({ env: { ...opened.env, GATEHOUSE_MCP_APPROVAL_WAIT_SECONDS: "0" } });
    await registerMcpBot(g);
    alice = await mcpClient(`${g.url}/mcp/agents/${UAPK}`, {
      Authorization: `Bearer ${await g.userTokenFor(g.orgId, ALICE, ["operator"])}`,
    });
    work = mkdtempSync(join(tmpdir(), "gatehouse-refusals-"));
  });

  afterAll(async () => {
    await alice?.close();
    await g?.dispose();
    await opened?.dispose();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  async function approveAs(approvalId: string, sub: string) {
    const token = await g.userTokenFor(g.orgId, sub, ["operator"]);
    return fetch(`${g.url}/api/v1/orgs/${g.orgId}/approvals/${approvalId}/approve`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ reason: "checked" }),
    });
  }

  async function verifyBundle(bundle: unknown) {
    const file = join(work, `bundle-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify(bundle));
    // Read now: the audit key is made with the chain's first record.
    const jwks = await fetch(`${g.url}/.well-known/jwks.json`).then((r) => r.json());
    writeFileSync(join(work, "jwks.json"), JSON.stringify(jwks));
    const out: string[] = [];
    const code = await runCli(["evidence", "verify", file, "--jwks", join(work, "jwks.json")], {
      stdout: (l) => out.push(l),
      stderr: (l) => out.push(l),
    });
    return { code, out: out.join("\n") };
  }

  it("self-approval is refused AND audited; the record is no verdict; chain and evidence still verify", async () => {
    const pending = await alice.callTool({
      name: "crm_delete",
      arguments: { params: { id: "refused-1" }, counterparty: "refused-1@ok.example" },
    });
    const { approval_id: approvalId, interaction_id: interactionId } = pending.structuredContent as {
      approval_id: string;
      interaction_id: string;
    };
    expect((await approveAs(approvalId, "ALICE@acme.example")).status).toBe(403);

    const records = (await operator(g).get(`/interactions?limit=50`)).body.items as Record_[];
    const refusal = records.find((r) => r.kind === "refusal" && r.approval_id === approvalId);
    expect(refusal).toMatchObject({
      decision: "DENY",
      meta: { refused: "SELF_APPROVAL", attempted: "approve", attempted_by: "ALICE@acme.example" },
    });
    expect(refusal?.meta).not.toHaveProperty("approval_status");
    expectMatchesSpec("Interactions_list", 200, (await operator(g).get(`/interactions?limit=50`)).body);
    expect((await operator(g).get(`/approvals/${approvalId}`)).body.status).toBe("pending");
    expect((await operator(g).get("/interactions/verify")).body).toMatchObject({ valid: true });

    // The bundle includes the refusal (it is in the escalated interaction) and still says pending: no verdict.
    const before = (await operator(g).get(`/interactions/${interactionId}/evidence`)).body;
    expect(before.approval).toMatchObject({ approval_id: approvalId, status: "pending" });
    expect(before.approval).not.toHaveProperty("decided_by");
    const first = await verifyBundle(before);
    expect(first.code, first.out).toBe(0);

    // Another operator approves: the verdict is theirs, the refusal stays beside it.
    expect((await approveAs(approvalId, "bob@acme.example")).status).toBe(200);
    const after = (await operator(g).get(`/interactions/${interactionId}/evidence`)).body;
    expect(after.approval).toMatchObject({ status: "approved", decided_by: "bob@acme.example" });
    const chainKinds = (after.proof.chain as Record_[]).filter((r) => r.approval_id === approvalId).map((r) => r.kind);
    expect(chainKinds).toEqual(["decision", "refusal", "approval"]);
    const verified = await verifyBundle(after);
    expect(verified.code, verified.out).toBe(0);
    expect(verified.out).toContain("approved by bob@acme.example");
  });
});
