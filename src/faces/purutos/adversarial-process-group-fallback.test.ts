// Adversarial, without a PID namespace (GATEHOUSE_COMMAND_PID_NAMESPACE=off, or a system that refuses unshare): a
// process group is all that holds a command, and `setsid` leaves it. A daemon that escaped the group and kept the
// command's stdout open must not keep the gateway waiting for the pipe to close.
import { randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { afterAll, describe, expect, it } from "vitest";
import { pidNamespacePrefix, runProcess } from "./runner";

// Read once, at the runner's first command: this file's module state is its own (one worker per test file).
process.env.GATEHOUSE_COMMAND_PID_NAMESPACE = "off";

/** Live processes whose last argument is `marker`. */
async function survivors(marker: string): Promise<number[]> {
  const found: number[] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    if (cmdline.split("\0").filter(Boolean).at(-1) === marker) found.push(Number(pid));
  }
  return found;
}

const markers: string[] = [];
afterAll(async () => {
  for (const marker of markers) for (const pid of await survivors(marker)) process.kill(pid, "SIGKILL");
});

describe.runIf(process.platform === "linux")("a daemon escaping the process group (no PID namespace)", () => {
  it("runs in a process group only", () => {
    expect(pidNamespacePrefix()).toBeNull();
  });

  it("a command that answers and exits while its setsid daemon holds stdout is answered at once, reported", async () => {
    const outcome = await runWithDaemon("sleep 0.3; echo '{\"ok\":true}'", 5_000);
    expect(outcome.elapsed).toBeLessThan(2_500);
    expect(outcome).toMatchObject({ kind: "exited", exitCode: 0, stdout: '{"ok":true}\n', escaped: true });
  }, 10_000);

  it("a command that never exits while its setsid daemon holds stdout is answered by the timeout, reported", async () => {
    const outcome = await runWithDaemon("sleep 300", 800);
    expect(outcome.elapsed).toBeLessThan(3_000);
    expect(outcome).toMatchObject({ kind: "timeout", escaped: true });
  }, 10_000);
});

/** Runs `sh -c` that starts a setsid daemon holding stdout, then `rest`. */
async function runWithDaemon(rest: string, timeoutMs: number) {
  const marker = `gh-daemon-${randomUUID()}`;
  markers.push(marker);
  const started = Date.now();
  const outcome = await runProcess({
    argv: ["/bin/sh", "-c", `setsid sh -c 'sleep 300; :' ${marker} &\n${rest}`],
    cwd: tmpdir(),
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    stdin: "",
    timeoutMs,
    outputLimit: 1024,
  });
  // The daemon really escaped (this is what the grace is for).
  expect(await survivors(marker)).toHaveLength(1);
  return { ...outcome, elapsed: Date.now() - started };
}
