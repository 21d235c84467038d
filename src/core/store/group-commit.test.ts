// The one group-commit primitive (reservations and grouped audit appends).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { groupCommit } from "./group-commit";
import { openDatabase } from "./sqlite";

describe("groupCommit", () => {
  it("settles each caller after its work is committed, and a failing unit rolls back only its own writes", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "gatehouse-group-commit-")), "db.sqlite");
    const db = openDatabase(file);
    const reader = openDatabase(file);
    db.exec("CREATE TABLE t (v TEXT NOT NULL)");
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
    const committed = () =>
      reader
        .prepare("SELECT v FROM t ORDER BY v")
        .all()
        .map((r) => (r as { v: string }).v);
    const commits = groupCommit(db);

    const seenByOtherConnection: string[][] = [];
    const seenDuringWork: string[][] = [];
    const run = (v: string, fail = false) =>
      commits
        .run(() => {
          seenDuringWork.push(committed());
          insert.run(v);
          if (fail) throw new Error(`refused ${v}`);
          return v;
        })
        .then((value) => {
          seenByOtherConnection.push(committed());
          return value;
        });
    const results = await Promise.allSettled([run("a"), run("b", true), run("c")]);

    expect(results.map((r) => (r.status === "fulfilled" ? r.value : (r.reason as Error).message))).toEqual([
      "a",
      "refused b",
      "c",
    ]);
    expect(committed()).toEqual(["a", "c"]);
    // One shared transaction: while the group ran, nothing of it (not even "a") was committed yet.
    expect(seenDuringWork).toEqual([[], [], []]);
    // Durable before the caller continues: another connection already sees the row when the promise settles.
    for (const seen of seenByOtherConnection) expect(seen).toEqual(["a", "c"]);
    db.close();
    reader.close();
  });
});

describe("groupCommit when SQLite aborts the whole transaction", () => {
  it("retries every unit on its own instead of committing the rest twice", async () => {
    const db = openDatabase(":memory:");
    db.exec("CREATE TABLE t (v TEXT NOT NULL)");
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
    const commits = groupCommit(db);
    // What SQLite does on e.g. SQLITE_FULL: the whole transaction is rolled back, not just the statement.
    const abortingEverything = () => {
      insert.run("b");
      db.exec("ROLLBACK");
      throw new Error("disk full");
    };
    const results = await Promise.allSettled([
      commits.run(() => insert.run("a")),
      commits.run(abortingEverything),
      commits.run(() => insert.run("c")),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(db.prepare("SELECT v FROM t ORDER BY v").all()).toEqual([{ v: "a" }, { v: "c" }]);
    db.close();
  });
});
