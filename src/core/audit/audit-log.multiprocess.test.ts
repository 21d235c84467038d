import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { openMigratedDatabase } from "../store/test-support";
import { createAuditLog } from "./audit-log";

const run = promisify(execFile);

it("keeps one unforked chain when two OS processes append to the same file at once", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-audit-mp-"));
  try {
    const file = join(dir, "gatehouse.db");
    createAuditLog(await openMigratedDatabase(file)); // tables and signing key first, as the server would
    const worker = join(import.meta.dirname, "append-worker.fixture.ts");
    const tsx = join(process.cwd(), "node_modules", ".bin", "tsx");
    const workers = Promise.all([1, 2].map(() => run(tsx, [worker, file, "org-mp", "150", dir])));
    while (readdirSync(dir).filter((name) => name.startsWith("ready-")).length < 2) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    writeFileSync(join(dir, "go"), "");
    await workers;

    const log = createAuditLog(await openMigratedDatabase(file));
    expect(await log.verifyChain("org-mp")).toEqual({ valid: true, records: 300, orgs: 1 });
    const writers = log.list("org-mp", { limit: 500 }).records.map((r) => r.agent_id);
    const switches = writers.filter((writer, i) => i > 0 && writer !== writers[i - 1]).length;
    expect(new Set(writers).size).toBe(2);
    expect(switches).toBeGreaterThan(1); // the appends really interleaved
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
