import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { DataDirLockedError, LOCK_FILE, lockDatabaseFile, lockDataDir } from "./data-dir-lock";

const freshDir = () => mkdtempSync(path.join(tmpdir(), "gh-lock-"));

describe("data directory lock", () => {
  it("refuses a second Gatehouse on the same data directory with a message naming the holder", async () => {
    const dir = freshDir();
    // Another live process holds the lock.
    const other = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      writeFileSync(path.join(dir, LOCK_FILE), `${other.pid}\n`);
      expect(() => lockDataDir(dir)).toThrow(DataDirLockedError);
      expect(() => lockDataDir(dir)).toThrow(new RegExp(`Another Gatehouse \\(PID ${other.pid}\\)`));
    } finally {
      other.kill("SIGKILL");
    }
  });

  it("takes over a stale lock whose process is gone, and releases it on stop", async () => {
    const dir = freshDir();
    const gone = spawn("true", { stdio: "ignore" });
    await new Promise((r) => gone.once("exit", r));
    writeFileSync(path.join(dir, LOCK_FILE), `${gone.pid}\n`);
    const lock = lockDataDir(dir);
    expect(readFileSync(lock.file, "utf8").trim()).toBe(String(process.pid));
    lock.release();
    expect(existsSync(lock.file)).toBe(false);
  });
});

describe("database file lock", () => {
  it("is the file's, whatever name reaches it (a symlink), and an in-memory database takes none", async () => {
    const dir = freshDir();
    const database = path.join(dir, "gatehouse.sqlite");
    writeFileSync(database, "");
    symlinkSync(database, path.join(dir, "alias.sqlite"));
    const other = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      const held = lockDatabaseFile(database, other.pid);
      expect(() => lockDatabaseFile(path.join(dir, "alias.sqlite"))).toThrow(
        new RegExp(`Another Gatehouse \\(PID ${other.pid}\\) is using the database file`),
      );
      held.release();
      expect(lockDatabaseFile(":memory:").file).toBe("");
      expect(existsSync(path.join(dir, ":memory:.gatehouse.lock"))).toBe(false);
    } finally {
      other.kill("SIGKILL");
    }
  });
});
