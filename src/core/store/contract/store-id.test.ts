// The store id (../store-id.ts) on both backends: written once, the same for every reader of one store (several
// nodes opening a new PostgreSQL database at once agree on one), different for another store, and fresh when its
// row was deleted (a copied SQLite file told from its original). A copy of a PostgreSQL database (CREATE DATABASE …
// TEMPLATE, as a dump restored elsewhere) is another store with an id of its own.
import { describe, expect, it } from "vitest";
import type { AnyKysely } from "../postgres";
import { STORE_DATABASE_KEY, STORE_ID_KEY, postgresStoreIdOf, storeIdOf } from "../store-id";
import { createTestPgDatabase, postgresForTests, type TestPgDatabase } from "../test-support";
import { contractBackends, postgresBackend } from "./backends";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe.each(await contractBackends("store contract: store id"))("the store id on $name", (backend) => {
  it("is a random id kept by the store: the same on every read, another one for another store", async () => {
    const one = await backend.open();
    const other = await backend.open();
    try {
      const id = await storeIdOf(one.db);
      expect(id).toMatch(UUID);
      expect(await storeIdOf(one.db)).toBe(id);
      expect(await storeIdOf(other.db)).not.toBe(id);
      await one.db.deleteFrom("store_meta").where("key", "=", STORE_ID_KEY).execute();
      const fresh = await storeIdOf(one.db);
      expect(fresh).toMatch(UUID);
      expect(fresh).not.toBe(id);
    } finally {
      await one.close();
      await other.close();
    }
  });
});

const pg = await postgresBackend("store contract: store id of several nodes");
describe.runIf(pg)("the store id of one PostgreSQL database", () => {
  it("is the same for nodes reading it for the first time at once", async () => {
    const { nodes, close } = await pg!.open();
    const pools = nodes(4);
    try {
      const ids = await Promise.all(pools.map((db) => postgresStoreIdOf(db)));
      expect(new Set(ids).size).toBe(1);
    } finally {
      await Promise.all(pools.map((db) => db.destroy()));
      await close();
    }
  });
});

const admin = await postgresForTests("store contract: store id of a copied database");
describe.runIf(admin)("the store id of a copy of a PostgreSQL database", () => {
  /** The id of `database` read by a node of its own (its pool closed after, so the database can be copied). */
  const idOf = async (database: TestPgDatabase, read = postgresStoreIdOf): Promise<string> => {
    const db: AnyKysely = database.open(2);
    try {
      return await read(db);
    } finally {
      await db.destroy();
    }
  };

  it("is another id: the copy gets its own at its first start, the original keeps its id", async () => {
    const original = await createTestPgDatabase(admin!);
    await (await original.openMigrated(2)).destroy();
    const copies: TestPgDatabase[] = [];
    try {
      const id = await idOf(original);
      expect(await idOf(original)).toBe(id);
      const copy = await createTestPgDatabase(admin!, original);
      copies.push(copy);
      const copyId = await idOf(copy);
      expect(copyId).toMatch(UUID);
      expect(copyId).not.toBe(id);
      expect(await idOf(copy)).toBe(copyId);
      expect(await idOf(original)).toBe(id);
      // Several nodes starting on a fresh copy at once agree on one new id.
      const second = await createTestPgDatabase(admin!, original);
      copies.push(second);
      const pools = [0, 1, 2, 3].map(() => second.open(2));
      const ids = await Promise.all(pools.map((db) => postgresStoreIdOf(db)));
      await Promise.all(pools.map((db) => db.destroy()));
      expect(new Set(ids).size).toBe(1);
      expect([id, copyId]).not.toContain(ids[0]);
    } finally {
      for (const copy of copies) await copy.drop();
      await original.drop();
    }
  });

  it("a database of a version that recorded no home keeps its id, and records its home from then on", async () => {
    const original = await createTestPgDatabase(admin!);
    const db = await original.openMigrated(2);
    try {
      const id = await storeIdOf(db);
      expect(await postgresStoreIdOf(db)).toBe(id);
      const home = await db.selectFrom("store_meta").select("value").where("key", "=", STORE_DATABASE_KEY).execute();
      expect(home[0]?.value).toMatch(/^pg:\d+:\d+$/);
      // A node not allowed to read the cluster's identifier names the same database by its oid alone.
      await db
        .updateTable("store_meta")
        .set({ value: home[0]!.value.replace(/^pg:\d+:/, "pg:unknown:") })
        .where("key", "=", STORE_DATABASE_KEY)
        .execute();
      expect(await postgresStoreIdOf(db)).toBe(id);
      await db.updateTable("store_meta").set({ value: "pg:1:1" }).where("key", "=", STORE_DATABASE_KEY).execute();
      expect(await postgresStoreIdOf(db)).not.toBe(id);
    } finally {
      await original.drop();
    }
  });
});
