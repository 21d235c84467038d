// Exactness across nodes: several connection pools on one PostgreSQL database stand for several gateway nodes.
// Every guarantee must come from the database itself, since no node sees another's memory.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { stepBackToleranceFor } from "../../audit/verify";
import type { AnyKysely } from "../postgres";
import { createSharedStores, type SharedStores } from "../shared";
import { postgresBackend, TEST_SECRET } from "./backends";
import { approvalInput, chainOf, intentInput, ORG } from "./fixtures";

const backend = await postgresBackend("store contract: multi-node");
const NODES = 4;

describe.skipIf(!backend)("several nodes on one PostgreSQL database", () => {
  let nodes: SharedStores[];
  let close: () => Promise<void>;

  beforeEach(async () => {
    const opened = await backend!.open();
    close = opened.close;
    nodes = opened.nodes(NODES).map((pool: AnyKysely) => createSharedStores(pool, { secret: TEST_SECRET }));
  });
  afterEach(() => close());

  const node = (i: number) => nodes[i % NODES]!;

  it("200 concurrent reservations on a budget of 20 grant exactly 20, each with its audit intent", async () => {
    const slots = [{ scope: "hour:org:uapk:agent", window: 1, limit: 20 }];
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        node(i).reservations.reserve({
          org_id: ORG,
          interaction_id: `i-${i}`,
          at: new Date(),
          slots,
          intent: intentInput(`i-${i}`),
        }),
      ),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(20);
    expect(await node(0).budgets.current("hour:org:uapk:agent", 1)).toBe(20);
    expect(await chainOf(node(1).audit, ORG)).toHaveLength(20);
    expect(await node(2).audit.verify(ORG)).toEqual({ valid: true, records: 20, orgs: 1 });
  });

  it("200 concurrent claims of one idempotency key have exactly one winner", async () => {
    const scope = { org_id: ORG, agent_id: "agent-1", key: "same-key" };
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => node(i).idempotency.begin({ ...scope, requestHash: "h" })),
    );
    const winner = results.findIndex((r) => r.state === "new");
    expect(results.filter((r) => r.state === "new")).toHaveLength(1);
    // Everyone else waits for the winner's answer — on its node through memory, on the others through the row.
    await node(winner).idempotency.complete(scope, { decision: "ALLOW", timestamp: new Date().toISOString() });
    const answers = await Promise.all(results.map((r) => (r.state === "in_flight" ? r.wait : r)));
    expect(answers.filter((a) => a.state === "replay")).toHaveLength(199);
  });

  it("an approval decided on one node is consumed exactly once across all of them", async () => {
    const { approval_id } = await node(0).approvals.create(approvalInput());
    await node(1).approvals.decide(ORG, approval_id, { approved: true, decided_by: "op" });
    const input = { org_id: ORG, approval_id, binding: approvalInput() };
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => node(i).approvals.consume(input)));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok && r.code === "APPROVAL_ALREADY_CONSUMED")).toHaveLength(39);
  });

  it("concurrent audit appends from two nodes form one chain per org, without fork or gap, that verifies", async () => {
    const orgs = [ORG, "org-other"];
    await Promise.all(
      Array.from({ length: 120 }, (_, i) => {
        const org = orgs[i % 2]!;
        const decision = { ...intentInput(`d-${i}`, org), decision: "DENY" as const };
        return i % 3 === 0
          ? node(i % 2).audit.appendIntent(intentInput(`d-${i}`, org))
          : node(i % 2).audit.appendDecision(decision);
      }),
    );
    for (const org of orgs) {
      const chain = await chainOf(node(0).audit, org);
      expect(chain.map((r) => r.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      expect(await node(1).audit.verify(org)).toEqual({ valid: true, records: 60, orgs: 1 });
    }
  });

  it("status changes racing over the nodes: each one answered is the one applied, each version a real move", async () => {
    const bot = { id: "bot", name: "Bot" };
    const tools = { "crm:read": { connector: { type: "echo" as const } } };
    await node(0).manifests.register(ORG, {
      uapk_id: "bot",
      manifest_id: "m-race",
      agent: bot,
      capabilities: ["crm:read"],
      tools,
    });
    const wanted = (i: number) => (i === 50 ? "revoked" : i % 2 === 0 ? "suspended" : "active");
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        node(i)
          .manifests.setStatus(ORG, "m-race", wanted(i), `op-${i}`)
          .then(
            (m) => m?.status,
            (err: Error) => err.name,
          ),
      ),
    );
    // A move either happened (or there was nothing to move) or was refused, never answered as done while lost.
    expect(answers.filter((answer, i) => answer !== wanted(i) && answer !== "ManifestConflictError")).toEqual([]);
    const versions = (await node(1).manifests.versions(ORG, "m-race"))!;
    expect(versions.map((v) => v.version)).toEqual(versions.map((_, i) => i + 1));
    expect(versions.slice(1).filter((v, i) => v.status === versions[i]!.status)).toEqual([]);
    expect(versions.at(-1)?.status).toBe("revoked");
    expect((await node(2).manifests.get(ORG, "m-race"))?.status).toBe("revoked");
  });

  it("a manifest folder loaded on one node while another revokes it: nothing is written after the revocation", async () => {
    const tools = { "crm:read": { connector: { type: "echo" as const } } };
    const manifest = (id: string, name: string) => ({
      uapk_id: id,
      manifest_id: id,
      agent: { id, name },
      capabilities: ["crm:read"],
      tools,
    });
    const ids = Array.from({ length: 30 }, (_, i) => `m-folder-${i}`);
    await Promise.all(ids.map((id) => node(0).manifests.register(ORG, manifest(id, "v1"))));
    await Promise.all(
      ids.flatMap((id, i) => [
        node(i)
          .manifests.upsert(ORG, manifest(id, "v2"))
          .catch((err: Error) => err.name),
        node(i + 1).manifests.setStatus(ORG, id, "revoked"),
      ]),
    );
    for (const id of ids) {
      const versions = (await node(2).manifests.versions(ORG, id))!;
      expect(versions.at(-1)?.change).toBe("revoked");
    }
  });

  it("PUTs of different bodies racing over the nodes: versions without a gap, each answer the version it wrote", async () => {
    const tools = { "crm:read": { connector: { type: "echo" as const } } };
    const body = (name: string) => ({
      uapk_id: "put-bot",
      agent: { id: "put-bot", name },
      capabilities: ["crm:read"],
      tools,
    });
    await node(0).manifests.register(ORG, { ...body("v1"), manifest_id: "m-put" });
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => node(i).manifests.update(ORG, "m-put", body(`v${i + 2}`), `op-${i}`)),
    );
    const versions = (await node(1).manifests.versions(ORG, "m-put"))!;
    expect(versions.map((v) => v.version)).toEqual(Array.from({ length: 41 }, (_, i) => i + 1));
    expect(new Set(answers.map((m) => m?.version)).size).toBe(40);
    for (const [i, answer] of answers.entries()) {
      const written = (await node(2).manifests.version(ORG, "m-put", answer!.version))!;
      expect(written.content.agent.name).toBe(`v${i + 2}`);
      expect(written.author).toBe(`op-${i}`);
    }
    const final = (await node(3).manifests.get(ORG, "m-put"))!;
    expect(final.version).toBe(41);
  });

  it("a PUT on one node while another revokes: nothing is written after the revocation, a refused PUT wrote nothing", async () => {
    const tools = { "crm:read": { connector: { type: "echo" as const } } };
    const manifest = (id: string, name: string) => ({
      uapk_id: id,
      agent: { id, name },
      capabilities: ["crm:read"],
      tools,
    });
    const ids = Array.from({ length: 30 }, (_, i) => `m-put-revoke-${i}`);
    await Promise.all(ids.map((id) => node(0).manifests.register(ORG, { ...manifest(id, "v1"), manifest_id: id })));
    const answers = await Promise.all(
      ids.map((id, i) =>
        Promise.all([
          node(i)
            .manifests.update(ORG, id, manifest(id, "v2"))
            .then(
              (m) => m?.status,
              (err: Error) => err.name,
            ),
          node(i + 1).manifests.setStatus(ORG, id, "revoked"),
        ]),
      ),
    );
    for (const [i, id] of ids.entries()) {
      const changes = (await node(2).manifests.versions(ORG, id))!.map((v) => v.change);
      const [put] = answers[i]!;
      expect(["active", "ManifestConflictError"]).toContain(put);
      expect(changes).toEqual(put === "active" ? ["registered", "updated", "revoked"] : ["registered", "revoked"]);
    }
  });

  it("nodes starting together agree on one signing key per purpose", async () => {
    const kids = await Promise.all(nodes.map((n) => n.signingKeys.audit.activeKey().then((k) => k.kid)));
    expect(new Set(kids).size).toBe(1);
  });

  it("a chain written by nodes whose clocks are apart within the skew bound verifies online; further apart it fails", async () => {
    const opened = await backend!.open();
    try {
      const [ahead, behind] = opened.nodes(2) as [AnyKysely, AnyKysely];
      const at = (offsetMs: number) => () => new Date(Date.now() + offsetMs);
      // GATEHOUSE_MAX_CLOCK_SKEW_MS=10000: each node may be 10 s off the database, so 20 s apart.
      const verify = { maxStepBackMs: stepBackToleranceFor(10_000) };
      const fast = createSharedStores(ahead, { secret: TEST_SECRET, now: at(10_000), verify });
      const slow = createSharedStores(behind, { secret: TEST_SECRET, now: at(-10_000), verify });
      await fast.audit.appendDecision({ ...intentInput("i-fast"), decision: "DENY" });
      await slow.audit.appendDecision({ ...intentInput("i-slow"), decision: "DENY" });
      expect(await fast.audit.verifyChain(ORG)).toMatchObject({ valid: true, records: 2 });
      // Under the default bound (5 s), the same 20 s step back is a broken chain.
      const strict = createSharedStores(ahead, { secret: TEST_SECRET });
      expect(await strict.audit.verifyChain(ORG)).toMatchObject({ valid: false, first_invalid_seq: 2 });
    } finally {
      await opened.close();
    }
  });
});
