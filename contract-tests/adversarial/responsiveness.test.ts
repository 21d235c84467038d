// Issue 10 §6, responsiveness: the reference agent runtime of the embedded default runs as its own process (what
// `make run` starts through src/cli/serve.ts), and while one session sends a 1 MiB prompt — relayed to the
// runtime and echoed back as a 1 MiB frame — `/health` keeps answering in under 100 ms.
import { availableParallelism, loadavg } from "node:os";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerFrame } from "../../generated/ws-client";
import { type AgentRuntimeProcess, spawnAgentRuntime } from "../../src/cli/agent-runtime-process";
import { openTypedIde } from "../../src/faces/sessions/test-support";
import { ORG_ID, startTestGatehouse, type TestGatehouse } from "../fixtures";

let runtime: AgentRuntimeProcess;
let g: TestGatehouse;

beforeAll(async () => {
  runtime = await spawnAgentRuntime(0);
  g = await startTestGatehouse({
    env: {
      AGENT_RUNTIME_URL: runtime.url,
      GATEHOUSE_MANIFEST_DIR: resolve(import.meta.dirname, "../../examples/manifests"),
    },
  });
}, 30_000);
afterAll(async () => {
  await g?.dispose();
  await runtime?.close();
});

async function timedHealth(): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${g.url}/health`);
  await res.arrayBuffer();
  expect(res.status).toBe(200);
  return performance.now() - started;
}

describe("responsiveness under a 1 MiB prompt", () => {
  it("the embedded default's agent runtime is a separate process that answers on its own", async () => {
    expect(runtime.pid).not.toBe(process.pid);
    const res = await fetch(`${runtime.url}/health`);
    expect(res.ok).toBe(true);
  });

  it("/health answers in < 100 ms while a session sends a 1 MiB prompt (and gets it echoed back)", async () => {
    const token = await g.devIssuer!.mint({ sub: "dev@acme", org: ORG_ID, roles: ["developer"] });
    const ide = await openTypedIde(g.url, "big-prompt", token);
    await timedHealth(); // warm: the dependency probes are cached for a second
    // A 1 MiB frame (the IDE frame limit) whose prompt names a tool only far beyond its head: the regexes of the
    // reference runtime would backtrack over the whole text if it were scanned.
    const envelope = JSON.stringify({ type: "user_message", content: "" }).length;
    const content = `${"a/".repeat(200_000)}${"x".repeat(1024 * 1024 - envelope - 400_000 - 64)} read z.ts`;
    const latencies: number[] = [];
    const echoed = ide.next(
      (f: ServerFrame) => f.type === "assistant_message" && (f as { token: string }).token.length > 500_000,
      30_000,
    );
    let done = false;
    void echoed.finally(() => (done = true));
    ide.session.send({ type: "user_message", content });
    const started = performance.now();
    while (!done && performance.now() - started < 30_000) {
      latencies.push(await timedHealth());
      await new Promise((r) => setTimeout(r, 10));
    }
    await echoed;
    ide.ws.close();
    latencies.sort((a, b) => a - b);
    if (process.env.GATEHOUSE_REPORT)
      console.log("health-latencies", latencies.map(Math.round).join(","), "load", loadavg()[0]);
    expect(latencies.length).toBeGreaterThan(0);
    // 100 ms on a machine with a core to spare. When the test box runs more runnable processes than it has
    // cores, every process (this one too) waits for the scheduler, whatever our code does: the bound grows
    // with the load average so that only work of our own on the event loop can break it.
    const overcommit = Math.max(1, loadavg()[0]! / availableParallelism());
    expect(latencies.at(-1)!, `latencies ${latencies.map(Math.round).join(",")}`).toBeLessThan(100 * overcommit);
  }, 60_000);
});
