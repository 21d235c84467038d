// The WAL is checkpointed by a worker thread, not by the commits on the event loop: the WAL file stays small while
// the server's connection never checkpoints by itself, and stopping leaves every commit in the database file.
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { openDatabase } from "./sqlite";
import { startWalCheckpointer } from "./wal-checkpointer";

const walBytes = (file: string) => statSync(`${file}-wal`).size;

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("WAL checkpoints in a worker thread", () => {
  it("keeps the WAL from growing although the server's connection does not checkpoint by itself", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "gatehouse-wal-")), "gatehouse.db");
    const db = openDatabase(file);
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)");
    const checkpointer = startWalCheckpointer(db, { intervalMs: 20 });
    expect(db.pragma("wal_autocheckpoint", { simple: true })).toBeGreaterThan(1000);

    const insert = db.prepare("INSERT INTO t (body) VALUES (?)");
    const group = db.transaction(() => {
      for (let i = 0; i < 50; i++) insert.run("x".repeat(2000));
    });
    // ~10 MB written in all: far beyond the default autocheckpoint (≈ 4 MB), far below the backstop (≈ 80 MB).
    // As a server writes: a group commit, then the event loop turns (here: a few ms) before the next one.
    for (let round = 0; round < 100; round++) {
      group();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    // A checkpoint lets the writer start the WAL over from its beginning: the file stops growing.
    await until(() => db.pragma("wal_checkpoint(PASSIVE)", { simple: true }) === 0);
    expect(walBytes(file)).toBeLessThan(8 * 1024 * 1024);

    await checkpointer?.stop();
    db.close();
    const reader = new Database(file, { readonly: true });
    expect(reader.prepare("SELECT count(*) AS n FROM t").get()).toEqual({ n: 5000 });
    reader.close();
  });

  it("runs nothing for an in-memory database", () => {
    expect(startWalCheckpointer(openDatabase(":memory:"))).toBeUndefined();
  });
});
