// Issue 10 §6, memory: three sessions each send 45 prompts of 950 KB (within the per-session rate limit), and
// the reference runtime echoes every one back as a ~950 KB frame that the gateway numbers and keeps for replay.
// Replay buffers are bounded in bytes per session and in total, and trimmed on a timer: the gateway's RSS grows
// by at most 64 MiB during the run — at its peak, sampled every 20 ms without forcing a GC, not only after one —
// and returns near its baseline once the sessions close and the (shortened, configurable) replay window has
// passed. The peak used to reach +148 MiB: V8's young generation grew to 32 MiB and dead copies of the prompts
// waited in its large-object space for a full GC that came only once the heap had grown 4× (src/system/heap.ts
// bounds both; +39 MiB measured since). The gateway runs alone in a child process with --expose-gc, without the
// contract tap (it would parse every frame again in that process), so that its own RSS is what is measured.
import { type ChildProcess, fork } from "node:child_process";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { type AgentRuntimeProcess, spawnAgentRuntime } from "../../src/cli/agent-runtime-process";

const MiB = 1024 * 1024;
const SESSIONS = 3;
const PROMPTS = 45;
const PROMPT_BYTES = 950 * 1024;
// Shortened from 2 minutes (configurable) so the return to baseline fits in the test; still longer than the
// echoes of one session take to exceed the 8 MiB per-session bound, so that bound is what holds memory down.
const REPLAY_WINDOW_MS = 10_000;

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
  // Tokens streamed without a pause: the test measures the gateway, not the runtime's typing speed.
  runtime = await spawnAgentRuntime(0, 20_000, { AGENT_RUNTIME_TOKEN_DELAY_MS: "1" });
  gateway = fork(resolve(import.meta.dirname, "memory/gateway-process.ts"), [], {
    execArgv: ["--expose-gc", "--import", "tsx"],
    env: {
      ...process.env,
      AGENT_RUNTIME_URL: runtime.url,
      LOG_LEVEL: "silent",
      GATEHOUSE_WS_REPLAY_WINDOW_MS: String(REPLAY_WINDOW_MS),
      GATEHOUSE_WS_REPLAY_TRIM_INTERVAL_MS: "500",
    },
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  ({ url, token } = await new Promise<{ url: string; token: string }>((ok) =>
    gateway.once("message", (m) => ok(m as never)),
  ));
  // Two processes start (the gateway's compiles the server with tsx): slow on a loaded test box.
}, 120_000);

afterAll(async () => {
  gateway?.send("stop");
  await new Promise((r) => gateway?.once("exit", r));
  await runtime?.close();
});

/**
 * Code paths compiled and pools allocated before the baseline, then the replay window waited out: a baseline
 * taken at once is ~30 MiB higher (V8's young generation not yet shrunk) and would hide that much of the peak.
 */
async function warmUp(): Promise<void> {
  const { ws } = await session("mem-warm-up", 2);
  ws.close();
  await new Promise((r) => setTimeout(r, REPLAY_WINDOW_MS + 1_000));
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
  it("RSS grows ≤ 64 MiB at its peak while they run and returns near the baseline after they close", async () => {
    await warmUp();
    const baseline = (await ask<{ rss: number }>("measure")).rss;
    const done = await Promise.all(Array.from({ length: SESSIONS }, (_, i) => session(`mem-${i}`)));
    const during = await ask<{ rss: number; peak: number; atPeak: Record<string, number> }>("measure");
    for (const s of done) expect(s.echoes).toBe(PROMPTS);

    for (const s of done) s.ws.close();
    // The replay window of the gateway process and a few trim ticks (500 ms).
    await new Promise((r) => setTimeout(r, REPLAY_WINDOW_MS + 1_500));
    const after = await ask<{ rss: number }>("measure");

    const report = {
      baselineMiB: baseline / MiB,
      // Sampled every 20 ms without forcing a GC: includes garbage V8 has not collected yet.
      peakGrowthMiB: (during.peak - baseline) / MiB,
      retainedGrowthMiB: (during.rss - baseline) / MiB,
      afterCloseGrowthMiB: (after.rss - baseline) / MiB,
    };
    const details = JSON.stringify({ ...report, atPeakMiB: during.atPeak });
    if (process.env.GATEHOUSE_REPORT) console.log("memory", details);
    // The most the process ever took while the attack ran, garbage not yet collected included.
    expect(report.peakGrowthMiB, details).toBeLessThanOrEqual(64);
    // What the gateway holds while the sessions are open (after a full GC): replay buffers at their byte bounds.
    expect(report.retainedGrowthMiB, details).toBeLessThanOrEqual(64);
    expect(report.afterCloseGrowthMiB, details).toBeLessThanOrEqual(16);
  }, 300_000); // 124 s of test time was seen at a load average of 15-20 on 2 cores
});
