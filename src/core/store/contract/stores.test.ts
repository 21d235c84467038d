// The store contract: the same tests against the embedded SQLite file and PostgreSQL. What every backend
// must guarantee for governed actions — budgets that never overshoot, one answer per idempotency key,
// approvals decided and consumed once, an audit chain that verifies, signing keys sealed at rest.
import { createPublicKey } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runAuditVerify } from "../../../cli/audit-verify";
import { chainHeadProblem } from "../../audit/chain-head";
import { EXPORT_PAGE_RECORDS } from "../../audit/export-pages";
import { ActionConflictError } from "../../governance/types";
import type { AnyKysely } from "../postgres";
import { createSharedStores, type SharedStores } from "../shared";
import { loopTurns } from "../test-support";
import { contractBackends, TEST_SECRET } from "./backends";
import { approvalInput, chainOf, intentInput, ORG } from "./fixtures";

const slot = (limit: number, scope = "hour:org:uapk:agent") => ({ scope, window: 7, limit });

describe.each(await contractBackends("store contract"))("store contract on $name", (backend) => {
  let db: AnyKysely;
  let stores: SharedStores;
  let close: () => Promise<void>;

  beforeEach(async () => {
    ({ db, close } = await backend.open());
    stores = createSharedStores(db, { secret: TEST_SECRET });
  });
  afterEach(() => close());

  /** `count` DENY decisions of distinct interactions, appended in group commits. */
  async function appendDecisions(count: number): Promise<void> {
    const decisions = Array.from({ length: count }, (_, i) => ({
      ...intentInput(`d-${i}`),
      decision: "DENY" as const,
    }));
    await Promise.all(decisions.map((d) => stores.audit.appendDecisionGrouped(d)));
  }

  describe("budgets", () => {
    it("grants units up to the limit and refuses the next, naming the exhausted budget", async () => {
      const results = [];
      for (let i = 0; i < 4; i++) results.push(await stores.budgets.tryConsume([slot(3)]));
      expect(results.map((r) => r.ok)).toEqual([true, true, true, false]);
      expect(results[3]).toMatchObject({ ok: false, exhausted: { scope: "hour:org:uapk:agent" } });
      expect(await stores.budgets.current("hour:org:uapk:agent", 7)).toBe(3);
    });

    it("takes from every budget or from none", async () => {
      await stores.budgets.tryConsume([slot(1, "token:t1")]);
      const refused = await stores.budgets.tryConsume([slot(5), slot(1, "token:t1")]);
      expect(refused.ok).toBe(false);
      expect(await stores.budgets.current("hour:org:uapk:agent", 7)).toBe(0);
    });

    it("gives refunded units back", async () => {
      await stores.budgets.tryConsume([slot(1)]);
      await stores.budgets.refund([slot(1)]);
      expect((await stores.budgets.tryConsume([slot(1)])).ok).toBe(true);
    });
  });

  describe("known counterparties", () => {
    it("knows a counterparty once remembered, in the policy's normal form (case, full-width letters)", async () => {
      const at = new Date("2026-01-01T00:00:00.000Z");
      expect(await stores.counterparties.isKnown(ORG, "uapk-1", "bob@example.com")).toBe(false);
      await stores.counterparties.remember(ORG, "uapk-1", "Bob@Example.COM", at);
      await stores.counterparties.remember(ORG, "uapk-1", "bob@example.com", at); // again: no error, one row
      expect(await stores.counterparties.isKnown(ORG, "uapk-1", "bob@example.com")).toBe(true);
      // A fresh node (no local set) reads it from the store, also written the NFKC-equivalent way.
      const other = createSharedStores(db, { secret: TEST_SECRET });
      expect(await other.counterparties.isKnown(ORG, "uapk-1", "\uff42ob@example.com")).toBe(true);
      expect(await other.counterparties.isKnown(ORG, "uapk-2", "bob@example.com")).toBe(false);
      const rows = await db.selectFrom("known_counterparties").select("counterparty").execute();
      expect(rows).toEqual([{ counterparty: "bob@example.com" }]);
    });

    it("asks which of 5,000 counterparties are new in a few queries, not one round trip each", async () => {
      // Asked one each, an action naming 5,000 new recipients held its request and a pooled connection for ~8.6 s
      // on PostgreSQL before NEW_COUNTERPARTY could answer; the number of queries is what keeps it fast.
      let selects = 0;
      const counting = db.withPlugin({
        transformQuery: ({ node }) => {
          if (node.kind === "SelectQueryNode") selects++;
          return node;
        },
        transformResult: async ({ result }) => result,
      });
      const fresh = createSharedStores(counting, { secret: TEST_SECRET }).counterparties;
      const at = new Date("2026-01-01T00:00:00.000Z");
      const known = ["k1@example.com", "k2@example.com"];
      for (const k of known) await stores.counterparties.remember(ORG, "uapk-1", k, at);
      const asked = [...known, ...Array.from({ length: 5000 }, (_, i) => `new-${i}@example.com`)];
      const unknown = await fresh.unknownAmong(ORG, "uapk-1", asked);
      expect(unknown).toEqual(asked.slice(2));
      expect(selects).toBeLessThanOrEqual(6);
    });
  });

  describe("idempotency", () => {
    const scope = { org_id: ORG, agent_id: "agent-1", key: "k-1" };

    it("claims a key once, replays the answer, and refuses another body", async () => {
      expect(await stores.idempotency.begin({ ...scope, requestHash: "h1" })).toEqual({ state: "new" });
      const second = await stores.idempotency.begin({ ...scope, requestHash: "h1" });
      expect(second.state).toBe("in_flight");
      await stores.idempotency.complete(scope, { decision: "ALLOW", timestamp: "2026-01-01T00:00:00.000Z" }, 200);
      if (second.state === "in_flight") expect((await second.wait).state).toBe("replay");
      const replay = await stores.idempotency.begin({ ...scope, requestHash: "h1" });
      expect(replay).toMatchObject({ state: "replay", status: 200, response: { decision: "ALLOW", idempotent: true } });
      expect((await stores.idempotency.begin({ ...scope, requestHash: "h2" })).state).toBe("conflict");
    });

    it("lets a retry execute after the key was released", async () => {
      await stores.idempotency.begin({ ...scope, requestHash: "h1" });
      await stores.idempotency.release(scope);
      expect(await stores.idempotency.begin({ ...scope, requestHash: "h1" })).toEqual({ state: "new" });
    });
  });

  describe("approvals", () => {
    it("shares one pending approval between identical escalations", async () => {
      const a = await stores.approvals.create(approvalInput());
      const b = await stores.approvals.create(approvalInput());
      expect(b.approval_id).toBe(a.approval_id);
      expect((await stores.approvals.create(approvalInput(60))).approval_id).not.toBe(a.approval_id);
    });

    it("is decided once and consumed once, only for the request it was granted for", async () => {
      const { approval_id } = await stores.approvals.create(approvalInput());
      const input = { org_id: ORG, approval_id, binding: approvalInput() };
      expect(await stores.approvals.consume(input)).toMatchObject({ ok: false, code: "APPROVAL_PENDING" });
      expect((await stores.approvals.decide(ORG, approval_id, { approved: true, decided_by: "op" })).ok).toBe(true);
      expect(await stores.approvals.decide(ORG, approval_id, { approved: false, decided_by: "op" })).toMatchObject({
        ok: false,
        code: "NOT_PENDING",
      });
      const other = { ...input, binding: approvalInput(5000) };
      expect(await stores.approvals.consume(other)).toMatchObject({ ok: false, code: "APPROVAL_BINDING_MISMATCH" });
      expect(await stores.approvals.consume(input)).toMatchObject({ ok: true, approval: { status: "consumed" } });
      expect(await stores.approvals.consume(input)).toMatchObject({ ok: false, code: "APPROVAL_ALREADY_CONSUMED" });
    });
  });

  describe("audit chain", () => {
    it("appends intent, outcome and decision records into one chain that verifies", async () => {
      const intent = await stores.audit.appendIntent(intentInput("i-1"));
      expect(intent.action).toMatchObject({ params: { secret: "[redacted]" } });
      await stores.audit.appendOutcome({ org_id: ORG, interaction_id: "i-1", executed: true, result: { ok: 1 } });
      await stores.audit.appendDecision({ ...intentInput("i-2"), decision: "DENY" });
      const chain = await chainOf(stores.audit, ORG);
      expect(chain.map((r) => [r.seq, r.kind])).toEqual([
        [1, "intent"],
        [2, "outcome"],
        [3, "decision"],
      ]);
      expect(await stores.audit.verify(ORG)).toEqual({ valid: true, records: 3, orgs: 1 });
    });

    it("records one outcome per intent, never an outcome without one", async () => {
      await stores.audit.appendIntent(intentInput("i-1"));
      const outcome = { org_id: ORG, interaction_id: "i-1", executed: true, result: null };
      await stores.audit.appendOutcome(outcome);
      await expect(stores.audit.appendOutcome(outcome)).rejects.toThrow(/already recorded/);
      await expect(stores.audit.appendOutcome({ ...outcome, interaction_id: "nope" })).rejects.toThrow(/no intent/);
    });

    it("signs its head with the audit key (seq 0 when empty, then the last record)", async () => {
      const key = await stores.signingKeys.audit.activeKey();
      const lookup = (kid: string) => (kid === key.kid ? createPublicKey(key.privateKey) : undefined);
      const empty = await stores.audit.signedHead(ORG);
      expect(empty).toMatchObject({ seq: 0, hash: "0".repeat(64), kid: key.kid });
      expect(chainHeadProblem(empty, lookup)).toBeNull();
      await stores.audit.appendIntent(intentInput("i-1"));
      const last = (await chainOf(stores.audit, ORG)).at(-1)!;
      const head = await stores.audit.signedHead(ORG);
      expect(head).toMatchObject({ type: "gatehouse.audit.chain_head", org_id: ORG, seq: 1, hash: last.hash });
      expect(chainHeadProblem(head, lookup)).toBeNull();
      expect(chainHeadProblem({ ...head, seq: 2 }, lookup)).toMatch(/does not verify/);
    });

    it("detects a record changed in the database", async () => {
      await stores.audit.appendIntent(intentInput("i-1"));
      await db
        .updateTable("audit_records")
        .set({ meta: JSON.stringify({ forged: true }) })
        .execute();
      expect(await stores.audit.verify(ORG)).toMatchObject({ valid: false, first_invalid_seq: 1 });
    });

    it("detects a JSON column respelled to the same parsed value (a duplicate key SQL reads first, a space)", async () => {
      await stores.audit.appendIntent(intentInput("i-1"));
      const row = await db.selectFrom("audit_records").select(["action"]).executeTakeFirstOrThrow();
      const original = String(row.action);
      // JSON.parse takes the last `type`, which the hash covers; SQLite's json_extract and filters read the first.
      const respelled = [`{"type":"forged",${original.slice(1)}`, original.replace(":", ": ")];
      for (const action of respelled) {
        await db.updateTable("audit_records").set({ action }).execute();
        expect(await stores.audit.verify(ORG), action).toMatchObject({ valid: false, first_invalid_seq: 1 });
      }
      // A row from before 2026-12-04 holds JSON.stringify's text (keys in insertion order): still the record it was.
      const unsorted = Object.fromEntries(Object.entries(JSON.parse(original) as object).reverse());
      await db
        .updateTable("audit_records")
        .set({ action: JSON.stringify(unsorted) })
        .execute();
      expect(await stores.audit.verify(ORG)).toMatchObject({ valid: true });
    });

    it("signs a grouped batch once: its last record proves the others, and a change to any of them shows", async () => {
      const decisions = Array.from({ length: 12 }, (_, i) => ({ ...intentInput(`g-${i}`), decision: "DENY" as const }));
      await Promise.all(decisions.map((d) => stores.audit.appendDecisionGrouped(d)));
      const chain = await chainOf(stores.audit, ORG);
      expect(chain).toHaveLength(12);
      expect(chain.at(-1)!.signature).toEqual(expect.any(String));
      expect(chain.filter((r) => r.signature === null).length).toBeGreaterThan(0);
      expect(await stores.audit.verify(ORG)).toEqual({ valid: true, records: 12, orgs: 1 });

      const unsigned = chain.find((r) => r.signature === null)!;
      await db.updateTable("audit_records").set({ agent_id: "someone-else" }).where("seq", "=", unsigned.seq).execute();
      expect(await stores.audit.verify(ORG)).toMatchObject({ valid: false, first_invalid_seq: unsigned.seq });
    });

    it("reads a chain of 2,500 records a page at a time, the event loop turning between pages", async () => {
      // `chain(orgId)` read an org's whole chain into the node's memory in one query; it is gone.
      expect(stores.audit).not.toHaveProperty("chain");
      await appendDecisions(2_500);
      const turns = loopTurns();
      const pages: { seqs: number[]; turnsBefore: number }[] = [];
      for await (const page of stores.audit.chainPages(ORG))
        pages.push({ seqs: page.map((r) => r.seq), turnsBefore: turns.count });
      turns.stop();
      expect(pages.map((p) => p.seqs.length)).toEqual([EXPORT_PAGE_RECORDS, EXPORT_PAGE_RECORDS, 500]);
      expect(pages.flatMap((p) => p.seqs)).toEqual(Array.from({ length: 2_500 }, (_, i) => i + 1));
      // Other requests had their turns while the chain was read: at least one between any two pages.
      const turnsBetween = pages.slice(1).map((p, i) => p.turnsBefore - (pages[i]?.turnsBefore ?? 0));
      expect(
        turnsBetween.every((n) => n > 0),
        `turns between pages: ${turnsBetween}`,
      ).toBe(true);
    });

    it("exports a chain of 2,500 records page by page, the loop turning between pages; `audit verify` accepts it", async () => {
      // exportJsonl built the whole export in memory; it is gone.
      expect(stores.audit).not.toHaveProperty("exportJsonl");
      await appendDecisions(2_500);
      const turns = loopTurns();
      const chunks: { text: string; turnsBefore: number }[] = [];
      for await (const chunk of stores.audit.exportJsonlStream(ORG))
        chunks.push({ text: chunk, turnsBefore: turns.count });
      turns.stop();
      const lines = chunks.map((c) => c.text.trimEnd().split("\n"));
      expect(lines.map((page) => page.length)).toEqual([EXPORT_PAGE_RECORDS, EXPORT_PAGE_RECORDS, 500, 1]);
      const records = lines.flat().map((line) => JSON.parse(line));
      expect(records.slice(0, -1).map((r: { seq: number }) => r.seq)).toEqual(
        Array.from({ length: 2_500 }, (_, i) => i + 1),
      );
      expect(records.at(-1).chain_head).toMatchObject({ seq: 2_500, hash: records.at(-2).hash });
      const turnsBetween = chunks.slice(1).map((c, i) => c.turnsBefore - (chunks[i]?.turnsBefore ?? 0));
      expect(
        turnsBetween.every((n) => n > 0),
        `turns between pages: ${turnsBetween}`,
      ).toBe(true);

      const dir = mkdtempSync(join(tmpdir(), "gatehouse-store-export-"));
      try {
        writeFileSync(join(dir, "export.jsonl"), chunks.map((c) => c.text).join(""));
        writeFileSync(join(dir, "jwks.json"), JSON.stringify(await stores.audit.publicJwks()));
        const out: string[] = [];
        const err: string[] = [];
        const io = { stdout: (l: string) => out.push(l), stderr: (l: string) => err.push(l) };
        const code = await runAuditVerify([join(dir, "export.jsonl"), "--jwks", join(dir, "jwks.json")], io);
        expect(code, err.join("\n")).toBe(0);
        expect(out.join("\n")).toMatch(/^OK: 2500 record\(s\)/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("refuses a chain whose last record lost its signature", async () => {
      await Promise.all(
        [1, 2, 3].map((i) => stores.audit.appendDecisionGrouped({ ...intentInput(`s-${i}`), decision: "DENY" })),
      );
      await db.updateTable("audit_records").set({ signature: "" }).where("seq", "=", 3).execute();
      expect(await stores.audit.verify(ORG)).toMatchObject({ valid: false });
    });
  });

  describe("manifests", () => {
    const input = {
      uapk_id: "bot",
      agent: { id: "bot", name: "Bot" },
      capabilities: ["crm:read"],
      tools: { "crm:read": { connector: { type: "echo" as const } } },
    };

    it("ids are per org, and every change is a version", async () => {
      const a = await stores.manifests.register(ORG, { ...input, manifest_id: "m-1" }, "alice");
      expect(a).toMatchObject({ version: 1, org_id: ORG });
      const b = await stores.manifests.register("other-org", { ...input, manifest_id: "m-1" }, "bob");
      expect(b.org_id).toBe("other-org");
      await expect(stores.manifests.register(ORG, { ...input, uapk_id: "bot-2", manifest_id: "m-1" })).rejects.toThrow(
        /already registered/,
      );
      expect((await stores.manifests.setStatus(ORG, "m-1", "suspended", "alice"))?.version).toBe(2);
      const versions = await db
        .selectFrom("manifest_versions")
        .select(["org_id", "version", "change", "author", "content_hash"])
        .orderBy("org_id")
        .orderBy("version")
        .execute();
      expect(versions.map((v) => [v.org_id, Number(v.version), v.change, v.author])).toEqual([
        [ORG, 1, "registered", "alice"],
        [ORG, 2, "suspended", "alice"],
        ["other-org", 1, "registered", "bob"],
      ]);
      expect(new Set(versions.map((v) => v.content_hash)).size).toBe(1);
      expect((await stores.manifests.get("other-org", "m-1"))?.status).toBe("active");
    });
  });

  describe("signing keys", () => {
    it("stores private keys sealed with GATEHOUSE_SECRET, and every store with that secret signs with the same key", async () => {
      const first = await stores.signingKeys.audit.activeKey();
      const second = await createSharedStores(db, { secret: TEST_SECRET }).signingKeys.audit.activeKey();
      expect(second.kid).toBe(first.kid);
      const rows = await db.selectFrom("signing_keys").select("private_pkcs8").execute();
      for (const row of rows) expect(row.private_pkcs8).not.toMatch(/PRIVATE KEY/);
      const stranger = createSharedStores(db, { secret: "another-secret-0123456789" });
      await expect(stranger.signingKeys.audit.activeKey()).rejects.toThrow(/GATEHOUSE_SECRET/);
    });

    it("keeps purposes apart and keeps a rotated key verifying", async () => {
      const audit = await stores.signingKeys.audit.activeKey();
      expect((await stores.signingKeys.capabilityToken.activeKey()).kid).not.toBe(audit.kid);
      const { kid, previous_kid } = await stores.signingKeys.audit.rotate();
      expect(previous_kid).toBe(audit.kid);
      expect(kid).not.toBe(audit.kid);
      const jwks = await stores.signingKeys.audit.publicJwks();
      expect(jwks.keys.map((k) => k.kid)).toEqual([audit.kid, kid]);
    });
  });

  describe("reservations", () => {
    it("commits budget, approval and intent together", async () => {
      const { approval_id } = await stores.approvals.create(approvalInput());
      await stores.approvals.decide(ORG, approval_id, { approved: true, decided_by: "op" });
      const reservation = {
        org_id: ORG,
        interaction_id: "i-1",
        at: new Date(),
        slots: [slot(2)],
        approval: { approval_id, binding: approvalInput() },
        intent: { ...intentInput("i-1"), approval_id },
      };
      expect(await stores.reservations.reserve(reservation)).toEqual({ ok: true });
      expect(await stores.budgets.current("hour:org:uapk:agent", 7)).toBe(1);
      expect((await stores.approvals.get(ORG, approval_id))?.status).toBe("consumed");
      expect((await chainOf(stores.audit, ORG)).map((r) => r.kind)).toEqual(["intent"]);

      // The approval is spent: the second reservation is refused and writes nothing, not even its budget unit.
      const again = { ...reservation, interaction_id: "i-2", intent: { ...intentInput("i-2"), approval_id } };
      await expect(stores.reservations.reserve(again)).rejects.toBeInstanceOf(ActionConflictError);
      expect(await stores.budgets.current("hour:org:uapk:agent", 7)).toBe(1);
      expect(await chainOf(stores.audit, ORG)).toHaveLength(1);
    });

    it("writes nothing when a budget is exhausted", async () => {
      const reservation = {
        org_id: ORG,
        interaction_id: "i-1",
        at: new Date(),
        slots: [slot(0)],
        intent: intentInput("i-1"),
      };
      expect(await stores.reservations.reserve(reservation)).toMatchObject({ ok: false });
      const count = await sql<{ n: number }>`SELECT COUNT(*) AS n FROM audit_records`.execute(db);
      expect(Number(count.rows[0]?.n)).toBe(0);
    });

    it("concurrent reservations committed together grant exactly what one-by-one would, all-or-nothing each", async () => {
      await stores.budgets.tryConsume([slot(2, "token:t1")]); // the token has 1 unit left
      const reservation = (i: number, slots: ReturnType<typeof slot>[]) => ({
        org_id: ORG,
        interaction_id: `i-${i}`,
        at: new Date(),
        slots,
        intent: intentInput(`i-${i}`),
      });
      // Issued in one turn: they reach the node's group commit together, as one batch.
      const results = await Promise.all([
        stores.reservations.reserve(reservation(1, [slot(3), slot(2, "token:t1")])), // takes the token's last unit
        stores.reservations.reserve(reservation(2, [slot(3), slot(2, "token:t1")])), // token exhausted: nothing taken
        stores.reservations.reserve(reservation(3, [slot(3)])),
        stores.reservations.reserve(reservation(4, [slot(3)])), // the hourly budget's last unit
        stores.reservations.reserve(reservation(5, [slot(3)])), // hourly exhausted
        stores.reservations.reserve(reservation(6, [slot(0, "hour:other")])), // a zero budget never grants
      ]);
      expect(results.map((r) => (r.ok ? "ok" : r.exhausted.scope))).toEqual([
        "ok",
        "token:t1",
        "ok",
        "ok",
        "hour:org:uapk:agent",
        "hour:other",
      ]);
      expect(await stores.budgets.current("hour:org:uapk:agent", 7)).toBe(3);
      expect(await stores.budgets.current("token:t1", 7)).toBe(2);
      // Only the granted ones have their intent, in one chain that verifies.
      const chain = await chainOf(stores.audit, ORG);
      expect(chain.map((r) => r.interaction_id).sort()).toEqual(["i-1", "i-3", "i-4"]);
      expect((await stores.audit.verify(ORG)).valid).toBe(true);
    });
  });
});
