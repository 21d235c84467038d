// What an upstream answers cannot take the audit's word away: once the call has gone out, its outcome is recorded and
// the agent gets its answer, whatever the answer holds. An http tool whose upstream sent 5,000 nested brackets used
// to overflow JSON.stringify after the side effect: a 500, an intent with no outcome, an idempotency key stuck for
// good, and an evidence bundle that said "nothing ran".
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../../contract-tests/fixtures";
import { runCli } from "../../../cli/program";
import {
  agent,
  executeBody,
  operator,
  type Receiver,
  registerManifest,
  startReceiver,
} from "../../../test-support/http";

const UAPK = "upstream-bot";

describe("what an upstream answers", () => {
  let g: TestGatehouse;
  let receiver: Receiver;
  let work: string;

  beforeAll(async () => {
    receiver = await startReceiver({ delayMs: 3000 });
    g = await startTestGatehouse();
    work = mkdtempSync(join(tmpdir(), "gatehouse-upstream-"));
    const local = { type: "http", allowed_hosts: ["127.0.0.1"], allow_private: true };
    await registerManifest(g, {
      uapk_id: UAPK,
      agent: { id: UAPK, name: "Upstream Bot" },
      capabilities: ["net:deep", "net:slow"],
      tools: {
        "net:deep": { connector: { ...local, url: `${receiver.url}/deep` } },
        "net:slow": { connector: { ...local, url: `${receiver.url}/slow` } },
      },
    });
  });

  afterAll(async () => {
    await g?.dispose();
    await receiver?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const run = (tool: string, key: string) =>
    agent(g).post(
      "/api/v1/gateway/execute",
      executeBody(UAPK, { type: "net", tool, params: { q: "x" } }, { idempotency_key: key }),
    );

  it("JSON nested thousands deep is answered as its text, and the outcome is recorded", async () => {
    const reply = await run("deep", "deep-1");
    expect(reply.status, reply.text).toBe(200);
    expect(reply.body).toMatchObject({ decision: "ALLOW", executed: true, result: { success: true } });
    // (a connector's text is answered as `{value}`, as any text result is)
    expect(reply.body.result.data?.value === `${"[".repeat(5000)}${"]".repeat(5000)}`).toBe(true);
    expect(receiver.count("/deep")).toBe(1);

    const records = (await operator(g).get(`/interactions/${reply.body.interaction_id}`)).body;
    expect(JSON.stringify(records)).toContain('"kind":"outcome"');
    expect((await operator(g).get("/interactions/verify")).body).toMatchObject({ valid: true });

    // The same key answers the same outcome again, without a second call.
    const again = await run("deep", "deep-1");
    expect(again.status).toBe(200);
    expect(again.body.interaction_id).toBe(reply.body.interaction_id);
    expect(receiver.count("/deep")).toBe(1);
  });

  it("evidence of a call still running says its outcome is unknown, not that nothing ran", async () => {
    const pending = run("slow", "slow-1");
    while (receiver.count("/slow") === 0) await new Promise((r) => setTimeout(r, 20));
    const page = (await operator(g).get("/interactions?limit=5")).body as {
      items: { kind: string; interaction_id: string; seq: number }[];
    };
    const intent = page.items.find((r) => r.kind === "intent");
    expect(intent).toBeDefined();
    const bundle = (await operator(g).get(`/interactions/${intent?.interaction_id}/evidence`)).body;
    const jwks = (await agent(g).get("/.well-known/jwks.json")).body;
    const bundleFile = join(work, "bundle.json");
    const jwksFile = join(work, "jwks.json");
    writeFileSync(bundleFile, JSON.stringify(bundle));
    writeFileSync(jwksFile, JSON.stringify(jwks));
    const out: string[] = [];
    const code = await runCli(["evidence", "verify", bundleFile, "--jwks", jwksFile], {
      stdout: (l) => out.push(l),
      stderr: (l) => out.push(l),
    });
    expect(code, out.join("\n")).toBe(0);
    expect(out.join("\n")).toMatch(/outcome: UNKNOWN \(the intent, seq \d+, has no outcome record/);
    expect((await pending).body).toMatchObject({ executed: true });
  });
});
