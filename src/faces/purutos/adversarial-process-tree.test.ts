// Adversarial: a command's whole process tree dies at timeout or abort, including a descendant that called
// setsid and double-forked out of the command's process group.
import { randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { pidNamespacePrefix, runProcess } from "./runner";

/** Live processes whose command line carries `marker`. */
async function survivors(marker: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    // The escaped grandchild is `sh -c "sleep 300; :" <marker>`: its last argument is the marker itself.
    if (cmdline.split("\0").filter(Boolean).at(-1) === marker) found.push(pid);
  }
  return found;
}

/** A skill that escapes its process group: setsid, then a background grandchild, then the parent leaves. */
function escapingSkill(marker: string): string[] {
  const grandchild = `sh -c "sleep 300; :" ${marker}`;
  return ["/bin/sh", "-c", `setsid sh -c '${grandchild} & exit 0' </dev/null >/dev/null 2>&1; sleep 300`];
}

const linuxWithNamespaces = process.platform === "linux" && pidNamespacePrefix() !== null;

describe.runIf(linuxWithNamespaces)("process tree kill", () => {
  it("after a timeout no process of the command survives, not even a setsid double-forked one", async () => {
    const marker = `gh-orphan-${randomUUID()}`;
    const run = runProcess({
      argv: escapingSkill(marker),
      cwd: tmpdir(),
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
      stdin: "",
      timeoutMs: 4_000,
      outputLimit: 1024,
    });
    // The escaped grandchild is running before the timeout.
    await expect.poll(() => survivors(marker), { timeout: 5_000, interval: 100 }).toHaveLength(1);
    expect((await run).kind).toBe("timeout");
    await expect.poll(() => survivors(marker), { timeout: 5_000, interval: 100 }).toEqual([]);
  }, 20_000);

  it("after an abort no process of the command survives", async () => {
    const marker = `gh-orphan-${randomUUID()}`;
    const abort = new AbortController();
    const run = runProcess({
      argv: escapingSkill(marker),
      cwd: tmpdir(),
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
      stdin: "",
      timeoutMs: 60_000,
      outputLimit: 1024,
      signal: abort.signal,
    });
    await expect.poll(() => survivors(marker), { timeout: 5_000, interval: 100 }).toHaveLength(1);
    abort.abort();
    expect((await run).kind).toBe("aborted");
    await expect.poll(() => survivors(marker), { timeout: 5_000, interval: 100 }).toEqual([]);
  }, 20_000);
});
