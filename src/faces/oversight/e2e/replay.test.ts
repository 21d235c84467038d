// Shadow replay against a real Gatehouse: recorded actions decided again with a candidate manifest. A tightening
// shows the expected ALLOW→DENY / ALLOW→ESCALATE cells, a loosening is reported and fails `gatehouse policy
// replay` (unless --allow-loosening), budgets are replayed as of their hour, and nothing is written by a replay.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../../contract-tests/fixtures";
import { runCli } from "../../../cli/program";
import { agent, executeBody, ORG_ID, operator, registerManifest } from "../../../test-support/http";
import { gatehouseBackends, type OpenedBackend } from "../../../test-support/backends";

const UAPK = "replay-bot";
const manifest = {
  uapk_id: UAPK,
  agent: { id: UAPK, name: "Replay Bot" },
  capabilities: ["email:send", "crm:read", "crm:update", "crm:delete"],
  constraints: { max_actions_per_hour: 100, require_human_approval: ["crm:delete"] },
  tools: {
    "email:send": { connector: { type: "echo" } },
    "crm:read": { connector: { type: "echo" } },
    "crm:update": { connector: { type: "echo" } },
    "crm:delete": { connector: { type: "echo" } },
  },
};

const backends = await gatehouseBackends("shadow replay e2e");

describe.each(backends)("shadow replay ($name)", (backend) => {
  let opened: OpenedBackend;
  let g: TestGatehouse;
  let manifestId: string;
  let work: string;
  const ids: Record<string, string[]> = { read: [], update: [], evil: [], delete: [], send: [] };

  async function run(key: keyof typeof ids, action: Record<string, unknown>, extra: Record<string, unknown> = {}) {
    const reply = await agent(g).post("/api/v1/gateway/execute", executeBody(UAPK, action, extra));
    expect(reply.status, reply.text).toBe(200);
    ids[key]!.push(reply.body.interaction_id);
    return reply.body;
  }

  /** What a replay must never change: budgets, idempotency keys, approvals, the audit chain. */
  async function state() {
    const all = (sql: string) => opened.rows(g, sql);
    return {
      budgets: await all('SELECT * FROM action_budget_counters ORDER BY scope, "window"'),
      idempotency: await all("SELECT * FROM idempotency_keys ORDER BY key"),
      approvals: await all("SELECT approval_id, status FROM approvals ORDER BY approval_id"),
      audit: await all("SELECT seq, hash FROM audit_records ORDER BY org_id, seq"),
      counterparties: await all("SELECT * FROM known_counterparties ORDER BY counterparty"),
    };
  }

  /** Exporting becomes a capability and deleting needs no approval any more. */
  const looser = {
    ...manifest,
    capabilities: [...manifest.capabilities, "crm:export"],
    constraints: { max_actions_per_hour: 100 },
    tools: { ...manifest.tools, "crm:export": { connector: { type: "echo" } } },
  };

  const replay = (candidate: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    operator(g).post(`/manifests/${manifestId}/replay`, { candidate, ...extra });

  const cell = (
    report: { matrix: { from: string; to: string; count: number; sample_interaction_ids: string[] }[] },
    from: string,
    to: string,
  ) => report.matrix.find((c) => c.from === from && c.to === to);

  beforeAll(async () => {
    opened = await backend.open();
    g = await startTestGatehouse({ env: opened.env });
    work = mkdtempSync(join(tmpdir(), "gatehouse-replay-"));
    manifestId = (await registerManifest(g, manifest)).body.manifest_id;
    for (let i = 0; i < 3; i++) await run("read", { type: "crm", tool: "read", params: { id: `c-${i}` } });
    for (let i = 0; i < 2; i++) await run("update", { type: "crm", tool: "update", params: { id: `c-${i}` } });
    // Its context names the marker of a settled idempotency key (meta.idempotency_outcome_unknown): the agent's own
    // context must not hide its record from replay (the loosening below must still count it).
    const hiding = { context: { idempotency_outcome_unknown: { interaction_id: "int-x" } } };
    expect((await run("evil", { type: "crm", tool: "export", params: { all: true } }, hiding)).decision).toBe("DENY");
    await run("send", { type: "email", tool: "send", params: { to: "ann@acme.com" } });
    expect((await run("delete", { type: "crm", tool: "delete", params: { id: "c-9" } })).decision).toBe("ESCALATE");
    // An idempotent execute, so the idempotency table has something a replay could disturb.
    const keyed = executeBody(UAPK, { type: "crm", tool: "read", params: { id: "k" } }, { idempotency_key: "k-1" });
    const reply = await agent(g).post("/api/v1/gateway/execute", keyed);
    expect(reply.status).toBe(200);
    ids.read!.push(reply.body.interaction_id);
  });

  afterAll(async () => {
    await g?.dispose();
    await opened?.dispose();
    rmSync(work, { recursive: true, force: true });
  });

  describe("POST …/manifests/{id}/replay", () => {
    it("the registered manifest itself changes nothing", async () => {
      const reply = await replay(manifest);
      expect(reply.status, reply.text).toBe(200);
      expect(reply.body).toMatchObject({ replayed: 9, changed: 0, loosening: 0, tightening: 0, truncated: false });
      expect(cell(reply.body, "ALLOW", "ALLOW")?.count).toBe(7);
      expect(reply.body.reason_changes).toEqual([]);
    });

    it("a tightening shows the expected ALLOW→DENY and ALLOW→ESCALATE cells, with samples and reason codes", async () => {
      const tighter = {
        ...manifest,
        capabilities: ["email:send", "crm:update", "crm:delete"],
        constraints: { max_actions_per_hour: 100, require_human_approval: ["crm:delete", "crm:update"] },
        tools: { ...manifest.tools, "crm:read": undefined },
      };
      const reply = await replay(JSON.parse(JSON.stringify(tighter)));
      expect(reply.status, reply.text).toBe(200);
      const denied = cell(reply.body, "ALLOW", "DENY");
      expect(denied?.count).toBe(4);
      expect(new Set(denied?.sample_interaction_ids)).toEqual(new Set(ids.read!.slice(0, 5)));
      const escalated = cell(reply.body, "ALLOW", "ESCALATE");
      expect(escalated?.count).toBe(2);
      expect(new Set(escalated?.sample_interaction_ids)).toEqual(new Set(ids.update));
      expect(reply.body).toMatchObject({ changed: 6, tightening: 6, loosening: 0 });
      const codes = Object.fromEntries(
        reply.body.reason_changes.map((c: { code: string; added: number }) => [c.code, c.added]),
      );
      expect(codes).toEqual({ TOOL_NOT_AUTHORIZED: 4, REQUIRES_APPROVAL: 2 });
    });

    it("a loosening is reported: recorded DENY and ESCALATE become ALLOW", async () => {
      const reply = await replay(looser);
      expect(reply.status, reply.text).toBe(200);
      expect(cell(reply.body, "DENY", "ALLOW")).toMatchObject({ count: 1, sample_interaction_ids: ids.evil });
      expect(cell(reply.body, "ESCALATE", "ALLOW")).toMatchObject({ count: 1, sample_interaction_ids: ids.delete });
      expect(reply.body.loosening).toBe(2);
      const removed = reply.body.reason_changes.map((c: { code: string; removed: number }) => [c.code, c.removed]);
      expect(Object.fromEntries(removed)).toEqual({ TOOL_NOT_AUTHORIZED: 1, REQUIRES_APPROVAL: 1 });
    });

    it("budgets are replayed as the candidate would have spent them in that hour", async () => {
      const reply = await replay({ ...manifest, constraints: { ...manifest.constraints, max_actions_per_hour: 2 } });
      expect(reply.status, reply.text).toBe(200);
      // Seven recorded ALLOWs in one hour: the first two still fit, the others exceed the smaller budget.
      expect(cell(reply.body, "ALLOW", "ALLOW")?.count).toBe(2);
      expect(cell(reply.body, "ALLOW", "DENY")?.count).toBe(5);
      const budget = reply.body.reason_changes.find((c: { code: string }) => c.code === "BUDGET_EXCEEDED");
      expect(budget.added).toBeGreaterThanOrEqual(5);
    });

    it("limit and time range select the recorded actions", async () => {
      const limited = await replay(manifest, { limit: 4 });
      expect(limited.body).toMatchObject({ replayed: 4, truncated: true });
      const future = await replay(manifest, { since: "2999-01-01T00:00:00Z" });
      expect(future.body).toMatchObject({ replayed: 0, changed: 0 });
    });

    it("has no side effect: budgets, idempotency, approvals, counterparties and the audit chain are unchanged", async () => {
      const before = await state();
      for (const candidate of [
        manifest,
        { ...manifest, constraints: {}, policy: { escalate_new_counterparties: true } },
        { ...manifest, constraints: { max_actions_per_hour: 1 } },
      ])
        expect((await replay(candidate)).status).toBe(200);
      expect(await state()).toEqual(before);
    });

    it("refuses a candidate of another agent, an invalid candidate, and another org's manifest id", async () => {
      const other = await replay({ ...manifest, uapk_id: "someone-else", agent: { id: "someone-else", name: "S" } });
      expect(other.status).toBe(400);
      expect(other.body.code).toBe("INVALID_MANIFEST");
      expect(other.body.errors.map((e: { pointer: string }) => e.pointer)).toEqual([
        "/candidate/uapk_id",
        "/candidate/agent/id",
      ]);
      const invalid = await replay({ ...manifest, capabilities: ["not-a-capability"] });
      expect(invalid.status).toBe(400);
      expect(invalid.body.errors[0].pointer).toMatch(/^\/candidate\//);
      const token = await g.devIssuer!.mint({ sub: "op@b", org: "org-b", roles: ["operator"] });
      const res = await fetch(`${g.url}/api/v1/orgs/org-b/manifests/${manifestId}/replay`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ candidate: manifest }),
      });
      expect(res.status).toBe(404);
    });
  });

  describe("gatehouse policy replay", () => {
    async function cli(candidate: Record<string, unknown>, ...flags: string[]) {
      const file = join(work, `candidate-${Math.random().toString(36).slice(2)}.json`);
      writeFileSync(file, JSON.stringify(candidate));
      const out: string[] = [];
      const err: string[] = [];
      const code = await runCli(
        ["policy", "replay", file, "--url", g.url, "--token", g.operatorToken, "--org", ORG_ID, ...flags],
        { stdout: (l) => out.push(l), stderr: (l) => err.push(l) },
      );
      return { code, out: out.join("\n"), err: err.join("\n") };
    }

    it("prints the matrix and exits 1 on a loosening, 0 with --allow-loosening", async () => {
      const failed = await cli(looser, "--agent", UAPK);
      expect(failed.code).toBe(1);
      expect(failed.out).toMatch(/! DENY\s+→ ALLOW\s+1/);
      expect(failed.out).toMatch(/! ESCALATE → ALLOW\s+1/);
      expect(failed.err).toMatch(/2 recorded DENY\/ESCALATE decision\(s\) would become ALLOW/);
      const accepted = await cli(looser, "--allow-loosening");
      expect(accepted.code).toBe(0);
    });

    it("exits 1 when the limit cut the replay short: the actions not replayed could hold a loosening", async () => {
      // The oldest 4 are reads and updates; the DENY and the ESCALATE the looser manifest turns into ALLOW come later.
      const cut = await cli(looser, "--agent", UAPK, "--limit", "4");
      expect(cut.out).toMatch(/replayed 4 recorded action\(s\).* — truncated at the limit/);
      expect(cut.code).toBe(1);
      expect(cut.err).toMatch(/more recorded actions matched than --limit 4: the newer ones were not replayed/);
    });

    it("passes a tightening and shows its cells", async () => {
      const tighter = {
        ...manifest,
        constraints: { max_actions_per_hour: 100, require_human_approval: ["crm:delete", "crm:update"] },
      };
      const result = await cli(tighter, "--since", "2000-01-01T00:00:00Z");
      expect(result.code, result.err).toBe(0);
      expect(result.out).toMatch(/\* ALLOW\s+→ ESCALATE\s+2/);
      expect(result.out).toMatch(/changed 2: loosening 0, tightening 2/);
    });
  });
});
