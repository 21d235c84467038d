// Where commands get a mount namespace but mounting in it fails (here a `mount` first on PATH that always fails,
// standing in for a kernel or a security profile that refuses tmpfs), the start-up probe finds out once, says why,
// and commands run as they did before hiding existed: readable data directory, nothing refused. (A mount that fails
// at run time after the probe succeeded is another matter: that run fails, see adversarial-data-dir.test.ts.)
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { dataDirHiding, pidNamespacePrefix, runProcess } from "./runner";
import { removeDir } from "./testing";

// Before the runner's first probe: this file's module state is its own (one worker per test file).
const shim = mkdtempSync(path.join(tmpdir(), "gh-no-mount-"));
writeFileSync(path.join(shim, "mount"), "#!/bin/sh\necho 'mount: refused by the test' >&2\nexit 32\n");
chmodSync(path.join(shim, "mount"), 0o755);
process.env.PATH = `${shim}${path.delimiter}${process.env.PATH ?? "/usr/bin:/bin"}`;

afterAll(() => removeDir(shim));

const withMountNamespace = process.platform === "linux" && (pidNamespacePrefix()?.includes("--mount") ?? false);

describe.runIf(withMountNamespace)("a mount namespace where mounting fails", () => {
  it("is found at the probe, with the reason, and commands run as before (the data directory readable)", async () => {
    const state = dataDirHiding();
    expect(state).toMatchObject({ hidden: false, why: expect.stringContaining("refused by the test") });
    const dataDir = mkdtempSync(path.join(tmpdir(), "gh-probe-data-"));
    try {
      writeFileSync(path.join(dataDir, "secret"), "visible");
      const outcome = await runProcess({
        argv: ["/bin/cat", path.join(dataDir, "secret")],
        cwd: tmpdir(),
        env: { PATH: process.env.PATH ?? "" },
        stdin: "",
        timeoutMs: 10_000,
        outputLimit: 1024,
        hidden: { dataDir, files: [] },
      });
      expect(outcome).toMatchObject({ kind: "exited", exitCode: 0, stdout: "visible" });
    } finally {
      await removeDir(dataDir);
    }
  });
});
