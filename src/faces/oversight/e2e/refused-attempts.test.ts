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
import { mcpClient, registerMcpBot, UAPK } from "../../../test-support/mcp";
import { expectMatchesSpec } from "../../../test-support/spec-check";

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

  async function decideAs(approvalId: string, sub: string, verb: "approve" | "deny", org = g.orgId) {
    const token = await g.userTokenFor(org, sub, ["operator"]);
    return fetch(`${g.url}/api/v1/orgs/${org}/approvals/${approvalId}/${verb}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ reason: "checked" }),
    });
  }

  const approveAs = (approvalId: string, sub: string) => decideAs(approvalId, sub, "approve");

  /** An approval pending for alice's MCP call. */
  async function askApproval(id: string) {
    const pending = await alice.callTool({
      name: "crm_delete",
      arguments: { params: { id }, counterparty: `${id}@ok.example` },
    });
    return pending.structuredContent as { approval_id: string; interaction_id: string };
  }

  /** The refusal records of one approval in the org's chain (the export: every record, however many). */
  async function refusalsOf(approvalId: string, org = g.orgId) {
    const token = await g.userTokenFor(org, `auditor@${org}`, ["operator"]);
    const text = await fetch(`${g.url}/api/v1/orgs/${org}/interactions/export`, {
      headers: { authorization: `Bearer ${token}` },
    }).then((r) => r.text());
    return text
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as Record_)
      .filter((r) => r.kind === "refusal" && r.approval_id === approvalId);
  }

  /**
   * GET …/interactions/{id} of an escalated interaction shows its decision record (ESCALATE), whatever was
   * written after it about its approval (a verdict or a refused attempt): the approval's status is its own.
   */
  async function expectShowsEscalation(interactionId: string, approvalId: string) {
    const shown = await operator(g).get(`/interactions/${interactionId}`);
    expect(shown.status).toBe(200);
    expectMatchesSpec("Interactions_get", 200, shown.body);
    expect(shown.body).toMatchObject({ kind: "decision", decision: "ESCALATE", approval_id: approvalId });
    expect(shown.body.meta ?? {}).not.toHaveProperty("refused");
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
    // The interaction still shows its decision (ESCALATE), not the refused attempt.
    await expectShowsEscalation(interactionId, approvalId);
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
    await expectShowsEscalation(interactionId, approvalId);
    const chainKinds = (after.proof.chain as Record_[]).filter((r) => r.approval_id === approvalId).map((r) => r.kind);
    expect(chainKinds).toEqual(["decision", "refusal", "approval"]);
    const verified = await verifyBundle(after);
    expect(verified.code, verified.out).toBe(0);
    expect(verified.out).toContain("approved by bob@acme.example");
  });

  it("a decision on a decided approval is refused (409) and audited once per operator and code, however often", async () => {
    const { approval_id: approvalId, interaction_id: interactionId } = await askApproval("refused-2");
    expect((await decideAs(approvalId, "bob@acme.example", "approve")).status).toBe(200);

    const first = await decideAs(approvalId, "carol@acme.example", "deny");
    expect(first.status).toBe(409);
    expect(((await first.json()) as { code: string }).code).toBe("APPROVAL_NOT_PENDING");
    const once = await refusalsOf(approvalId);
    expect(once).toHaveLength(1);
    expect(once[0]).toMatchObject({
      decision: "DENY",
      meta: { refused: "APPROVAL_NOT_PENDING", attempted: "deny", attempted_by: "carol@acme.example" },
    });

    // 50 more, at once and of either verb: the same refusal (approval, operator, code) is not written again.
    const repeats = await Promise.all(
      Array.from({ length: 50 }, (_, i) => decideAs(approvalId, "carol@acme.example", i % 2 ? "deny" : "approve")),
    );
    expect(repeats.map((r) => r.status)).toEqual(Array(50).fill(409));
    expect(await refusalsOf(approvalId)).toHaveLength(1);
    // Another operator's refusal is theirs: one more record.
    expect((await decideAs(approvalId, "dave@acme.example", "deny")).status).toBe(409);
    expect((await refusalsOf(approvalId)).map((r) => r.meta?.attempted_by)).toEqual([
      "carol@acme.example",
      "dave@acme.example",
    ]);
    await expectShowsEscalation(interactionId, approvalId);

    // No verdict: the approval and its bundle still say approved by bob; the chain and the bundle verify.
    expect((await operator(g).get(`/approvals/${approvalId}`)).body).toMatchObject({
      status: "approved",
      decided_by: "bob@acme.example",
    });
    const bundle = (await operator(g).get(`/interactions/${interactionId}/evidence`)).body;
    expect(bundle.approval).toMatchObject({ status: "approved", decided_by: "bob@acme.example" });
    expect((await operator(g).get("/interactions/verify")).body).toMatchObject({ valid: true });
    const verified = await verifyBundle(bundle);
    expect(verified.code, verified.out).toBe(0);
    expect(verified.out).toContain("approved by bob@acme.example");
  });

  it("repeated self-approval writes one refusal record; another org's operator gets 404 and writes none", async () => {
    const { approval_id: approvalId } = await askApproval("refused-3");
    const selfTries = await Promise.all(Array.from({ length: 50 }, () => approveAs(approvalId, ALICE)));
    expect(selfTries.map((r) => r.status)).toEqual(Array(50).fill(403));
    const refusals = await refusalsOf(approvalId);
    expect(refusals).toHaveLength(1);
    expect(refusals[0]?.meta).toMatchObject({ refused: "SELF_APPROVAL", attempted_by: ALICE });

    // Another org's operator naming this approval: not found, and nothing written in either org's chain.
    const otherOrg = "other-org-refusals";
    expect((await decideAs(approvalId, "mallory@other.example", "deny", otherOrg)).status).toBe(404);
    expect((await decideAs(approvalId, "mallory@other.example", "approve", otherOrg)).status).toBe(404);
    expect(await refusalsOf(approvalId)).toHaveLength(1);
    expect(await refusalsOf(approvalId, otherOrg)).toHaveLength(0);
    expect((await operator(g).get(`/approvals/${approvalId}`)).body.status).toBe("pending");
  });

  it("a decision on an expired approval is refused (409 APPROVAL_EXPIRED) and audited once; the bundle says expired", async () => {
    const { approval_id: approvalId, interaction_id: interactionId } = await askApproval("refused-4");
    // Overdue in the store: the decision finds it expired (and records the expiry verdict).
    const update = `UPDATE approvals SET expires_at = '2000-01-01T00:00:00.000Z' WHERE approval_id = '${approvalId}'`;
    if (g.db) g.db.prepare(update).run();
    else await opened.rows(g, update);
    const first = await decideAs(approvalId, "bob@acme.example", "approve");
    expect(first.status).toBe(409);
    const code = ((await first.json()) as { code: string }).code;
    expect(code).toBe("APPROVAL_EXPIRED");
    expect((await decideAs(approvalId, "bob@acme.example", "deny")).status).toBe(409);
    // The same refusal (approval, operator, code) again: still one record.
    const refusals = await refusalsOf(approvalId);
    expect(refusals.map((r) => r.meta)).toEqual([
      { refused: "APPROVAL_EXPIRED", attempted: "approve", attempted_by: "bob@acme.example" },
    ]);
    const bundle = (await operator(g).get(`/interactions/${interactionId}/evidence`)).body;
    expect(bundle.approval).toMatchObject({ status: "expired" });
    const verified = await verifyBundle(bundle);
    expect(verified.code, verified.out).toBe(0);
  });
});
