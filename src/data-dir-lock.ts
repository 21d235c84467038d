// One Gatehouse per data directory, and per SQLite file wherever GATEHOUSE_DB puts it: a second one would share
// the SQLite file (and, on the same directory, the signing secret) silently. The lock is a file holding the owner's
// PID, created with O_EXCL; a lock whose PID no longer runs is stale (a crash, a kill -9) and is taken over.
import { existsSync, mkdirSync, readFileSync, realpathSync, unlinkSync, writeFileSync } from "node:fs";
import path from "node:path";

export const LOCK_FILE = "gatehouse.lock";

export class DataDirLockedError extends Error {}

export interface DataDirLock {
  file: string;
  release(): void;
}

export function lockDataDir(dataDir: string, pid = process.pid): DataDirLock {
  mkdirSync(dataDir, { recursive: true });
  return lockWithFile(path.join(dataDir, LOCK_FILE), {
    what: `the data directory ${dataDir}`,
    remedy: "Stop it first, or give this one its own GATEHOUSE_DATA_DIR.",
    pid,
  });
}

/** Beside the SQLite file: `<GATEHOUSE_DB>` + this. */
export const DATABASE_LOCK_SUFFIX = ".gatehouse.lock";

/**
 * One Gatehouse per SQLite file, wherever GATEHOUSE_DB puts it. The data directory's lock alone let two processes
 * with their own data directories share one GATEHOUSE_DB: each kept its own in-memory view of it (manifests,
 * budgets), so a manifest suspended through one was still allowed by the other. Several nodes share PostgreSQL.
 */
export function lockDatabaseFile(databaseFile: string, pid = process.pid): DataDirLock {
  // A folder that does not exist holds no database: opening it fails with its own message. An in-memory database
  // is this process's own.
  if (databaseFile === ":memory:" || !existsSync(path.dirname(databaseFile))) return { file: "", release: () => {} };
  // The file itself, not the name it was given: a symlink to another node's file is that file.
  const file = existsSync(databaseFile) ? realpathSync(databaseFile) : databaseFile;
  return lockWithFile(`${file}${DATABASE_LOCK_SUFFIX}`, {
    what: `the database file ${databaseFile}`,
    remedy: "Stop it first, or give this one its own GATEHOUSE_DB (several nodes share PostgreSQL: DATABASE_URL).",
    pid,
  });
}

function lockWithFile(file: string, holder: { what: string; remedy: string; pid: number }): DataDirLock {
  const { what, remedy, pid } = holder;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${pid}\n`, { flag: "wx", mode: 0o644 });
      return { file, release: () => releaseIfOurs(file, pid) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const running = lockHolder(file);
    if (running !== undefined && running !== pid && isRunning(running)) {
      throw new DataDirLockedError(
        `Another Gatehouse (PID ${running}) is using ${what} (lock file ${file}). ${remedy}`,
      );
    }
    // Stale (its process is gone) or unreadable: take it over.
    try {
      unlinkSync(file);
    } catch {
      // removed meanwhile by someone else: try again
    }
  }
  throw new DataDirLockedError(`Could not take the lock ${file} on ${what}`);
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
