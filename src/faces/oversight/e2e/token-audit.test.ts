// Capability tokens issued and revoked through the REST API leave signed records in the org's audit chain
// (`token_issued`, `token_revoked`, in the interaction named by the token's id), never the token itself. The chain
// still verifies online and offline (`gatehouse audit verify`), a tampered token record fails it, and an evidence
// bundle of an action that used the token proves who issued and revoked it from those records.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runAuditVerify } from "../../../cli/audit-verify";
import { runCli } from "../../../cli/program";
import { gatehouseBackends, type OpenedBackend } from "../../../test-support/backends";
import { startTestGatehouse, type TestGatehouse } from "../../../test-support/gatehouse";
import { agent, executeBody, operator, registerManifest } from "../../../test-support/http";

const UAPK = "token-audit-bot";
const manifest = {
  uapk_id: UAPK,
  agent: { id: UAPK, name: "Token Audit Bot" },
  capabilities: ["crm:read", "crm:write"],
  tools: { "crm:read": { connector: { type: "echo" } }, "crm:write": { connector: { type: "echo" } } },
};

type Rec = { seq: number; kind: string; interaction_id: string; agent_id: string; meta: Record<string, unknown> };

const backends = await gatehouseBackends("token audit records");

describe.each(backends)("capability token audit records ($name)", (backend) => {
  let opened: OpenedBackend;
  let g: TestGatehouse;
  let work: string;
  let issued: { token_id: string; token: string; expires_at: string };
  let usedInteraction: string;

  async function cli(run: (out: (l: string) => void, err: (l: string) => void) => Promise<number>) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await run(
      (l) => out.push(l),
      (l) => err.push(l),
    );
    return { code, out: out.join("\n"), err: err.join("\n") };
  }

  async function jwksFile() {
    const file = join(work, "jwks.json");
    writeFileSync(file, JSON.stringify(await fetch(`${g.url}/.well-known/jwks.json`).then((r) => r.json())));
    return file;
  }

  async function verifyBundle(bundle: unknown) {
    const file = join(work, `bundle-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify(bundle));
    const jwks = await jwksFile();
    return cli((stdout, stderr) => runCli(["evidence", "verify", file, "--jwks", jwks], { stdout, stderr }));
  }

  async function verifyExport(lines: string[]) {
    const file = join(work, `export-${Math.random().toString(36).slice(2)}.jsonl`);
    writeFileSync(file, `${lines.join("\n")}\n`);
    const jwks = await jwksFile();
    return cli((stdout, stderr) => runAuditVerify([file, "--jwks", jwks], { stdout, stderr }));
  }

  const tokenRecords = async (): Promise<Rec[]> => {
    const lines = (await operator(g).get("/interactions/export")).text.trimEnd().split("\n");
    return lines
      .map((l) => JSON.parse(l) as Rec)
      .filter((r) => r.interaction_id === issued.token_id && r.kind?.startsWith("token_"));
  };

  beforeAll(async () => {
    opened = await backend.open();
    g = await startTestGatehouse({ env: opened.env });
    work = mkdtempSync(join(tmpdir(), "gatehouse-token-audit-"));
    await registerManifest(g, manifest);
    const reply = await operator(g).post("/capability-tokens", {
      issuer_id: "security-team",
      agent_id: UAPK,
      uapk_id: UAPK,
      capabilities: ["crm:read"],
      constraints: { max_actions: 5, allowed_recipients: ["*@acme.example", "ops@partner.example"] },
    });
    expect(reply.status, reply.text).toBe(201);
    issued = reply.body;
    const used = await agent(g).post(
      "/api/v1/gateway/execute",
      executeBody(
        UAPK,
        { type: "crm", tool: "read", params: { to: "bob@acme.example" }, counterparty: "bob@acme.example" },
        {
          capability_token: issued.token,
        },
      ),
    );
    expect(used.body, used.text).toMatchObject({ decision: "ALLOW" });
    usedInteraction = used.body.interaction_id;
  });

  afterAll(async () => {
    await g?.dispose();
    await opened?.dispose();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("issuing writes one signed token_issued record naming the token, its claims and the operator, never the JWT", async () => {
    const records = await tokenRecords();
    expect(records.map((r) => r.kind)).toEqual(["token_issued"]);
    expect(records[0]).toMatchObject({
      agent_id: UAPK,
      meta: {
        token_id: issued.token_id,
        issuer_id: "security-team",
        issued_by: "operator@contract",
        capabilities: ["crm:read"],
        max_actions: 5,
        allowed_recipients_count: 2,
        expires_at: issued.expires_at,
      },
    });
    const exported = (await operator(g).get("/interactions/export")).text;
    expect(exported).not.toContain(issued.token);
    // Recipients are counted, not listed: the record goes into evidence bundles' proofs.
    expect(exported).not.toContain("ops@partner.example");
    // The operator's view of the token's interaction is its latest record.
    const read = await operator(g).get(`/interactions/${issued.token_id}`);
    expect(read.status, read.text).toBe(200);
    expect(read.body).toMatchObject({ kind: "token_issued", agent_id: UAPK, meta: { issued_by: "operator@contract" } });
    expect(read.body).not.toHaveProperty("action");
    expect(read.body).not.toHaveProperty("decision");
  });

  it("revoking writes one token_revoked record (a second revocation none); the chain verifies, online and offline", async () => {
    const first = await operator(g).post(`/capability-tokens/${issued.token_id}/revoke`, { reason: "rotation" });
    expect(first.status, first.text).toBe(200);
    const again = await operator(g).post(`/capability-tokens/${issued.token_id}/revoke`, { reason: "again" });
    expect(again.status).toBe(200);
    const records = await tokenRecords();
    expect(records.map((r) => r.kind)).toEqual(["token_issued", "token_revoked"]);
    expect(records[1]).toMatchObject({
      meta: {
        token_id: issued.token_id,
        revoked_by: "operator@contract",
        revoked_at: first.body.revoked_at,
        reason: "rotation",
      },
    });
    expect((await operator(g).get("/interactions/verify")).body).toMatchObject({ valid: true });
    const lines = (await operator(g).get("/interactions/export")).text.trimEnd().split("\n");
    const whole = await verifyExport(lines);
    expect(whole.code, whole.err).toBe(0);
  });

  it("a tampered token_issued record fails `gatehouse audit verify`, naming its seq", async () => {
    const lines = (await operator(g).get("/interactions/export")).text.trimEnd().split("\n");
    const at = lines.findIndex((l) => l.includes('"kind":"token_issued"'));
    const record = JSON.parse(lines[at]!) as Rec;
    record.meta.issued_by = "someone-else";
    lines[at] = JSON.stringify(record);
    const tampered = await verifyExport(lines);
    expect(tampered.code).toBe(1);
    expect(tampered.err).toContain(`seq ${record.seq}`);
    expect(tampered.err).toMatch(/hash mismatch/);
  });

  it("an evidence bundle proves the token's issuer and revocation from its signed records", async () => {
    const reply = await operator(g).get(`/interactions/${usedInteraction}/evidence`);
    expect(reply.status, reply.text).toBe(200);
    const bundle = reply.body;
    expect(bundle.proof.token_records.map((r: Rec) => r.kind)).toEqual(["token_issued", "token_revoked"]);
    expect(bundle.capability_token).toMatchObject({
      token_id: issued.token_id,
      issuer_id: "security-team",
      issued_by: "operator@contract",
      max_actions: 5,
      allowed_recipients_count: 2,
      revoked: true,
      revoked_by: "operator@contract",
    });
    const result = await verifyBundle(bundle);
    expect(result.code, result.err).toBe(0);
    expect(result.out).toMatch(
      /capability_token: issued by operator@contract at .* \(signed token_issued record, seq \d+\)/,
    );
    expect(result.out).toMatch(/capability_token: revoked by operator@contract at .* \(signed token_revoked record/);
    expect(result.out).not.toMatch(/issued_by and revocation are the gateway's statement/);

    const claimed = structuredClone(bundle);
    claimed.capability_token.issued_by = "security-officer";
    const byOther = await verifyBundle(claimed);
    expect(byOther.code).toBe(1);
    expect(byOther.err).toMatch(/^FAIL: capability_token: issued_by differs from the signed token_issued record/);

    const unrevoked = structuredClone(bundle);
    unrevoked.capability_token.revoked = false;
    delete unrevoked.capability_token.revoked_at;
    delete unrevoked.capability_token.revoked_by;
    const hidden = await verifyBundle(unrevoked);
    expect(hidden.code).toBe(1);
    expect(hidden.err).toMatch(/^FAIL: capability_token: revoked differs from the signed token_revoked record/);

    // The revocation record left out of token_records too (R19): the chain after the decision still holds it.
    const leftOut = structuredClone(unrevoked);
    leftOut.proof.token_records = leftOut.proof.token_records.filter((r: Rec) => r.kind !== "token_revoked");
    expect(leftOut.proof.chain.some((r: Rec) => r.kind === "token_revoked")).toBe(true);
    const hiddenRecord = await verifyBundle(leftOut);
    expect(hiddenRecord.code).toBe(1);
    expect(hiddenRecord.err).toMatch(/^FAIL: proof: the chain holds the token's token_revoked record \(seq \d+\)/);

    const forged = structuredClone(bundle);
    forged.proof.token_records[0].meta.issued_by = "security-officer";
    forged.capability_token.issued_by = "security-officer";
    const rewritten = await verifyBundle(forged);
    expect(rewritten.code).toBe(1);
    expect(rewritten.err).toMatch(/^FAIL: proof: token record seq \d+: hash mismatch/);
  });
});
