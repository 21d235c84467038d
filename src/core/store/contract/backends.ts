// The backends the store-contract suite runs every test against: the embedded SQLite file (in memory) and a
// PostgreSQL database of the test's own. PostgreSQL tests are skipped with a message when it is unreachable
// (failed under CI=true, see ../test-support.ts).
import { kyselyOver } from "../kysely";
import type { AnyKysely } from "../postgres";
import { createTestPgDatabase, openMigratedDatabase, postgresForTests } from "../test-support";

export const TEST_SECRET = "contract-suite-secret-0123456789";

export interface Backend {
  name: "sqlite" | "postgres";
  /** A migrated database for one test; `nodes(n)` gives n independent pools on it (PostgreSQL only). */
  open(): Promise<{ db: AnyKysely; nodes(n: number): AnyKysely[]; close(): Promise<void> }>;
}

const sqlite: Backend = {
  name: "sqlite",
  async open() {
    const file = await openMigratedDatabase();
    const db = kyselyOver(file);
    return {
      db,
      nodes: () => {
        throw new Error("several nodes need a networked database");
      },
      close: async () => {
        await db.destroy();
        file.close();
      },
    };
  },
};

function postgres(admin: string): Backend {
  return {
    name: "postgres",
    async open() {
      const database = await createTestPgDatabase(admin);
      const db = await database.openMigrated(5);
      return {
        db,
        nodes: (n) => Array.from({ length: n }, () => database.open(5)),
        close: () => database.drop(),
      };
    },
  };
}

/** Both backends when PostgreSQL is reachable; SQLite alone otherwise. */
export async function contractBackends(suite: string): Promise<Backend[]> {
  const admin = await postgresForTests(suite);
  return admin ? [sqlite, postgres(admin)] : [sqlite];
}

/** PostgreSQL alone (the multi-node tests), or nothing when unreachable. */
export async function postgresBackend(suite: string): Promise<Backend | undefined> {
  const admin = await postgresForTests(suite);
  return admin ? postgres(admin) : undefined;
}
