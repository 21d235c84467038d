// Adversarial (issue #10, class 5/6): the reference agent runtime that `make run` starts as a child process must
// not outlive the gateway. A gateway killed without a chance to clean up (SIGKILL, the OOM killer) used to leave
// the runtime running as an orphan, holding AGENT_RUNTIME_PORT, so the next `make run` failed with "port in use".
// The gateway here is started as `make run` starts it (src/main.ts with GATEHOUSE_EMBEDDED_RUNTIME=1), in its own
// process, and killed with SIGKILL.
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startMainProcess } from "../test-support/main-process";

const work = mkdtempSync(join(tmpdir(), "gatehouse-runtime-orphan-"));
const started: ChildProcess[] = [];
/** Runtime pids seen, killed at the end should the test fail (an orphan must not outlive the test run either). */
const runtimes: number[] = [];

afterAll(() => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const pid of runtimes) if (running(pid)) process.kill(pid, "SIGKILL");
  rmSync(work, { recursive: true, force: true });
});

/** src/main.ts as `make run` starts it; resolves with the runtime URL its banner prints once it listens. */
async function startGateway(): Promise<{ gateway: ChildProcess; runtimeUrl: string }> {
  const { gateway, banner } = startMainProcess(
    {
      GATEHOUSE_DATA_DIR: join(work, "data"),
      PURUTO_GATEWAY_API_KEY: "orphan-test-key",
      GATEHOUSE_EMBEDDED_RUNTIME: "1",
      AGENT_RUNTIME_PORT: "0",
    },
    /agent runtime: (http:\/\/127\.0\.0\.1:\d+) \(reference runtime, own process\)/,
  );
  started.push(gateway);
  return { gateway, runtimeUrl: (await banner)[1]! };
}

/** Linux: the pids whose parent is `parent` (from /proc/<pid>/stat; comm may hold spaces, so read after ")"). */
function childrenOf(parent: number): number[] {
  return readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === parent;
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
}

/** Running, as opposed to gone or a zombie waiting for a reaper (a zombie holds no port and runs no code). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<number> {
  const began = Date.now();
  while (!condition()) {
    if (Date.now() - began > timeoutMs) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - began;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const probe = createServer();
    probe.once("error", () => ok(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => ok(true)));
  });
}

describe.skipIf(process.platform !== "linux")("adversarial: the runtime child dies with its gateway", () => {
  it("a SIGKILLed gateway leaves no agent runtime running, and its port is free again", async () => {
    const { gateway, runtimeUrl } = await startGateway();
    const port = Number(new URL(runtimeUrl).port);
    // The runtime is the gateway's child (beside tsx's esbuild service) and answers before the kill.
    const children = childrenOf(gateway.pid!).filter((pid) => commandLine(pid).includes("examples/agent-runtime/"));
    expect(children).toHaveLength(1);
    const runtimePid = children[0]!;
    runtimes.push(runtimePid);
    expect(running(runtimePid)).toBe(true);
    expect((await fetch(runtimeUrl)).status).toBeLessThan(500);

    const exited = new Promise((ok) => gateway.once("exit", ok));
    gateway.kill("SIGKILL");
    await exited;

    // Bounded: the child notices the closed IPC channel at once; its fallback pid poll runs every 500 ms.
    const ms = await waitUntil(() => !running(runtimePid), 5_000);
    expect(ms).toBeLessThan(5_000);
    expect(await portIsFree(port)).toBe(true);
  }, 60_000);
});
