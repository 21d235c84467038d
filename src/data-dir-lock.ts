// One Gatehouse per data directory: a second one on the same directory would share the SQLite file and the
// signing secret silently. The lock is a file holding the owner's PID, created with O_EXCL; a lock whose PID
// no longer runs is stale (a crash, a kill -9) and is taken over.
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import path from "node:path";

export const LOCK_FILE = "gatehouse.lock";

export class DataDirLockedError extends Error {}

export interface DataDirLock {
  file: string;
  release(): void;
}

export function lockDataDir(dataDir: string, pid = process.pid): DataDirLock {
  mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${pid}\n`, { flag: "wx", mode: 0o644 });
      return { file, release: () => releaseIfOurs(file, pid) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const holder = lockHolder(file);
    if (holder !== undefined && holder !== pid && isRunning(holder)) {
      throw new DataDirLockedError(
        `Another Gatehouse (PID ${holder}) is using the data directory ${dataDir} (lock file ${file}). ` +
          "Stop it first, or give this one its own GATEHOUSE_DATA_DIR.",
      );
    }
    // Stale (its process is gone) or unreadable: take it over.
    try {
      unlinkSync(file);
    } catch {
      // removed meanwhile by someone else: try again
    }
  }
  throw new DataDirLockedError(`Could not take the lock ${file} on the data directory ${dataDir}`);
}

function lockHolder(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM"; // alive, owned by someone else
  }
}

function releaseIfOurs(file: string, pid: number): void {
  if (lockHolder(file) !== pid) return;
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}
