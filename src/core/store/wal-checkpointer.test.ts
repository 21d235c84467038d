// The WAL is checkpointed by a worker thread, not by the commits on the event loop: the database file receives the
// commits while the server's connection never checkpoints by itself, and stopping leaves every commit in it.
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { openDatabase } from "./sqlite";
import { type CheckpointResult, startWalCheckpointer } from "./wal-checkpointer";

const walBytes = (file: string) => statSync(`${file}-wal`).size;

describe("WAL checkpoints in a worker thread", () => {
  it("keeps the WAL from growing although the server's connection does not checkpoint by itself", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "gatehouse-wal-")), "gatehouse.db");
    const db = openDatabase(file);
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)");
    // Every checkpoint the worker makes, as SQLite reports it: observed, not guessed from how long one takes.
    const checkpoints: CheckpointResult[] = [];
    let checkpointed: () => void = () => undefined;
    const checkpointer = startWalCheckpointer(db, {
      intervalMs: 20,
      onCheckpoint: (result) => {
        checkpoints.push(result);
        checkpointed();
      },
    });
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
    // The first checkpoint of the worker that begins after the last commit copies the whole WAL into the file (no
    // writer and no reader in its way): wait for it, however long this machine takes to get there.
    const after = checkpoints.length;
    await new Promise<void>((resolve) => {
      checkpointed = () => {
        if (checkpoints.length > after + 1) resolve();
      };
    });
    const last = checkpoints.at(-1)!;
    expect(last.busy).toBe(0);
    expect(last.checkpointed).toBe(last.log);
    // Only a checkpoint copies pages from the WAL into the database file, and the server's connection does not
    // checkpoint below its backstop: the database file filled because the worker checkpointed.
    expect(statSync(file).size).toBeGreaterThan(8 * 1024 * 1024);
    expect(walBytes(file)).toBeLessThan(80 * 1024 * 1024);

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
