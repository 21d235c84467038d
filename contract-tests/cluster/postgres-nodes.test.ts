// Two Gatehouse nodes on ONE PostgreSQL database and one Redis (each test file: its own database and Redis
// prefix): every guarantee one node gives holds across both — exact budgets, one idempotency winner, an approval
// decided on one node waking the other's long-poll, a revocation refused at once, one audit chain per org that
// the CLI verifies — and a node killed with SIGKILL under load behind HAProxy loses nothing it acknowledged.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runAuditVerify } from "../../src/cli/audit-verify";
import { shouldRunRedisTests, TEST_REDIS_URL } from "../../src/core/events/redis-availability";
import { postgresForTests } from "../../src/core/store/test-support";
import {
  agent,
  type Caller,
  executeBody,
  operator,
  type Receiver,
  registerManifest,
  startReceiver,
} from "../../src/test-support/http";
import { API_KEY, ECOSYSTEM, ORG_ID } from "../fixtures";
import { freePort, haproxyForTests } from "./haproxy";
import { openSharedPostgresStore, type SharedStore, startTwoNodes, type TwoNodes } from "./nodes";

const pgAdmin = await postgresForTests("two nodes on PostgreSQL");
const runRedis = await shouldRunRedisTests("two nodes on PostgreSQL");
const haproxy = pgAdmin && runRedis ? await haproxyForTests("two nodes on PostgreSQL behind HAProxy") : undefined;
const ROOT = resolve(import.meta.dirname, "../..");
/** The load tests take seconds on a quiet machine; a shared 2-core CI box can be many times slower. */
const HEAVY = 120_000;

const webhook = (receiver: Receiver, path: string) => ({
  connector: { type: "webhook", url: `${receiver.url}${path}`, allowed_hosts: ["127.0.0.1"], allow_private: true },
});

/** JSONL export + JWKS of one org from a node, checked by `gatehouse audit verify` (the CLI's code path). */
async function verifyWithCli(node: Caller, orgId: string, operatorToken: string, dir: string) {
  const exported = await fetch(`${node.url}/api/v1/orgs/${orgId}/interactions/export`, {
    headers: { authorization: `Bearer ${operatorToken}` },
  });
  expect(exported.status).toBe(200);
  const text = await exported.text();
  const jwks = await (await fetch(`${node.url}/.well-known/jwks.json`)).text();
  const exportFile = join(dir, `${orgId}.jsonl`);
  const jwksFile = join(dir, `${orgId}.jwks.json`);
  writeFileSync(exportFile, text);
  writeFileSync(jwksFile, jwks);
  const out: string[] = [];
  const err: string[] = [];
  const code = await runAuditVerify([exportFile, "--jwks", jwksFile], {
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
  });
  const records = text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    // The export's last line is the signed chain head, not a record.
    .filter((line) => !("chain_head" in line));
  return { code, out: out.join("\n"), err: err.join("\n"), records };
}

describe.runIf(pgAdmin && runRedis)("two nodes on one PostgreSQL database", () => {
  let store: SharedStore;
  let nodes: TwoNodes;
  let receiver: Receiver;
  let workDir: string;

  beforeAll(async () => {
    store = await openSharedPostgresStore(pgAdmin!);
    // Waiters re-read the store only every 60 s here: within a long-poll only the event can wake them in time.
    nodes = await startTwoNodes({ GATEHOUSE_APPROVAL_RECHECK_MS: "60000" }, store);
    expect(nodes.a.store).toBe("postgres");
    receiver = await startReceiver({ delayMs: 200 });
    workDir = mkdtempSync(join(tmpdir(), "gatehouse-pg-nodes-"));
  });
  afterAll(async () => {
    await nodes?.dispose();
    await receiver?.close();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it(
    "a budget of 20 under 200 concurrent executes over both nodes: exactly 20 ALLOW and 20 connector calls",
    async () => {
      await registerManifest(nodes.a, {
        uapk_id: "pg-budget-bot",
        agent: { id: "pg-budget-bot", name: "Budget Bot" },
        capabilities: ["notify:send"],
        constraints: { max_actions_per_hour: 20 },
        tools: { "notify:send": webhook(receiver, "/budget") },
      });
      const started = Date.now();
      const replies = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          agent(i % 2 === 0 ? nodes.a : nodes.b).post(
            "/api/v1/gateway/execute",
            executeBody("pg-budget-bot", { type: "notify", tool: "send", params: { n: i } }),
          ),
        ),
      );
      console.info(`200 executes over two PostgreSQL nodes answered in ${Date.now() - started} ms`);
      expect(replies.every((r) => r.status === 200)).toBe(true);
      const allowed = replies.filter((r) => r.body.decision === "ALLOW");
      expect(allowed).toHaveLength(20);
      expect(allowed.every((r) => r.body.executed === true)).toBe(true);
      expect(replies.filter((r) => r.body.decision === "DENY")).toHaveLength(180);
      expect(receiver.count("/budget")).toBe(20);
    },
    HEAVY,
  );

  it(
    "200 concurrent executes with one idempotency key over both nodes: one connector call, one answer",
    async () => {
      await registerManifest(nodes.b, {
        uapk_id: "pg-idem-bot",
        agent: { id: "pg-idem-bot", name: "Idempotent Bot" },
        capabilities: ["notify:send"],
        tools: { "notify:send": webhook(receiver, "/slow/idem") },
      });
      const body = executeBody(
        "pg-idem-bot",
        { type: "notify", tool: "send", params: { to: "ops" } },
        { idempotency_key: "pg-idem-1" },
      );
      const replies = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          agent(i % 2 === 0 ? nodes.a : nodes.b).post("/api/v1/gateway/execute", body),
        ),
      );
      expect(receiver.count("/slow/idem")).toBe(1);
      const statuses = replies.map((r) => r.status);
      expect(statuses.every((s) => s === 200)).toBe(true);
      expect(new Set(replies.map((r) => r.body.interaction_id)).size).toBe(1);
    },
    HEAVY,
  );

  it("ESCALATE on A, approve on B: A's long-poll wakes within a second, the re-execute is allowed once", async () => {
    await registerManifest(nodes.a, {
      uapk_id: "pg-pay-bot",
      agent: { id: "pg-pay-bot", name: "Payments Bot" },
      capabilities: ["payment:send"],
      constraints: { require_human_approval: ["payment:send"] },
      tools: { "payment:send": webhook(receiver, "/pay") },
    });
    const pay = (extra: Record<string, unknown> = {}) =>
      executeBody("pg-pay-bot", { type: "payment", tool: "send", params: { invoice: "pg-1", amount: 10 } }, extra);
    const escalated = await agent(nodes.a).post("/api/v1/gateway/execute", pay());
    expect(escalated.body).toMatchObject({ decision: "ESCALATE" });
    const approvalId: string = escalated.body.approval_id;

    const poll = agent(nodes.a).get(`/api/v1/gateway/approvals/${approvalId}?wait=20`);
    let wokeAt = 0;
    void poll.then(() => (wokeAt = Date.now()));
    expect((await agent(nodes.a).get(`/api/v1/gateway/approvals/${approvalId}`)).body.status).toBe("pending");
    await new Promise((ok) => setTimeout(ok, 200)); // the long-poll is parked on A
    const approved = await operator(nodes.b).post(`/approvals/${approvalId}/approve`, { reason: "checked on B" });
    const decidedAt = Date.now();
    expect(approved.status).toBe(200);
    expect((await poll).body).toMatchObject({ approval_id: approvalId, status: "approved" });
    const wake = wokeAt - decidedAt;
    console.info(`long-poll on A woke ${wake} ms after the approval on B was answered`);
    expect(wake).toBeLessThan(1000);

    const runs = await Promise.all([
      agent(nodes.a).post("/api/v1/gateway/execute", pay({ approval_id: approvalId })),
      agent(nodes.b).post("/api/v1/gateway/execute", pay({ approval_id: approvalId })),
    ]);
    expect(runs.filter((r) => r.status === 200 && r.body.executed === true)).toHaveLength(1);
    expect(receiver.count("/pay")).toBe(1);
  });

  it("a capability token revoked on A is refused on B by the next request (no propagation delay)", async () => {
    await registerManifest(nodes.a, {
      uapk_id: "pg-mailer",
      agent: { id: "pg-mailer", name: "Mailer" },
      capabilities: ["email:send"],
      tools: { "email:send": { connector: { type: "echo" } } },
    });
    const issued = await operator(nodes.a).post("/capability-tokens", {
      agent_id: "pg-mailer",
      uapk_id: "pg-mailer",
      capabilities: ["email:send"],
    });
    expect(issued.status).toBe(201);
    const send = {
      ...executeBody("pg-mailer", { type: "email", tool: "send", params: { to: "a@example.com" } }),
      capability_token: issued.body.token,
    };
    // Signed on A with the shared key, verified on B.
    expect((await agent(nodes.b).post("/api/v1/gateway/execute", send)).body).toMatchObject({ decision: "ALLOW" });
    const revoked = await operator(nodes.a).post(`/capability-tokens/${issued.body.token_id}/revoke`, { reason: "x" });
    expect(revoked.status).toBe(200);
    const refused = await agent(nodes.b).post("/api/v1/gateway/execute", send);
    expect(refused.body).toMatchObject({
      decision: "DENY",
      reasons: [expect.objectContaining({ code: "TOKEN_REVOKED" })],
    });
  });

  it(
    "after mixed load on both nodes in two orgs, each org has one chain that `gatehouse audit verify` accepts",
    async () => {
      const otherOrg = "pg-other-org";
      const otherKey = await nodes.b.apiKeys.create(otherOrg, "other org agent");
      const otherToken = await nodes.a.devIssuer!.mint({ sub: "op@other", org: otherOrg, roles: ["operator"] });
      const bot = {
        uapk_id: "pg-mixed-bot",
        agent: { id: "pg-mixed-bot", name: "Mixed Bot" },
        capabilities: ["notify:send", "crm:delete"],
        constraints: { require_human_approval: ["crm:delete"] },
        tools: { "notify:send": { connector: { type: "echo" } }, "crm:delete": { connector: { type: "echo" } } },
      };
      await registerManifest(nodes.a, bot);
      const registered = await fetch(`${nodes.b.url}/api/v1/orgs/${otherOrg}/manifests`, {
        method: "POST",
        headers: { authorization: `Bearer ${otherToken}`, "content-type": "application/json" },
        body: JSON.stringify(bot),
      });
      expect(registered.status).toBe(201);
      const call = (node: Caller, key: string, i: number) =>
        fetch(`${node.url}/api/v1/gateway/execute`, {
          method: "POST",
          headers: { "x-api-key": key, "content-type": "application/json" },
          body: JSON.stringify(
            executeBody("pg-mixed-bot", {
              type: i % 5 === 0 ? "crm" : "notify",
              tool: i % 5 === 0 ? "delete" : "send",
              params: { i },
            }),
          ),
        }).then((r) => r.status);
      const statuses = await Promise.all(
        Array.from({ length: 120 }, (_, i) =>
          call(i % 2 === 0 ? nodes.a : nodes.b, i % 3 === 0 ? otherKey.key : API_KEY, i),
        ),
      );
      expect(statuses.every((s) => s === 200)).toBe(true);

      for (const [orgId, token] of [
        [ORG_ID, nodes.a.operatorToken],
        [otherOrg, otherToken],
      ] as const) {
        const verified = await verifyWithCli(nodes.b, orgId, token, workDir);
        expect(verified.err).toBe("");
        expect(verified.code).toBe(0);
        const seqs = verified.records.map((r) => r.seq);
        expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
        console.info(`org ${orgId}: ${verified.out}`);
      }
    },
    HEAVY,
  );
});

describe.runIf(pgAdmin && runRedis && haproxy)("two node processes behind HAProxy, one killed with SIGKILL", () => {
  const children: ChildProcess[] = [];
  let store: SharedStore;
  let receiver: Receiver;
  let workDir: string;
  let lb: { url: string; stop(): Promise<void> };
  let a: Caller & { child: ChildProcess };
  let b: Caller & { child: ChildProcess };
  // One prefix for both nodes: nodes on one PostgreSQL database must share it (the store records it, review R16).
  const prefix = `gatehouse-test-kill-${process.pid}-${Date.now()}`;

  function startChild(): Promise<Caller & { child: ChildProcess }> {
    const child = spawn(process.execPath, ["--import", "tsx", "src/faces/actions/e2e/child-gatehouse.ts"], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...store.env,
        PORT: "0",
        REDIS_URL: TEST_REDIS_URL,
        GATEHOUSE_REDIS_PREFIX: prefix,
        PURUTO_GATEWAY_API_KEY: API_KEY,
        GATEHOUSE_DEFAULT_ORG: ORG_ID,
        GATEHOUSE_ECOSYSTEM_ROOT: ECOSYSTEM,
        PURUTO_DATA_PATH: join(ECOSYSTEM, "puruto-data"),
        LOG_LEVEL: "silent",
        // The load below is about surviving a SIGKILL: no REST quota may answer for it (six workers for ~8 s pass
        // the default 1,200 executes per agent per minute since grouped PostgreSQL commits made execute faster).
        GATEHOUSE_RATE_LIMIT_PER_API_KEY: "0",
        GATEHOUSE_RATE_LIMIT_PER_AGENT: "0",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let stderr = "";
    child.stderr!.on("data", (chunk) => (stderr += chunk));
    return new Promise((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`node did not start in 60 s: ${stderr}`)), 60_000);
      child.once("exit", (code) => fail(new Error(`node exited (${code}) before listening: ${stderr}`)));
      createInterface({ input: child.stdout! }).once("line", (line) => {
        clearTimeout(timer);
        ok({ ...(JSON.parse(line) as Caller), child });
      });
    });
  }

  beforeAll(async () => {
    store = await openSharedPostgresStore(pgAdmin!);
    receiver = await startReceiver({ delayMs: 10 });
    workDir = mkdtempSync(join(tmpdir(), "gatehouse-pg-kill-"));
    a = await startChild(); // the first node applies the migrations
    b = await startChild();
    lb = await haproxy!.start({ nodes: [new URL(a.url).host, new URL(b.url).host], port: await freePort() });
  }, 150_000);
  afterAll(async () => {
    await lb?.stop();
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await receiver?.close();
    await store?.dispose();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it(
    "the surviving node keeps serving through HAProxy; every acknowledged action has its records; the chain verifies",
    async () => {
      const via = { url: lb.url, operatorToken: a.operatorToken };
      await registerManifest(via, {
        uapk_id: "pg-load-bot",
        agent: { id: "pg-load-bot", name: "Load Bot" },
        capabilities: ["notify:send"],
        tools: { "notify:send": webhook(receiver, "/load") },
      });
      const acknowledged: string[] = [];
      let sent = 0;
      let killedAt = -1;
      let stop = false;
      const worker = async () => {
        while (!stop) {
          const i = sent++;
          const reply = await agent(via)
            .post(
              "/api/v1/gateway/execute",
              executeBody("pg-load-bot", { type: "notify", tool: "send", params: { i } }),
            )
            .catch(() => undefined); // a connection cut by the kill: not acknowledged
          if (reply?.status === 200 && reply.body.executed === true) acknowledged.push(reply.body.interaction_id);
          if (killedAt < 0 && acknowledged.length >= 40) {
            killedAt = acknowledged.length;
            b.child.kill("SIGKILL");
          }
        }
      };
      const workers = Array.from({ length: 6 }, worker);
      // Load continues for a while after the kill: HAProxy's checks take node B out within ~3 s.
      await expect.poll(() => killedAt, { timeout: 60_000 }).toBeGreaterThan(0);
      await new Promise((ok) => setTimeout(ok, 5000));
      const beforeEnd = acknowledged.length;
      await new Promise((ok) => setTimeout(ok, 2000));
      stop = true;
      await Promise.all(workers);
      console.info(
        `SIGKILL of node B after ${killedAt} acknowledged executes; ${acknowledged.length} acknowledged in all, ` +
          `${acknowledged.length - beforeEnd} in the last 2 s through HAProxy (node A alone)`,
      );
      expect(acknowledged.length - beforeEnd).toBeGreaterThan(0); // still serving after the kill
      const after = await agent(via).post(
        "/api/v1/gateway/execute",
        executeBody("pg-load-bot", { type: "notify", tool: "send", params: { after: true } }),
      );
      expect(after.status).toBe(200);

      const verified = await verifyWithCli(a, ORG_ID, a.operatorToken, workDir);
      expect(verified.err).toBe("");
      expect(verified.code).toBe(0);
      const byInteraction = new Map<string, string[]>();
      for (const r of verified.records) {
        const kinds = byInteraction.get(r.interaction_id as string) ?? [];
        kinds.push(r.kind as string);
        byInteraction.set(r.interaction_id as string, kinds);
      }
      const missing = acknowledged.filter((id) => {
        const kinds = byInteraction.get(id) ?? [];
        return !(kinds.includes("intent") && kinds.includes("outcome"));
      });
      expect(missing).toEqual([]);
    },
    HEAVY,
  );
});
