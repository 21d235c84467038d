// The migrations on both backends: every table the stores use exists, and running them again changes nothing.
import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { migrateToLatest } from "../migrate";
import { MIGRATIONS } from "../migrations";
import { STORE_TABLES as TABLES } from "../test-support";
import { contractBackends } from "./backends";

describe.each(await contractBackends("store contract: migrations"))("migrations on $name", (backend) => {
  it("creates every table and is a no-op the second time", async () => {
    const { db, close } = await backend.open();
    try {
      const tables = await db.introspection.getTables();
      const names = tables.map((t) => t.name);
      for (const table of TABLES) expect(names).toContain(table);
      expect(await migrateToLatest(db)).toEqual([]);
      const applied = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(db);
      expect(applied.rows.map((r) => r.name)).toEqual(Object.keys(MIGRATIONS));
    } finally {
      await close();
    }
  });
});
