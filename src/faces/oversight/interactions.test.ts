// The audit log's operator API over HTTP: list with filters and cursor pagination, one interaction, chain
// verification (valid, then after tampering with a row), and an export that the offline verifier accepts.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { components } from "../../../generated/api-types";
import { runAuditVerify } from "../../cli/audit-verify";
import type { AuditRecord } from "../../core/audit";
import { expectMatchesSpec } from "./spec-check";
import { DEFAULT_ORG, OTHER_ORG, startOversightServer, type OversightTestServer } from "./test-server";
import { must } from "../../core/must";

type InteractionPage = components["schemas"]["InteractionPage"];
type InteractionRecord = components["schemas"]["InteractionRecord"];
type ChainVerification = components["schemas"]["ChainVerification"];
type Problem = components["schemas"]["Problem"];

let gh: OversightTestServer;
let operator: string;
let otherOperator: string;
let workDir: string;

const trace = (result: "pass" | "fail" | "escalate") => ({
  checks: [
    { check: "manifest_validation", result: "pass" },
    { check: "action_type", result },
  ],
});

const executed: { interaction_id: string; to: string }[] = [];
const executedAt = (i: number) => must(executed[i], "the fixture executes several actions");
const denied: string[] = [];
let escalated = "";

/** What the actions face writes: executed actions (intent + outcome), DENYs and an ESCALATE, two agents. */
function seedLog(): void {
  const { audit } = gh;
  for (let i = 1; i <= 4; i += 1) {
    const interaction_id = `int-exec-${i}`;
    const to = `customer${i}@example.com`;
    audit.appendIntent({
      org_id: DEFAULT_ORG,
      interaction_id,
      uapk_id: "customer-support-bot",
      agent_id: i % 2 ? "bot-odd" : "bot-even",
      action: { type: "email", tool: "send", params: { to, subject: "Re: Your inquiry" } },
      decision: "ALLOW",
      reasons: [],
      policy_trace: trace("pass"),
      ...(i === 1 ? { meta: { idempotency_key: "order-confirmation-1" } } : {}),
    });
    audit.appendOutcome({
      org_id: DEFAULT_ORG,
      interaction_id,
      executed: true,
      result: { success: true, data: { message_id: `msg-${i}` } },
    });
    executed.push({ interaction_id, to });
  }
  for (let i = 1; i <= 2; i += 1) {
    const interaction_id = `int-deny-${i}`;
    audit.appendDecision({
      org_id: DEFAULT_ORG,
      interaction_id,
      uapk_id: "customer-support-bot",
      agent_id: "bot-odd",
      action: { type: "payment", tool: "transfer", params: { amount: 10_000 } },
      decision: "DENY",
      reasons: [{ code: "ACTION_NOT_ALLOWED", message: "Action type 'payment' is not allowed" }],
      policy_trace: trace("fail"),
    });
    denied.push(interaction_id);
  }
  escalated = "int-escalate-1";
  audit.appendDecision({
    org_id: DEFAULT_ORG,
    interaction_id: escalated,
    uapk_id: "customer-support-bot",
    agent_id: "bot-even",
    action: { type: "crm", tool: "delete", params: { record_id: "rec-123" } },
    decision: "ESCALATE",
    reasons: [{ code: "REQUIRES_APPROVAL", message: "Action 'crm:delete' requires human approval" }],
    policy_trace: trace("escalate"),
    approval_id: "appr-xyz789",
  });
  // Another org's chain, which must never show up in the default org's answers.
  audit.appendDecision({
    org_id: OTHER_ORG,
    interaction_id: "int-other-org",
    uapk_id: "other-bot",
    agent_id: "other-bot",
    action: { type: "email", tool: "send", params: { to: "x@other.example" } },
    decision: "DENY",
    reasons: [{ code: "BUDGET_EXCEEDED", message: "Hourly action limit exceeded (100/100)" }],
    policy_trace: trace("fail"),
  });
}

/** 4 × (intent + outcome) + 2 DENY + 1 ESCALATE. */
const DEFAULT_ORG_RECORDS = 11;

beforeAll(async () => {
  gh = await startOversightServer();
  operator = await gh.operatorToken(DEFAULT_ORG, "auditor@acme.example");
  otherOperator = await gh.operatorToken(OTHER_ORG);
  workDir = mkdtempSync(join(tmpdir(), "gatehouse-oversight-export-"));
  seedLog();
});
afterAll(async () => {
  await gh?.close();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

async function get(path: string, token = operator) {
  const res = await fetch(`${gh.url}/api/v1/orgs/${DEFAULT_ORG}/interactions${path}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: res.status, type: res.headers.get("content-type") ?? "", text: await res.text() };
}
async function getJson<T>(path: string, token = operator) {
  const res = await get(path, token);
  return { ...res, body: JSON.parse(res.text) as T };
}

/** Offline verification of an export with the audit log's published keys, as an auditor would run it. */
async function verifyOffline(exportText: string, name: string) {
  const exportFile = join(workDir, `${name}.jsonl`);
  const jwksFile = join(workDir, `${name}.jwks.json`);
  writeFileSync(exportFile, exportText);
  writeFileSync(jwksFile, JSON.stringify(gh.audit.publicJwks()));
  const out: string[] = [];
  const err: string[] = [];
  const code = await runAuditVerify([exportFile, "--jwks", jwksFile], {
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
  });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("interaction records", () => {
  it("pages through the whole log with the cursor: newest first, no gaps, no repeats, spec-shaped", async () => {
    const seen: InteractionRecord[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const res = await getJson<InteractionPage>(`?limit=4${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      expect(res.status).toBe(200);
      expectMatchesSpec("Interactions_list", 200, res.body);
      expect(res.body.items.length).toBeLessThanOrEqual(4);
      seen.push(...res.body.items);
      cursor = res.body.next_cursor;
      pages += 1;
    } while (cursor && pages < 10);

    expect(pages).toBe(3); // 4 + 4 + 3
    expect(seen.map((r) => r.seq)).toEqual(
      Array.from({ length: DEFAULT_ORG_RECORDS }, (_, i) => DEFAULT_ORG_RECORDS - i),
    );
    expect(seen.every((r) => r.org_id === DEFAULT_ORG)).toBe(true);
    expect(seen.map((r) => r.interaction_id)).not.toContain("int-other-org");
  });

  it("shows an outcome with its result and the action and decision of its intent", async () => {
    const res = await getJson<InteractionPage>("?limit=500");
    const outcome = res.body.items.find(
      (r) => r.interaction_id === executedAt(0).interaction_id && r.kind === "outcome",
    );
    expect(outcome).toMatchObject({
      kind: "outcome",
      decision: "ALLOW",
      uapk_id: "customer-support-bot",
      agent_id: "bot-odd",
      action: { type: "email", tool: "send", params: { to: executedAt(0).to, subject: "Re: Your inquiry" } },
      result: { success: true, data: { message_id: "msg-1" } },
    });
  });

  it("carries the spec's approval_id, executed and meta as each record stored them", async () => {
    const res = await getJson<InteractionPage>("?limit=500");
    expectMatchesSpec("Interactions_list", 200, res.body);
    const first = res.body.items.filter((r) => r.interaction_id === executedAt(0).interaction_id);
    const intent = first.find((r) => r.kind === "intent")!;
    const outcome = first.find((r) => r.kind === "outcome")!;
    expect(intent.meta).toEqual({ idempotency_key: "order-confirmation-1" });
    expect(intent).not.toHaveProperty("executed"); // an intent is written before anything ran
    expect(outcome.executed).toBe(true);
    const deny = res.body.items.find((r) => r.interaction_id === denied[0])!;
    expect(deny.executed).toBe(false);
    expect(deny).not.toHaveProperty("approval_id");
    expect(deny).not.toHaveProperty("meta");

    const escalation = await getJson<InteractionRecord>(`/${escalated}`);
    expectMatchesSpec("Interactions_get", 200, escalation.body);
    expect(escalation.body).toMatchObject({ approval_id: "appr-xyz789", executed: false });
  });

  it("filters by decision and by agent", async () => {
    const denies = await getJson<InteractionPage>("?decision=DENY");
    expect(denies.body.items.map((r) => r.interaction_id).sort()).toEqual([...denied].sort());
    expect(denies.body.items.every((r) => r.decision === "DENY" && r.reasons[0]?.code === "ACTION_NOT_ALLOWED")).toBe(
      true,
    );

    const even = await getJson<InteractionPage>("?agent_id=bot-even");
    // Two executed actions (intent + outcome each) and the ESCALATE.
    expect(even.body.items).toHaveLength(5);
    expect(even.body.items.every((r) => r.agent_id === "bot-even")).toBe(true);
  });

  it("filters by time window", async () => {
    const future = await getJson<InteractionPage>(`?since=${encodeURIComponent("2999-01-01T00:00:00Z")}`);
    expect(future.body.items).toEqual([]);
    expect(future.body).not.toHaveProperty("next_cursor");
    const past = await getJson<InteractionPage>(`?until=${encodeURIComponent("2999-01-01T00:00:00Z")}&limit=500`);
    expect(past.body.items).toHaveLength(DEFAULT_ORG_RECORDS);
  });

  it("answers 400 problem for a cursor it did not issue", async () => {
    const res = await getJson<Problem>("?cursor=not-a-cursor");
    expect(res.status).toBe(400);
    expect(res.type).toContain("application/problem+json");
    expect(res.body.detail).toContain("cursor is not one this API issued");
  });

  it("gets one interaction: the latest record, completed by its intent", async () => {
    const res = await getJson<InteractionRecord>(`/${executedAt(1).interaction_id}`);
    expect(res.status).toBe(200);
    expectMatchesSpec("Interactions_get", 200, res.body);
    expect(res.body).toMatchObject({
      interaction_id: executedAt(1).interaction_id,
      kind: "outcome",
      seq: 4,
      action: { type: "email", tool: "send" },
      policy_trace: trace("pass"),
      result: { success: true, data: { message_id: "msg-2" } },
    });

    const escalation = await getJson<InteractionRecord>(`/${escalated}`);
    expectMatchesSpec("Interactions_get", 200, escalation.body);
    expect(escalation.body).toMatchObject({
      kind: "decision",
      decision: "ESCALATE",
      reasons: [{ code: "REQUIRES_APPROVAL" }],
    });
    expect(escalation.body).not.toHaveProperty("result");
  });

  it("answers 404 for an unknown interaction and for another org's", async () => {
    expect((await get("/int-nope")).status).toBe(404);
    const foreign = await getJson<Problem>("/int-other-org");
    expect(foreign.status).toBe(404);
    expect(foreign.body.detail).toBe("Interaction int-other-org not found");
  });

  it("refuses another org's operator (403) on every audit operation", async () => {
    for (const path of ["", "/verify", "/export", `/${escalated}`]) {
      const res = await getJson<Problem>(path, otherOperator);
      expect(res.status, path).toBe(403);
      expect(res.body.detail).toBe(`Not allowed to act on organization ${DEFAULT_ORG}`);
    }
  });
});

describe("verification and export", () => {
  // Runs last in this file: it tampers with the log.
  it("verifies the chain, exports it for offline verification, and both catch a tampered row", async () => {
    const verified = await getJson<ChainVerification>("/verify");
    expect(verified.status).toBe(200);
    expectMatchesSpec("Interactions_verify", 200, verified.body);
    expect(verified.body).toEqual({ valid: true, records: DEFAULT_ORG_RECORDS });

    const exported = await get("/export");
    expect(exported.status).toBe(200);
    expect(exported.type).toContain("application/x-ndjson");
    const lines = exported.text.split("\n").filter((l) => l !== "");
    const records = lines.map((l) => JSON.parse(l) as AuditRecord);
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: DEFAULT_ORG_RECORDS }, (_, i) => i + 1));
    expect(records.every((r) => r.org_id === DEFAULT_ORG)).toBe(true);
    const offline = await verifyOffline(exported.text, "intact");
    expect(offline.err).toBe("");
    expect(offline.code).toBe(0);
    expect(offline.out).toContain(`OK: ${DEFAULT_ORG_RECORDS} record(s) in 1 org chain(s) verified`);

    // Someone with database access rewrites what an executed email returned (seq 6: the 3rd outcome).
    const changed = gh.db
      .prepare("UPDATE audit_records SET result = ? WHERE org_id = ? AND seq = 6 AND kind = 'outcome'")
      .run(JSON.stringify({ success: true, data: { message_id: "forged" } }), DEFAULT_ORG);
    expect(changed.changes).toBe(1);

    const broken = await getJson<ChainVerification>("/verify");
    expect(broken.status).toBe(200);
    expectMatchesSpec("Interactions_verify", 200, broken.body);
    expect(broken.body).toMatchObject({ valid: false, records: 5, first_invalid_seq: 6 });
    expect(broken.body.reason).toContain("hash mismatch");

    const tamperedExport = await get("/export");
    const offlineBroken = await verifyOffline(tamperedExport.text, "tampered");
    expect(offlineBroken.code).toBe(1);
    expect(offlineBroken.err).toContain("seq 6");
  });
});
