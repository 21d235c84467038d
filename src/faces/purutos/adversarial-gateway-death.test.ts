// Adversarial: a command still running when the gateway goes must go with it. Started as `make run` starts the
// gateway (src/main.ts in its own process), with a skill that sleeps and a background grandchild that left the
// command's process group (setsid), then the gateway is stopped the two ways that skip a graceful drain: a second
// SIGTERM while it drains (Ctrl-C twice; `make` passing its own SIGTERM on), and SIGKILL (the OOM killer). Both
// used to leave the command running, re-parented to PID 1, with no timeout left to stop it.
import type { ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startMainProcess } from "../../test-support/main-process";
import { parentDeathSignalPrefix, pidNamespacePrefix } from "./runner";

const API_KEY = "gateway-death-test-key";
const work = mkdtempSync(join(tmpdir(), "gatehouse-gateway-death-"));
const started: ChildProcess[] = [];
const markers: string[] = [];

afterAll(() => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  // Should the test fail, its commands must not outlive the test run either.
  for (const marker of markers) for (const pid of survivors(marker)) process.kill(Number(pid), "SIGKILL");
  rmSync(work, { recursive: true, force: true });
});

/** Live processes whose last argument is `marker` (the skill's sleeping grandchild). */
function survivors(marker: string): string[] {
  return readdirSync("/proc")
    .filter((pid) => /^\d+$/.test(pid))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).at(-1) === marker;
      } catch {
        return false; // gone meanwhile
      }
    });
}

/** An ecosystem with one puruto whose `hang` skill escapes its process group and then sleeps. */
function ecosystem(marker: string): string {
  const root = join(work, `eco-${marker}`);
  const skill = join(root, "puruto-hang", ".claude", "skills", "hang");
  mkdirSync(skill, { recursive: true });
  writeFileSync(join(skill, "SKILL.md"), "---\nname: hang\ndescription: sleeps\n---\n");
  const grandchild = `sh -c "sleep 300; :" ${marker}`;
  writeFileSync(
    join(skill, "run"),
    `#!/bin/sh\nsetsid sh -c '${grandchild} & exit 0' </dev/null >/dev/null 2>&1\nsleep 300\n`,
  );
  chmodSync(join(skill, "run"), 0o755);
  return root;
}

/** src/main.ts as `make run` starts it; resolves with its URL once the banner says it listens. */
async function startGateway(marker: string): Promise<{ gateway: ChildProcess; url: string }> {
  const { gateway, banner } = startMainProcess(
    {
      GATEHOUSE_DATA_DIR: join(work, `data-${marker}`),
      PURUTO_GATEWAY_API_KEY: API_KEY,
      GATEHOUSE_ECOSYSTEM_ROOT: ecosystem(marker),
      PURUTO_DATA_PATH: "",
      GATEHOUSE_EXTRA_COMMANDS: "hang",
      GATEHOUSE_COMMAND_TIMEOUT_MS: "120000",
    },
    /Gatehouse (http:\/\/127\.0\.0\.1:\d+) /,
  );
  started.push(gateway);
  return { gateway, url: (await banner)[1]! };
}

/** Starts the hanging command and waits until its escaped grandchild runs. */
async function commandRunning(url: string, marker: string): Promise<void> {
  markers.push(marker);
  fetch(`${url}/purutos/puruto-hang/hang`, { method: "POST", headers: { "x-api-key": API_KEY } }).catch(() => {
    // cut off with the gateway: expected
  });
  await expect.poll(() => survivors(marker), { timeout: 10_000, interval: 100 }).toHaveLength(1);
}

const withNamespaces =
  process.platform === "linux" && pidNamespacePrefix() !== null && parentDeathSignalPrefix().length > 0;

describe.runIf(withNamespaces)("adversarial: a running command dies with its gateway", () => {
  it("a second SIGTERM while the gateway drains ends it at once, and kills the running command", async () => {
    const marker = `gh-drain-${randomUUID()}`;
    const { gateway, url } = await startGateway(marker);
    await commandRunning(url, marker);
    const exited = new Promise<number | null>((ok) => gateway.once("exit", ok));
    gateway.kill("SIGTERM");
    await new Promise((ok) => setTimeout(ok, 300));
    gateway.kill("SIGTERM");
    // Not the drain's 10 s: the second signal stops it now.
    const began = Date.now();
    expect(await exited).toBe(1);
    expect(Date.now() - began).toBeLessThan(5_000);
    await expect.poll(() => survivors(marker), { timeout: 5_000, interval: 100 }).toEqual([]);
  }, 60_000);

  it("a SIGKILLed gateway leaves no process of a running command behind", async () => {
    const marker = `gh-killed-${randomUUID()}`;
    const { gateway, url } = await startGateway(marker);
    await commandRunning(url, marker);
    const exited = new Promise((ok) => gateway.once("exit", ok));
    gateway.kill("SIGKILL");
    await exited;
    await expect.poll(() => survivors(marker), { timeout: 5_000, interval: 100 }).toEqual([]);
  }, 60_000);
});
