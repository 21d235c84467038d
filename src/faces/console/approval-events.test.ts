// The live approvals feed: in-process verdicts, and changes made by another gateway node sharing the database
// (a second approval store on the same file stands for it), each sent once; the feed over HTTP is operator-only.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createApprovalStore, type Approval, type ApprovalStore } from "../../core/approvals";
import type { Db } from "../../core/store/sqlite";
import { openMigratedDatabase } from "../../core/store/test-support";
import { startTestGatehouse } from "../../test-support/gatehouse";
import { createApprovalEvents, type ApprovalEvents } from "./approval-events";

const ORG = "org-a";
const request = (n: number) => ({
  org_id: ORG,
  uapk_id: "crm-bot",
  agent_id: "crm-bot-1",
  action: { type: "crm", tool: "delete", params: { record_id: `rec-${n}` } },
  reasons: [{ code: "REQUIRES_APPROVAL", message: "needs a human" }],
});

describe("approval events", () => {
  let dir: string;
  let thisNode: { db: Db; approvals: ApprovalStore };
  let otherNode: { db: Db; approvals: ApprovalStore };
  let events: ApprovalEvents;
  let seen: Approval[];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "gatehouse-console-events-"));
    const open = async () => {
      const db = await openMigratedDatabase(join(dir, "gatehouse.db"));
      return { db, approvals: createApprovalStore(db) };
    };
    thisNode = await open();
    otherNode = await open();
    events = createApprovalEvents({ approvals: thisNode.approvals, pollIntervalMs: 20 });
    seen = [];
  });

  afterEach(() => {
    events.close();
    for (const node of [thisNode, otherNode]) {
      node.approvals.close();
      node.db.close();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const statuses = () => seen.map((a) => `${a.approval_id}:${a.status}`);

  it("sends approvals created and decided on another node, each change once", async () => {
    const before = otherNode.approvals.create(request(0)); // existed before anyone listened: not news
    events.subscribe(ORG, (a) => seen.push(a));
    const created = otherNode.approvals.create(request(1));
    await vi.waitFor(() => expect(statuses()).toContain(`${created.approval_id}:pending`));
    otherNode.approvals.approve(ORG, created.approval_id, { by: "op" });
    await vi.waitFor(() => expect(statuses()).toContain(`${created.approval_id}:approved`));
    const third = otherNode.approvals.create(request(2));
    await vi.waitFor(() => expect(statuses()).toContain(`${third.approval_id}:pending`));
    expect(statuses()).toEqual([
      `${created.approval_id}:pending`,
      `${created.approval_id}:approved`,
      `${third.approval_id}:pending`,
    ]);
    expect(statuses().some((s) => s.startsWith(before.approval_id))).toBe(false);
  });

  it("sends a verdict taken on this node at once, and only to listeners of that org", async () => {
    const otherOrg: Approval[] = [];
    const created = thisNode.approvals.create(request(3));
    events.subscribe(ORG, (a) => seen.push(a));
    events.subscribe("org-b", (a) => otherOrg.push(a));
    thisNode.approvals.deny(ORG, created.approval_id, { by: "op", reason: "no" });
    await vi.waitFor(() => expect(statuses()).toContain(`${created.approval_id}:denied`));
    expect(seen.at(-1)).toMatchObject({ decided_by: "op", decision_reason: "no" });
    expect(otherOrg).toEqual([]);
  });

  it("stops reading the table when the last listener leaves", async () => {
    const unsubscribe = events.subscribe(ORG, (a) => seen.push(a));
    unsubscribe();
    otherNode.approvals.create(request(4));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(seen).toEqual([]);
  });
});

describe("GET /api/v1/orgs/{org_id}/approvals/events", () => {
  it("streams text/event-stream to an operator, refuses a developer token, and ends when the gateway stops", async () => {
    const g = await startTestGatehouse();
    let disposed = false;
    try {
      const url = `${g.url}/api/v1/orgs/${g.orgId}/approvals/events`;
      const developer = await g.userTokenFor(g.orgId, "dev", ["developer"]);
      const refused = await fetch(url, { headers: { authorization: `Bearer ${developer}` } });
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as { code: string }).code).toBe("OPERATOR_ROLE_REQUIRED");
      expect((await fetch(url)).status).toBe(401);

      const stream = await fetch(url, { headers: { authorization: `Bearer ${g.operatorToken}` } });
      expect(stream.status).toBe(200);
      expect(stream.headers.get("content-type")).toContain("text/event-stream");
      const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
      expect((await reader.read()).value).toContain("event: ready");
      // An open console does not hold the gateway open: stopping it ends the stream.
      await g.dispose();
      disposed = true;
      let done = false;
      while (!done) done = (await reader.read()).done;
    } finally {
      if (!disposed) await g.dispose();
    }
  });
  it("ends the stream when the operator's token expires: no approval reaches an expired token", async () => {
    const g = await startTestGatehouse();
    try {
      const shortLived = await g.devIssuer!.mint({ sub: "op", org: g.orgId, roles: ["operator"], ttlSeconds: 2 });
      const stream = await fetch(`${g.url}/api/v1/orgs/${g.orgId}/approvals/events`, {
        headers: { authorization: `Bearer ${shortLived}` },
      });
      expect(stream.status).toBe(200);
      const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
      expect((await reader.read()).value).toContain("event: ready");
      const ended = (async () => {
        while (!(await reader.read()).done);
        return "ended";
      })();
      const stillOpen = new Promise((resolve) => setTimeout(() => resolve("still open 6 s later"), 6_000).unref());
      expect(await Promise.race([ended, stillOpen])).toBe("ended");
      await reader.cancel().catch(() => {});
    } finally {
      await g.dispose();
    }
  });
});
