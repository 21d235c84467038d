// The store id (../store-id.ts) on both backends: written once, the same for every reader of one store (several
// nodes opening a new PostgreSQL database at once agree on one), different for another store, and fresh when its
// row was deleted (a copied SQLite file told from its original).
import { describe, expect, it } from "vitest";
import { STORE_ID_KEY, storeIdOf } from "../store-id";
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
      const ids = await Promise.all(pools.map((db) => storeIdOf(db)));
      expect(new Set(ids).size).toBe(1);
    } finally {
      await Promise.all(pools.map((db) => db.destroy()));
      await close();
    }
  });
});
