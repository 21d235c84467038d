// Separation of duties: an action a person asked for (their MCP session: the approval records them as the person on
// whose behalf the agent acts) is not approved by that same person through the operator API (REST, the console):
// 403 SELF_APPROVAL problem+json, and the approval stays pending for another operator. The same subject in another
// case or Unicode form is the same person. Denying one's own request is allowed; an escalation asked with the
// agent's API key has no person as requester (a `context.user` the key claims is not a verified person).
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gatehouseBackends, type OpenedBackend } from "../../../test-support/backends";
import { startTestGatehouse, type TestGatehouse } from "../../../test-support/gatehouse";
import { agent, executeBody, operatorRequest } from "../../../test-support/http";
import { expectMatchesSpec } from "../../../test-support/spec-check";
import { mcpClient, registerMcpBot, UAPK } from "../../../test-support/mcp";

const ALICE = "alice@acme.example";
const backends = await gatehouseBackends("self-approval");

describe.each(backends)("self-approval ($name)", (backend) => {
  let opened: OpenedBackend;
  let g: TestGatehouse;
  let alice: Client;

  beforeAll(async () => {
    opened = await backend.open();
    g = await startTestGatehouse({ env: { ...opened.env, GATEHOUSE_MCP_APPROVAL_WAIT_SECONDS: "0" } });
    await registerMcpBot(g);
    alice = await mcpClient(`${g.url}/mcp/agents/${UAPK}`, {
      Authorization: `Bearer ${await g.userTokenFor(g.orgId, ALICE, ["operator"])}`,
    });
  });

  afterAll(async () => {
    await alice?.close();
    await g?.dispose();
    await opened?.dispose();
  });

  /** A pending approval alice's own MCP session asked for. */
  async function alicesApproval(id: string): Promise<string> {
    const pending = await alice.callTool({
      name: "crm_delete",
      arguments: { params: { id }, counterparty: `${id}@ok.example` },
    });
    const approvalId = (pending.structuredContent as { approval_id?: string }).approval_id;
    expect(approvalId, JSON.stringify(pending.structuredContent)).toBeTruthy();
    return approvalId!;
  }

  async function decide(
    approvalId: string,
    verdict: "approve" | "deny",
    sub: string,
    roles = ["operator"],
    org?: string,
  ) {
    const token = await g.userTokenFor(org ?? g.orgId, sub, roles);
    const response = await fetch(`${g.url}/api/v1/orgs/${g.orgId}/approvals/${approvalId}/${verdict}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ reason: "checked" }),
    });
    const body = (await response.json()) as { status?: unknown; code?: string; decided_by?: string };
    return { status: response.status, type: response.headers.get("content-type"), body };
  }

  const statusOf = async (approvalId: string) =>
    (await operatorRequest(g, "GET", `/api/v1/orgs/${g.orgId}/approvals/${approvalId}`)).body.status;

  it("the requester's own approval is 403 SELF_APPROVAL; another operator's is 200", async () => {
    const approvalId = await alicesApproval("self-1");
    const own = await decide(approvalId, "approve", ALICE);
    expect(own.status).toBe(403);
    expect(own.type).toContain("application/problem+json");
    expect(own.body).toMatchObject({ status: 403, code: "SELF_APPROVAL" });
    expectMatchesSpec("Approvals_approve", 403, own.body);
    expect(await statusOf(approvalId)).toBe("pending");
    // The operator API names the requester, so that the other operator sees who asked.
    const read = await operatorRequest(g, "GET", `/api/v1/orgs/${g.orgId}/approvals/${approvalId}`);
    expect(read.body).toMatchObject({ requested_by: ALICE, requested_via: "mcp" });
    expectMatchesSpec("Approvals_get", 200, read.body);

    const bob = await decide(approvalId, "approve", "bob@acme.example");
    expect(bob.status).toBe(200);
    expect(bob.body).toMatchObject({ status: "approved", decided_by: "bob@acme.example" });
  });

  it("the same subject in another case or Unicode form, or as a platform admin of another org, is refused too", async () => {
    const approvalId = await alicesApproval("self-2");
    for (const [sub, roles, org] of [
      ["ALICE@ACME.EXAMPLE", ["operator"], undefined],
      ["ａｌｉｃｅ@acme.example", ["operator"], undefined], // fullwidth: the same after NFKC
      [ALICE, ["platform_admin"], "other-org"],
    ] as const) {
      const reply = await decide(approvalId, "approve", sub, [...roles], org);
      expect(reply.status, `${sub} ${roles}`).toBe(403);
      expect(reply.body.code).toBe("SELF_APPROVAL");
    }
    expect(await statusOf(approvalId)).toBe("pending");
  });

  it("two approvals racing, the requester's and another operator's: only the other one approves", async () => {
    const approvalId = await alicesApproval("self-race");
    const [own, other] = await Promise.all([
      decide(approvalId, "approve", ALICE),
      decide(approvalId, "approve", "carol@acme.example"),
    ]);
    expect(own.status).toBe(403);
    expect(other.status).toBe(200);
    expect(other.body.decided_by).toBe("carol@acme.example");
  });

  it("denying one's own request is allowed", async () => {
    const approvalId = await alicesApproval("self-deny");
    expect((await decide(approvalId, "deny", ALICE)).status).toBe(200);
    expect(await statusOf(approvalId)).toBe("denied");
  });

  it("an escalation asked with the agent's API key has no person as requester, even claiming one", async () => {
    const escalate = (id: string, context?: Record<string, unknown>) =>
      agent(g).post(
        "/api/v1/gateway/execute",
        executeBody(
          UAPK,
          { type: "crm", tool: "delete", params: { id }, counterparty: `${id}@ok.example` },
          context ? { context } : {},
        ),
      );
    for (const [id, context] of [
      ["key-1", undefined],
      ["key-2", { user: ALICE }],
    ] as const) {
      const reply = await escalate(id, context);
      expect(reply.body.decision).toBe("ESCALATE");
      const read = await operatorRequest(g, "GET", `/api/v1/orgs/${g.orgId}/approvals/${reply.body.approval_id}`);
      expect(read.body.requested_by).toBeUndefined();
      expect((await decide(reply.body.approval_id, "approve", ALICE)).status).toBe(200);
    }
  });
});
