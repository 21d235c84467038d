// The store seam: DATABASE_URL=postgres://… selects PostgreSQL (migrated, shared stores ready); without it the
// SQLite file as before. PostgreSQL without GATEHOUSE_SECRET is refused: its signing keys could not be sealed.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../../config";
import { openStore, StoreConfigError } from "../open-store";
import { createTestPgDatabase, postgresForTests } from "../test-support";
import { TEST_SECRET } from "./backends";

describe("openStore", () => {
  it("opens and migrates the SQLite file when DATABASE_URL is not set", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gh-store-"));
    try {
      const store = await openStore({ databaseFile: join(dir, "g.sqlite") });
      expect(store.kind).toBe("sqlite");
      expect(await store.ping()).toBe(true);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses PostgreSQL without GATEHOUSE_SECRET", async () => {
    await expect(
      openStore({ databaseUrl: "postgres://127.0.0.1:1/none", databaseFile: ":memory:" }),
    ).rejects.toBeInstanceOf(StoreConfigError);
  });

  it("reads DATABASE_URL from the environment and accepts only postgres URLs", () => {
    expect(loadConfig({ DATABASE_URL: "postgres://u@db:5432/gh" }).databaseUrl).toBe("postgres://u@db:5432/gh");
    expect(() => loadConfig({ DATABASE_URL: "mysql://db/gh" })).toThrow(/DATABASE_URL/);
  });
});

const admin = await postgresForTests("openStore on PostgreSQL");

describe.skipIf(!admin)("openStore with DATABASE_URL=postgres://…", () => {
  it("selects PostgreSQL, applies the migrations and answers readiness", async () => {
    const database = await createTestPgDatabase(admin!);
    try {
      const store = await openStore({ databaseUrl: database.url, databaseFile: ":memory:", secret: TEST_SECRET });
      expect(store.kind).toBe("postgres");
      expect(await store.ping()).toBe(true);
      if (store.kind === "postgres")
        expect((await store.shared.signingKeys.audit.activeKey()).kid).toMatch(/^[\w-]{43}$/);
      await store.close();
      expect(await store.ping()).toBe(false);
    } finally {
      await database.drop();
    }
  });
});
