// Issue 10 §6, memory: three sessions each send 45 prompts of 950 KB (within the per-session rate limit), and
// the reference runtime echoes every one back as a ~950 KB frame that the gateway numbers and keeps for replay.
// Replay buffers are bounded in bytes per session and in total, and trimmed on a timer: the gateway's RSS grows
// by at most 64 MiB during the run — at its peak, sampled every 20 ms without forcing a GC, not only after one —
// and returns to its baseline within 2 minutes once the sessions close, with the default replay window (2
// minutes): the IDEs end their streams with 1000, so their buffers are freed at once (measured: a few seconds,
// not the 120–130 s the window and its trim timer used to take). The peak used to reach +148 MiB: V8's young
// generation grew to 32 MiB and dead copies of the prompts waited in its large-object space for a full GC that
// came only once the heap had grown 4× (src/system/heap.ts bounds both; +39 MiB measured since). The gateway runs
// alone in a child process with --expose-gc, without the contract tap (it would parse every frame again in that
// process), so that its own RSS is what is measured.
import { type ChildProcess, fork } from "node:child_process";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { freePort } from "../free-port";
import { type AgentRuntimeProcess, spawnAgentRuntime } from "../../src/cli/agent-runtime-process";

const MiB = 1024 * 1024;
const SESSIONS = 3;
const PROMPTS = 45;
const PROMPT_BYTES = 950 * 1024;
/** What the issue allows: the RSS back at its baseline within 2 minutes after the sessions close. */
const BACK_TO_BASELINE_MS = 120_000;
/** "At its baseline": what is left after a full GC, within this much of the RSS before the attack. */
const BASELINE_SLACK_MIB = 16;

let runtime: AgentRuntimeProcess;
let gateway: ChildProcess;
let url: string;
let token: string;

function ask<T>(message: string): Promise<T> {
  return new Promise((ok) => {
    gateway.once("message", (m) => ok(m as T));
    gateway.send(message);
  });
}

beforeAll(async () => {
  // Both processes start at once (each compiles its TypeScript with tsx: seconds on a loaded box), so the gateway is
  // told the runtime's port before the runtime listens on it.
  const runtimePort = await freePort();
  gateway = fork(resolve(import.meta.dirname, "memory/gateway-process.ts"), [], {
    execArgv: ["--expose-gc", "--import", "tsx"],
    env: {
      ...process.env,
      AGENT_RUNTIME_URL: `http://127.0.0.1:${runtimePort}`,
      LOG_LEVEL: "silent",
    },
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  const listening = new Promise<{ url: string; token: string }>((ok) => gateway.once("message", (m) => ok(m as never)));
  // Tokens streamed without a pause: the test measures the gateway, not the runtime's typing speed.
  runtime = await spawnAgentRuntime(runtimePort, 20_000, { AGENT_RUNTIME_TOKEN_DELAY_MS: "1" });
  ({ url, token } = await listening);
}, 120_000);

afterAll(async () => {
  gateway?.send("stop");
  await new Promise((r) => gateway?.once("exit", r));
  await runtime?.close();
});

/**
 * Code paths compiled and pools allocated before the baseline: one short session, ended as an IDE ends it (1000),
 * which frees its replay buffer at once. Then the baseline waits for V8 to shrink the young generation the start-up
 * grew to 32 MiB (it does so at a full GC once allocation has been low for a moment, ~3 s): a baseline taken
 * with it would hide that much of the peak, which the bounded young generation must then stay below.
 */
async function warmUp(): Promise<number> {
  const { ws } = await session("mem-warm-up", 2);
  await endStream(ws);
  const began = Date.now();
  for (;;) {
    const { rss, youngMiB } = await ask<{ rss: number; youngMiB: number }>("measure");
    if (youngMiB <= 2) return rss;
    if (Date.now() - began > 60_000) throw new Error(`the young generation stayed at ${youngMiB} MiB`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The IDE is done: close 1000 (the generated client's default), and wait for the close handshake. */
function endStream(ws: WebSocket): Promise<void> {
  return new Promise((ok) => {
    ws.once("close", () => ok());
    ws.close(1000, "done");
  });
}

/** Measures (after a full GC) until the RSS is back within the slack of `baseline`: how long that took, in ms. */
async function backToBaseline(baseline: number, since: number): Promise<{ ms: number; rss: number }> {
  for (;;) {
    const { rss } = await ask<{ rss: number }>("measure");
    const ms = Date.now() - since;
    if ((rss - baseline) / MiB <= BASELINE_SLACK_MIB || ms > BACK_TO_BASELINE_MS) return { ms, rss };
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** One IDE: sends its prompts one after another, each once the previous one's echo came back. */
function session(id: string, prompts = PROMPTS): Promise<{ ws: WebSocket; echoes: number }> {
  return new Promise((ok, fail) => {
    const ws = new WebSocket(`${url.replace("http", "ws")}/ws/${id}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    let sent = 0;
    let echoes = 0;
    const prompt = (n: number) => `${String(n).padStart(4, "0")} ${"m".repeat(PROMPT_BYTES - 5)}`;
    const sendNext = () => ws.send(JSON.stringify({ type: "user_message", content: prompt(sent++) }));
    ws.on("open", sendNext);
    ws.on("error", fail);
    ws.on("message", (data) => {
      const frame = JSON.parse(data.toString()) as { type: string; token?: string; is_final?: boolean };
      if (frame.type === "error") return fail(new Error(`session ${id}: ${data.toString().slice(0, 300)}`));
      if (frame.type === "assistant_message" && (frame.token?.length ?? 0) > PROMPT_BYTES / 2) echoes++;
      if (frame.type === "agent_status" && (frame as { status?: string }).status === "idle") {
        if (sent < prompts) sendNext();
        else ok({ ws, echoes });
      }
    });
  });
}

describe("memory stays bounded under 3 × 45 × 950 KB prompts", () => {
  it("RSS grows ≤ 64 MiB at its peak while they run and is back at its baseline within 2 minutes after they close", async () => {
    const baseline = await warmUp();
    const attackedAt = Date.now();
    const done = await Promise.all(Array.from({ length: SESSIONS }, (_, i) => session(`mem-${i}`)));
    const attackMs = Date.now() - attackedAt;
    const during = await ask<{ rss: number; peak: number; atPeak: Record<string, number> }>("measure");
    for (const s of done) expect(s.echoes).toBe(PROMPTS);

    const closedAt = Date.now();
    await Promise.all(done.map((s) => endStream(s.ws)));
    const after = await backToBaseline(baseline, closedAt);

    const report = {
      baselineMiB: baseline / MiB,
      // Sampled every 20 ms without forcing a GC: includes garbage V8 has not collected yet.
      peakGrowthMiB: (during.peak - baseline) / MiB,
      retainedGrowthMiB: (during.rss - baseline) / MiB,
      afterCloseGrowthMiB: (after.rss - baseline) / MiB,
      secondsToBaseline: after.ms / 1000,
      attackSeconds: attackMs / 1000,
    };
    const details = JSON.stringify({ ...report, atPeakMiB: during.atPeak });
    if (process.env.GATEHOUSE_REPORT) console.log("memory", details);
    // The most the process ever took while the attack ran, garbage not yet collected included.
    expect(report.peakGrowthMiB, details).toBeLessThanOrEqual(64);
    // What the gateway holds while the sessions are open (after a full GC): replay buffers at their byte bounds.
    expect(report.retainedGrowthMiB, details).toBeLessThanOrEqual(64);
    // Back at the baseline after they close, within the 2 minutes (measured: within a few seconds).
    expect(report.afterCloseGrowthMiB, details).toBeLessThanOrEqual(BASELINE_SLACK_MIB);
    expect(after.ms, details).toBeLessThanOrEqual(BACK_TO_BASELINE_MS);
  }, 300_000);
});
