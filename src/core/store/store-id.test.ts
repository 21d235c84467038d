// The embedded store's id follows its file: reopening or moving the file keeps it, a copy of the file is another
// store with an id of its own, and a file from a version that recorded no inode keeps the id it had.
import { copyFileSync, mkdtempSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openDatabase } from "./sqlite";
import { STORE_FILE_KEY, STORE_ID_KEY, fileStoreIdOf } from "./store-id";
import { openMigratedDatabase } from "./test-support";

async function newStoreFile(): Promise<string> {
  const file = join(mkdtempSync(join(tmpdir(), "gatehouse-store-id-")), "gatehouse.sqlite");
  (await openMigratedDatabase(file)).close();
  return file;
}

/** Opens `file`, reads its store id, closes it (checkpointed: a copied file then holds everything). */
function idOf(file: string): string {
  const db = openDatabase(file);
  try {
    return fileStoreIdOf(db, file);
  } finally {
    db.pragma("wal_checkpoint(TRUNCATE)");
    db.close();
  }
}

describe("the store id of a SQLite file", () => {
  it("stays the same when the file is opened again or moved, and a copy of the file gets its own", async () => {
    const file = await newStoreFile();
    const id = idOf(file);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(idOf(file)).toBe(id);

    const moved = join(mkdtempSync(join(tmpdir(), "gatehouse-store-id-")), "moved.sqlite");
    renameSync(file, moved);
    expect(idOf(moved)).toBe(id);

    const copy = `${moved}.copy`;
    copyFileSync(moved, copy);
    const copyId = idOf(copy);
    expect(copyId).not.toBe(id);
    // Each keeps its own from then on.
    expect(idOf(copy)).toBe(copyId);
    expect(idOf(moved)).toBe(id);
  });

  it("keeps the id of a file written by a version that recorded no inode, and records the inode", async () => {
    const file = await newStoreFile();
    const db = openDatabase(file);
    db.prepare("INSERT INTO store_meta (key, value) VALUES (?, ?)").run(STORE_ID_KEY, "id-of-an-older-version");
    expect(fileStoreIdOf(db, file)).toBe("id-of-an-older-version");
    const recorded = db.prepare("SELECT value FROM store_meta WHERE key = ?").get(STORE_FILE_KEY) as { value: string };
    expect(recorded.value).toMatch(/^ino:\d+$/);
    db.close();
  });
});
