// Evidence bundles and the signed chain head, from the outside: a bundle fetched from a real Gatehouse verifies
// offline with the JWKS (`gatehouse evidence verify`) and says what it proves; any edit — decision, approver,
// manifest content, outcome, a record cut from the proof — fails naming what broke. The export ends with the signed
// head, so `gatehouse audit verify` notices records cut off its end.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../../contract-tests/fixtures";
import { jwksToKeys, runAuditVerify } from "../../../cli/audit-verify";
import { runCli } from "../../../cli/program";
import { chainHeadProblem } from "../../../core/audit/chain-head";
import { gatehouseBackends, type OpenedBackend } from "../../../test-support/backends";
import { agent, executeBody, ORG_ID, operator, registerManifest } from "../../../test-support/http";

const UAPK = "evidence-bot";

/** The fields of a proof's audit record these tests read. */
type ChainRecord = {
  seq: number;
  kind: string;
  interaction_id: string;
  approval_id: string | null;
  meta: { approval_status?: string } | null;
};
const manifest = {
  uapk_id: UAPK,
  agent: { id: UAPK, name: "Evidence Bot" },
  capabilities: ["crm:read", "crm:delete"],
  constraints: { require_human_approval: ["crm:delete"] },
  tools: { "crm:read": { connector: { type: "echo" } }, "crm:delete": { connector: { type: "echo" } } },
};

const backends = await gatehouseBackends("evidence bundles e2e");

describe.each(backends)("evidence bundles ($name)", (backend) => {
  let opened: OpenedBackend;
  let g: TestGatehouse;
  let work: string;
  let jwksFile: string;
  let approvedInteraction: string;
  let approvalId: string;
  let escalatedInteraction: string;

  const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

  async function verifyBundle(bundle: unknown) {
    const file = join(work, `bundle-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify(bundle));
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(["evidence", "verify", file, "--jwks", jwksFile], {
      stdout: (l) => out.push(l),
      stderr: (l) => err.push(l),
    });
    return { code, out: out.join("\n"), err: err.join("\n") };
  }

  /** Makes an approval overdue in the store (expires_at in the past): the next read of it expires it. */
  async function ageApproval(id: string) {
    const update = `UPDATE approvals SET expires_at = '2000-01-01T00:00:00.000Z' WHERE approval_id = '${id}'`;
    if (g.db) g.db.prepare(update).run();
    else await opened.rows(g, update);
  }

  async function evidenceOf(interactionId: string) {
    const reply = await operator(g).get(`/interactions/${interactionId}/evidence`);
    expect(reply.status, reply.text).toBe(200);
    return reply.body;
  }

  beforeAll(async () => {
    opened = await backend.open();
    g = await startTestGatehouse({ env: opened.env });
    work = mkdtempSync(join(tmpdir(), "gatehouse-evidence-"));
    await registerManifest(g, manifest);
    const action = { type: "crm", tool: "delete", params: { id: "c-7" } };
    const asked = await agent(g).post("/api/v1/gateway/execute", executeBody(UAPK, action));
    expect(asked.body.decision).toBe("ESCALATE");
    approvalId = asked.body.approval_id;
    escalatedInteraction = asked.body.interaction_id;
    // A re-submit while it is pending: another decision record naming the approval, which the proof of the
    // approved run does not involve.
    const early = await agent(g).post(
      "/api/v1/gateway/execute",
      executeBody(UAPK, action, { approval_id: approvalId }),
    );
    expect(early.body.decision).toBe("ESCALATE");
    const approved = await operator(g).post(`/approvals/${approvalId}/approve`, {
      reason: "customer asked in ticket 42",
    });
    expect(approved.status).toBe(200);
    const ran = await agent(g).post("/api/v1/gateway/execute", executeBody(UAPK, action, { approval_id: approvalId }));
    expect(ran.body).toMatchObject({ decision: "ALLOW", executed: true });
    approvedInteraction = ran.body.interaction_id;
    // Later traffic: the proof must reach past it, to the head.
    await agent(g).post(
      "/api/v1/gateway/execute",
      executeBody(UAPK, { type: "crm", tool: "read", params: { id: "x" } }),
    );
    const jwks = await fetch(`${g.url}/.well-known/jwks.json`).then((r) => r.json());
    jwksFile = join(work, "jwks.json");
    writeFileSync(jwksFile, JSON.stringify(jwks));
  });

  afterAll(async () => {
    await g?.dispose();
    await opened?.dispose();
    rmSync(work, { recursive: true, force: true });
  });

  describe("GET …/interactions/{id}/evidence", () => {
    it("holds the action, decision, manifest version, approval and outcome, and verifies offline", async () => {
      const bundle = await evidenceOf(approvedInteraction);
      expect(bundle).toMatchObject({
        format: "gatehouse.evidence.v1",
        org_id: ORG_ID,
        interaction_id: approvedInteraction,
        action: { type: "crm", tool: "delete", params: { id: "c-7" } },
        decision: { decision: "ALLOW" },
        manifest: { version: 1, change: "registered", author: "operator@contract", content: { uapk_id: UAPK } },
        approval: {
          approval_id: approvalId,
          decided_by: "operator@contract",
          reason: "customer asked in ticket 42",
          reasons: [{ code: "REQUIRES_APPROVAL" }],
        },
        outcome: { executed: true },
      });
      const head = bundle.proof.chain_head;
      expect(bundle.proof.chain.at(-1)).toMatchObject({ seq: head.seq, hash: head.hash });
      expect(bundle.proof.involved_seqs.length).toBe(4); // escalation, verdict, intent, outcome

      const result = await verifyBundle(bundle);
      expect(result.code, result.err).toBe(0);
      expect(result.out).toMatch(/decision: ALLOW of crm:delete by agent evidence-bot/);
      expect(result.out).toMatch(/approval: .* approved by operator@contract .*customer asked in ticket 42/);
      expect(result.out).toMatch(/manifest: .* version 1 \(sha256 [0-9a-f]{64}\)/);
      // What no record signs is not presented as proven.
      expect(result.out).toMatch(/author, created_at, change and status are the gateway's statement/);
      expect(result.out).toMatch(/outcome: executed=true/);
    });

    it.each([
      ["the decision", (b: any) => (b.decision.decision = "DENY"), /^FAIL: decision: /],
      ["the approver", (b: any) => (b.approval.decided_by = "mallory"), /^FAIL: approval: decided_by differs/],
      ["the approval note", (b: any) => (b.approval.reason = "no reason"), /^FAIL: approval: reason differs/],
      [
        "the manifest content",
        (b: any) => b.manifest.content.capabilities.push("crm:export"),
        /^FAIL: manifest: content does not hash/,
      ],
      ["the outcome", (b: any) => (b.outcome.executed = false), /^FAIL: outcome: differs/],
      ["the outcome's result", (b: any) => (b.outcome.result.data = { id: "c-8" }), /^FAIL: outcome: differs/],
      ["the action", (b: any) => (b.action.params.id = "c-8"), /^FAIL: action: differs/],
      ["a record of the proof", (b: any) => (b.proof.chain[1].decision = "DENY"), /^FAIL: proof: .*hash mismatch/],
      ["the end of the proof", (b: any) => b.proof.chain.pop(), /^FAIL: proof: the records end at seq/],
      ["the chain head", (b: any) => (b.proof.chain_head.seq += 1), /^FAIL: proof: chain head signature/],
      [
        "why it was escalated",
        (b: any) => (b.approval.reasons = [{ code: "AMOUNT_EXCEEDS_THRESHOLD", message: "big" }]),
        /^FAIL: approval: reasons differ from the signed escalation/,
      ],
      [
        "when it was asked for",
        (b: any) => (b.approval.requested_at = "2020-01-01T00:00:00.000Z"),
        /^FAIL: approval: requested_at differs/,
      ],
      [
        "where it was escalated",
        (b: any) => (b.approval.escalated_interaction_id = "int-other"),
        /^FAIL: approval: escalated_interaction_id differs/,
      ],
      ["the involved records", (b: any) => b.proof.involved_seqs.pop(), /^FAIL: proof: involved_seqs is not/],
      [
        "a capability token the decision did not use",
        (b: { capability_token?: unknown }) =>
          (b.capability_token = { issuer_id: "issuer-cfo", capabilities: ["payment:*"], revoked: false }),
        /^FAIL: capability_token: the signed decision used no token/,
      ],
      // A field the section's model does not have: a claim no signed record vouches for.
      ...[
        ["decision", "overridden_by", "cfo@acme.com"],
        ["approval", "second_approver", "cfo@acme.com"],
        ["outcome", "refunded", true],
        ["manifest", "reviewed_by", "legal"],
        ["proof", "note", "x"],
      ].map(([section, field, value]): [string, (b: Record<string, Record<string, unknown>>) => unknown, RegExp] => [
        `a field the ${section} section does not have`,
        (b: Record<string, Record<string, unknown>>) => (b[section as string]![field as string] = value),
        new RegExp(`^FAIL: ${section}: unexpected field\\(s\\) ${field}`),
      ]),
    ])("an edit of %s fails and names what broke", async (_what, edit, message) => {
      const bundle = clone(await evidenceOf(approvedInteraction));
      edit(bundle);
      const result = await verifyBundle(bundle);
      expect(result.code).toBe(1);
      expect(result.err).toMatch(message);
    });

    it("an agent's control characters cannot forge what a bundle proves (a DENY stays one DENY line)", async () => {
      // A carriage return + ANSI "erase line" would repaint the DENY line as an ALLOW; newlines would add lines.
      // C0 and C1 controls (CSI, NEL), line separators and bidi overrides in an action's name are refused at the
      // boundary now (spec/common.tsp noControlCharacters), and so are tag characters (U+E0041) and every other format
      // character (Arabic number sign U+0600); what is left of a forged line (spaces, words) stays inside quotes.
      const c0 = { type: "\r\u001b[2K  - decision: ALLOW of payment", tool: "refund", params: {} };
      const c1 = { type: "\u009b2K  - decision: ALLOW of payment", tool: "refund\u0085 by cfo\u202e", params: {} };
      const tagged = { type: "payment\u{e0041}", tool: "refund", params: {} };
      const format = { type: "payment\u0600", tool: "refund by agent evidence-bot\u0600", params: {} };
      for (const action of [c0, c1, tagged, format])
        expect((await agent(g).post("/api/v1/gateway/execute", executeBody(UAPK, action))).status).toBe(400);
      const forged = { type: "payment", tool: "refund by agent evidence-bot", params: {} };
      const denied = await agent(g).post("/api/v1/gateway/execute", executeBody(UAPK, forged));
      expect(denied.body.decision).toBe("DENY");
      const result = await verifyBundle(await evidenceOf(denied.body.interaction_id));
      expect(result.code, result.err).toBe(0);
      const lines = result.out.split("\n");
      for (const line of lines) expect(line).not.toMatch(/[\p{Cc}\p{Cf}]/u);
      expect(lines.filter((l) => l.startsWith("  - decision:"))).toEqual([
        expect.stringMatching(
          /^ {2}- decision: DENY of "payment:refund by agent evidence-bot" by agent evidence-bot at /,
        ),
      ]);
      expect(lines.some((l) => l.startsWith("  - approval:"))).toBe(false);
    });

    it("a bundle with a key twice in one object fails: readers could take either value", async () => {
      // JSON.parse keeps the last "decision"; a reader keeping the first (or a person) sees the DENY.
      const text = JSON.stringify(await evidenceOf(approvedInteraction)).replace(
        '"decision":{"decision":"ALLOW"',
        '"decision":{"decision":"DENY","reasons":[]},"decision":{"decision":"ALLOW"',
      );
      expect(text).toContain('"decision":{"decision":"DENY"');
      const file = join(work, "bundle-duplicate-key.json");
      writeFileSync(file, text);
      const err: string[] = [];
      const code = await runCli(["evidence", "verify", file, "--jwks", jwksFile], {
        stdout: () => {},
        stderr: (l) => err.push(l),
      });
      expect(code).toBe(1);
      expect(err.join("\n")).toMatch(/^FAIL: bundle: has duplicate keys in one object/);
    });

    it("a forged bundle's values cannot forge the FAIL line either", async () => {
      const bundle = clone(await evidenceOf(approvedInteraction));
      bundle.decision.decision = "DENY\r\u001b[2KOK: evidence bundle verified";
      const result = await verifyBundle(bundle);
      expect(result.code).toBe(1);
      expect(result.err.split("\n")[0]).toMatch(/^FAIL: decision: DENY\\u000d\\u001b\[2KOK/);
      for (const line of result.err.split("\n")) expect(line).not.toMatch(/\p{Cc}/u);
    });

    it.each([
      // Overdue now: the next read (the bundle's own) expires it.
      ["expired", (id: string) => ageApproval(id)],
      // Its session went away: cancelled unused (as the session faces do).
      ["cancelled", async (id: string) => expect(await g.approvals.cancel(ORG_ID, id, "session gone")).toBe(true)],
    ])(
      "an approval approved and then %s unused: its escalation's bundle verifies, with that status",
      async (status, end) => {
        const action = { type: "crm", tool: "delete", params: { id: `c-${status}` } };
        const asked = await agent(g).post("/api/v1/gateway/execute", executeBody(UAPK, action));
        expect(asked.body.decision).toBe("ESCALATE");
        const id = asked.body.approval_id as string;
        expect((await operator(g).post(`/approvals/${id}/approve`, { reason: "ok then" })).status).toBe(200);
        await end(id);
        // A second verdict record after the approved one.
        const bundle = await evidenceOf(asked.body.interaction_id);
        expect(bundle.approval).toMatchObject({
          approval_id: id,
          status,
          decided_by: "operator@contract",
          reason: "ok then",
        });
        const verdicts = bundle.proof.chain.filter((r: ChainRecord) => r.kind === "approval" && r.approval_id === id);
        expect(verdicts.map((r: ChainRecord) => r.meta?.approval_status)).toEqual(["approved", status]);
        for (const verdict of verdicts) expect(bundle.proof.involved_seqs).toContain(verdict.seq);
        const result = await verifyBundle(bundle);
        expect(result.code, result.err).toBe(0);
        expect(result.out).toMatch(new RegExp(`approval: .* approved by operator@contract at .*, then ${status} `));
        // The approved verdict alone no longer passes for the approval's status.
        const edited = clone(bundle);
        edited.approval.status = "approved";
        expect((await verifyBundle(edited)).err).toMatch(
          /^FAIL: approval: status approved is not the last signed verdict/,
        );
      },
    );

    it("approval.status is the signed records': pending without a verdict, consumed only once an intent used it", async () => {
      const edited = async (bundle: { approval: object }, status: string) =>
        verifyBundle({ ...clone(bundle), approval: { ...bundle.approval, status } });
      const asked = await agent(g).post(
        "/api/v1/gateway/execute",
        executeBody(UAPK, { type: "crm", tool: "delete", params: { id: "c-undecided" } }),
      );
      const id = asked.body.approval_id as string;
      const pending = await evidenceOf(asked.body.interaction_id);
      expect(pending.approval.status).toBe("pending");
      expect((await verifyBundle(pending)).code).toBe(0);
      for (const status of ["approved", "denied", "consumed"])
        expect((await edited(pending, status)).err).toMatch(
          /^FAIL: approval: status \w+ is not pending, and the proof holds no signed verdict/,
        );

      // Approved and not used (yet): approved, never consumed.
      expect((await operator(g).post(`/approvals/${id}/approve`, {})).status).toBe(200);
      const unused = await evidenceOf(asked.body.interaction_id);
      expect(unused.approval.status).toBe("approved");
      expect((await verifyBundle(unused)).code).toBe(0);
      expect((await edited(unused, "consumed")).err).toMatch(
        /^FAIL: approval: status consumed is not the last signed verdict \(seq \d+: approved\), and no intent in the proof used it/,
      );

      // Used: the escalation's bundle holds the intent that used it, and says consumed.
      const used = await evidenceOf(escalatedInteraction);
      expect(used.approval.status).toBe("consumed");
      const intent = used.proof.chain.find((r: ChainRecord) => r.kind === "intent" && r.approval_id === approvalId);
      expect(intent.interaction_id).toBe(approvedInteraction);
      expect(used.proof.involved_seqs).toContain(intent.seq);
      const result = await verifyBundle(used);
      expect(result.code, result.err).toBe(0);
      expect(result.out).toMatch(
        new RegExp(`approved by operator@contract .*, then used by interaction ${approvedInteraction}`),
      );
      expect((await edited(used, "approved")).err).toMatch(
        /^FAIL: approval: status approved is not the last signed verdict .*used by the signed intent/,
      );
    });

    it("an approval's bundle without its signed escalation fails, whatever the approval section says", async () => {
      const action = { type: "crm", tool: "delete", params: { id: "c-solo" } };
      const asked = await agent(g).post("/api/v1/gateway/execute", executeBody(UAPK, action));
      const id = asked.body.approval_id as string;
      expect((await operator(g).post(`/approvals/${id}/approve`, { reason: "fine" })).status).toBe(200);
      const ran = await agent(g).post("/api/v1/gateway/execute", executeBody(UAPK, action, { approval_id: id }));
      expect(ran.body.decision).toBe("ALLOW");
      const bundle = clone(await evidenceOf(ran.body.interaction_id));
      // The proof starts at the escalation: cut it, and every trace of it in the approval section.
      const escalation = bundle.proof.chain.shift();
      expect(escalation).toMatchObject({ kind: "decision", decision: "ESCALATE", approval_id: id });
      delete bundle.approval.requested_at;
      delete bundle.approval.escalated_interaction_id;
      bundle.approval.reasons = [];
      bundle.proof.involved_seqs = bundle.proof.involved_seqs.filter((s: number) => s !== escalation.seq);
      const cut = await verifyBundle(bundle);
      expect(cut.code).toBe(1);
      expect(cut.err).toMatch(/^FAIL: approval: the proof holds no signed escalation \(ESCALATE decision record\)/);
    });

    it("a re-submit's ESCALATE cannot stand in for the escalation cut from the proof", async () => {
      const bundle = clone(await evidenceOf(approvedInteraction));
      // The re-submit while pending (beforeAll) also names the approval: cut the proof to start there instead.
      const at = bundle.proof.chain.findIndex(
        (r: ChainRecord) =>
          r.kind === "decision" && r.approval_id === approvalId && r.interaction_id !== escalatedInteraction,
      );
      expect(at).toBeGreaterThan(0);
      const [escalation] = bundle.proof.chain.splice(0, at);
      const resubmit = bundle.proof.chain[0];
      bundle.approval = {
        ...bundle.approval,
        requested_at: resubmit.timestamp,
        escalated_interaction_id: resubmit.interaction_id,
        reasons: resubmit.reasons,
      };
      bundle.proof.involved_seqs = [
        resubmit.seq,
        ...bundle.proof.involved_seqs.filter((s: number) => s !== escalation.seq),
      ].sort((a: number, b: number) => a - b);
      const result = await verifyBundle(bundle);
      expect(result.code).toBe(1);
      expect(result.err).toMatch(/^FAIL: approval: the signed verdict \(seq \d+\) is not in the escalated interaction/);
    });

    it("a token's section names the operator who issued and revoked it, whatever issuer_id says; it verifies", async () => {
      const issued = await operator(g).post("/capability-tokens", {
        issuer_id: "security-officer@acme",
        agent_id: UAPK,
        uapk_id: UAPK,
        capabilities: ["crm:read"],
      });
      expect(issued.status, issued.text).toBe(201);
      const read = { type: "crm", tool: "read", params: { id: "t-1" } };
      const used = await agent(g).post(
        "/api/v1/gateway/execute",
        executeBody(UAPK, read, { capability_token: issued.body.token }),
      );
      expect(used.body).toMatchObject({ decision: "ALLOW", executed: true });
      const revoked = await operator(g).post(`/capability-tokens/${issued.body.token_id}/revoke`, { reason: "done" });
      expect(revoked.body).toMatchObject({ revoked: true, revoked_by: "operator@contract" });
      const listed = await operator(g).get(`/capability-tokens?include_inactive=true&agent_id=${UAPK}`);
      expect(listed.body.items.find((t: { token_id: string }) => t.token_id === issued.body.token_id)).toMatchObject({
        issuer_id: "security-officer@acme",
        issued_by: "operator@contract",
        revoked_by: "operator@contract",
      });

      const bundle = await evidenceOf(used.body.interaction_id);
      expect(bundle.capability_token).toMatchObject({
        token_id: issued.body.token_id,
        issuer_id: "security-officer@acme",
        issued_by: "operator@contract",
        revoked: true,
        revoked_at: revoked.body.revoked_at,
        revoked_by: "operator@contract",
      });
      const result = await verifyBundle(bundle);
      expect(result.code, result.err).toBe(0);
      // Issue and revocation are signed records now: proven, not the gateway's statement.
      expect(result.out).toMatch(/capability_token: issued by operator@contract at .* \(signed token_issued record/);
      expect(result.out).toMatch(/capability_token: revoked by operator@contract at .* \(signed token_revoked record/);
    });

    it("generated_at is the signed head's moment; another is named as the gateway's statement, an earlier one fails", async () => {
      const bundle = await evidenceOf(approvedInteraction);
      expect(bundle.generated_at).toBe(bundle.proof.chain_head.signed_at);
      const later = clone(bundle);
      later.generated_at = "2099-01-01T00:00:00.000Z";
      const shownLater = await verifyBundle(later);
      expect(shownLater.code, shownLater.err).toBe(0);
      // Before, an edited generated_at verified without a word: nothing signs it.
      expect(shownLater.out).toMatch(/generated_at "?2099-01-01T00:00:00.000Z"? is the gateway's statement/);
      const earlier = clone(bundle);
      earlier.generated_at = "2001-01-01T00:00:00.000Z";
      const refused = await verifyBundle(earlier);
      expect(refused.code).toBe(1);
      expect(refused.err).toMatch(/^FAIL: bundle: generated_at .* is before the chain head/);
    });

    it("a DENY without manifest or outcome verifies too; an unknown interaction is 404", async () => {
      const denied = await agent(g).post(
        "/api/v1/gateway/execute",
        executeBody("not-registered", { type: "crm", tool: "read" }),
      );
      const bundle = await evidenceOf(denied.body.interaction_id);
      expect(bundle.manifest).toBeUndefined();
      expect(bundle.outcome).toBeUndefined();
      const result = await verifyBundle(bundle);
      expect(result.code, result.err).toBe(0);
      expect(result.out).toMatch(/outcome: nothing ran/);
      const missing = await operator(g).get("/interactions/int-unknown/evidence");
      expect(missing.status).toBe(404);
      expect(missing.body.code).toBe("INTERACTION_NOT_FOUND");
    });
  });

  describe("signed chain head", () => {
    it("GET …/interactions/head is signed by an audit key of the JWKS and names the last record", async () => {
      const head = (await operator(g).get("/interactions/head")).body;
      const keys = jwksToKeys(await fetch(`${g.url}/.well-known/jwks.json`).then((r) => r.json()));
      expect(chainHeadProblem(head, (kid) => keys.get(kid))).toBeNull();
      const latest = (await operator(g).get("/interactions?limit=1")).body.items[0];
      expect(head).toMatchObject({
        type: "gatehouse.audit.chain_head",
        org_id: ORG_ID,
        seq: latest.seq,
        hash: latest.hash,
      });
      expect(chainHeadProblem({ ...head, hash: "0".repeat(64) }, (kid) => keys.get(kid))).toMatch(/does not verify/);
    });

    it("the export ends with it; audit verify detects a cut at the tail and a missing head", async () => {
      const text = (await operator(g).get("/interactions/export")).text;
      const lines = text.trimEnd().split("\n");
      expect(JSON.parse(lines.at(-1)!)).toHaveProperty("chain_head.type", "gatehouse.audit.chain_head");
      const verify = async (content: string[]) => {
        const file = join(work, `export-${Math.random().toString(36).slice(2)}.jsonl`);
        writeFileSync(file, `${content.join("\n")}\n`);
        const out: string[] = [];
        const err: string[] = [];
        const code = await runAuditVerify([file, "--jwks", jwksFile], {
          stdout: (l) => out.push(l),
          stderr: (l) => err.push(l),
        });
        return { code, out: out.join("\n"), err: err.join("\n") };
      };
      const whole = await verify(lines);
      expect(whole.code, whole.err).toBe(0);
      expect(whole.out).toMatch(/nothing is missing at the end/);

      const cut = await verify([...lines.slice(0, -3), lines.at(-1)!]);
      expect(cut.code).toBe(1);
      expect(cut.err).toMatch(/cut at the tail .*\(2 record\(s\) missing at the end\)/);

      const headless = await verify(lines.slice(0, -2));
      expect(headless.code).toBe(1);
      expect(headless.err).toMatch(/does not end with a signed chain head/);

      const after = await verify([...lines, lines[0]!]);
      expect(after.code).toBe(1);
      expect(after.err).toMatch(/record after the signed chain head/);

      const dupHead = await verify([
        ...lines.slice(0, -1),
        lines.at(-1)!.replace('{"chain_head":{', '{"chain_head":{"seq":1,'),
      ]);
      expect(dupHead.code).toBe(1);
      expect(dupHead.err).toMatch(/duplicate keys/);
    });
  });
});
