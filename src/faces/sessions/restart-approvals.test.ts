// A node alone on its embedded SQLite file (with or without Redis) that stops or dies leaves the approvals of its sessions'
// turns behind: sessions live in its memory, so those turns are gone for good. The next process on the data
// directory cancels them once, audited, before it accepts a session; the governed actions' own approvals (REST)
// outlive the restart. Real server (startGatehouse), the reference agent runtime, the ide-assistant manifest.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ToolCall } from "../../../generated/messages/types";
import type { ServerFrame } from "../../../generated/ws-client";
import { type AgentRuntime, startAgentRuntime } from "../../../examples/agent-runtime/server";
import { ORG_ID, startTestGatehouse, type TestGatehouse } from "../../test-support/gatehouse";
import { agent, escalatingPaymentManifest, executeBody, operator, registerManifest } from "../../test-support/http";
import { RESTART_REASON } from "./node-approvals";
import { openTypedIde, type TypedIde } from "./test-support";

const isToolCall = (f: ServerFrame): f is ToolCall => f.type === "tool_call";
const BOT = "restart-payments-bot";

let runtime: AgentRuntime;
let dataDir: string;
const running: TestGatehouse[] = [];
const ides: TypedIde[] = [];

beforeAll(async () => {
  runtime = await startAgentRuntime({ port: 0, tokenDelayMs: 1 });
});
afterAll(async () => {
  await runtime?.close();
});
afterEach(async () => {
  for (const c of ides.splice(0)) c.ws.terminate();
  for (const g of running.splice(0)) await g.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** A Gatehouse process on `dataDir` (the same SQLite file each time), with `env` over the defaults. */
async function start(env: Record<string, string> = {}): Promise<TestGatehouse> {
  const g = await startTestGatehouse({
    env: {
      GATEHOUSE_DATA_DIR: dataDir,
      AGENT_RUNTIME_URL: runtime.url,
      GATEHOUSE_MANIFEST_DIR: resolve(import.meta.dirname, "../../../examples/manifests"),
      ...env,
    },
  });
  running.push(g);
  return g;
}

async function stop(g: TestGatehouse): Promise<void> {
  running.splice(running.indexOf(g), 1);
  await g.close();
}

/** A session's turn asks for a write_file: its approval is pending. */
async function escalatedTurn(g: TestGatehouse, sessionId: string): Promise<string> {
  const c = await openTypedIde(g.url, sessionId, await g.userTokenFor(ORG_ID, "dev@acme", ["developer"]));
  ides.push(c);
  c.session.send({ type: "user_message", content: "write file lib/app.dart" });
  const call = await c.next(isToolCall);
  expect(call).toMatchObject({ tool_name: "write_file", requires_approval: true });
  return call.approval_id as string;
}

/** A REST escalation (governed actions face): its approval is pending. */
async function escalatedRestCall(g: TestGatehouse, invoice: string): Promise<string> {
  const body = executeBody(BOT, { type: "payment", tool: "send", params: { invoice, amount: 10 } });
  const reply = await agent(g).post("/api/v1/gateway/execute", body);
  expect(reply.body).toMatchObject({ decision: "ESCALATE" });
  return reply.body.approval_id;
}

const approvalOf = async (g: TestGatehouse, id: string) => (await operator(g).get(`/approvals/${id}`)).body;
/** The statuses of the approval's verdicts in the audit chain. */
async function verdictsOf(g: TestGatehouse, approvalId: string): Promise<string[]> {
  const approval = await g.approvals.get(ORG_ID, approvalId);
  const records = await g.audit.getInteraction(ORG_ID, approval!.interaction_id!);
  return records
    .filter((r) => r.kind === "approval")
    .map((r) => (r.meta as { approval_status?: string }).approval_status ?? "?");
}

describe("on the embedded store, the next process on the data directory", () => {
  it("cancels the pending approvals of the previous process's session turns, once, audited; REST ones stay", async () => {
    dataDir = mkdtempSync(join(tmpdir(), "gatehouse-restart-"));
    const first = await start();
    await registerManifest(first, escalatingPaymentManifest(BOT));
    const turn = await escalatedTurn(first, "restart-1");
    const rest = await escalatedRestCall(first, "inv-1");
    await stop(first);

    const second = await start();
    expect(await approvalOf(second, turn)).toMatchObject({
      status: "cancelled",
      decided_by: "gatehouse",
      reason: RESTART_REASON,
    });
    expect(await verdictsOf(second, turn)).toEqual(["cancelled"]);
    // An operator can no longer approve a tool call whose turn is gone.
    const late = await operator(second).post(`/approvals/${turn}/approve`, { reason: "looks fine" });
    expect(late.status).toBe(409);
    // The REST escalation is still the operator's to decide; its agent re-submits after the restart.
    expect(await approvalOf(second, rest)).toMatchObject({ status: "pending" });
    expect(await verdictsOf(second, rest)).toEqual([]);

    // A turn of this process is not touched by its own start; the next restart cancels it, and only it.
    const secondTurn = await escalatedTurn(second, "restart-2");
    expect(await approvalOf(second, secondTurn)).toMatchObject({ status: "pending" });
    await stop(second);
    const third = await start();
    expect(await approvalOf(third, secondTurn)).toMatchObject({ status: "cancelled" });
    expect(await verdictsOf(third, turn)).toEqual(["cancelled"]);
    expect(await verdictsOf(third, secondTurn)).toEqual(["cancelled"]);
    expect(await approvalOf(third, rest)).toMatchObject({ status: "pending" });
  });

  it("runs with REDIS_URL too: a previous process without Redis left no node record there to end them by", async () => {
    dataDir = mkdtempSync(join(tmpdir(), "gatehouse-restart-"));
    const first = await start();
    const turn = await escalatedTurn(first, "restart-redis");
    await stop(first);
    const redisEnv = { REDIS_URL: "redis://127.0.0.1:6379/0", GATEHOUSE_REDIS_PREFIX: `restart-${Date.now()}` };
    const second = await start(redisEnv);
    expect(await approvalOf(second, turn)).toMatchObject({ status: "cancelled", reason: RESTART_REASON });
    expect(await verdictsOf(second, turn)).toEqual(["cancelled"]);

    // And a turn of a process that ran with Redis is ended by the next start as well, once.
    const secondTurn = await escalatedTurn(second, "restart-redis-2");
    await stop(second);
    const third = await start(redisEnv);
    expect(await approvalOf(third, secondTurn)).toMatchObject({ status: "cancelled", reason: RESTART_REASON });
    expect(await verdictsOf(third, secondTurn)).toEqual(["cancelled"]);
  });
});
