// The store backends an end-to-end test runs a real Gatehouse on: the embedded SQLite file (the default) and a
// PostgreSQL database of the test's own (DATABASE_URL + GATEHOUSE_SECRET, dropped afterwards). PostgreSQL is
// skipped with a message when unreachable, and a failure under CI=true (src/core/store/test-support.ts).
import pg from "pg";
import { afterAll, beforeAll } from "vitest";
import { createTestPgDatabase, postgresForTests } from "../core/store/test-support";
import type { Gatehouse } from "../server";
import { startTestGatehouse, type TestGatehouse } from "./gatehouse";
import { registerManifest } from "./http";

/** The secret the PostgreSQL backend's nodes share (seals signing keys and webhook secrets). */
export const BACKEND_TEST_SECRET = "backend-test-secret-0123456789";

export interface OpenedBackend {
  /** What startTestGatehouse needs to run on this backend (nothing for SQLite). */
  env: Record<string, string>;
  /** Rows of a read-only SQL query on the node's store (to check that an operation wrote nothing). */
  rows(g: Gatehouse, query: string): Promise<unknown[]>;
  dispose(): Promise<void>;
}

export interface GatehouseBackend {
  name: "sqlite" | "postgres";
  open(): Promise<OpenedBackend>;
}

const sqlite: GatehouseBackend = {
  name: "sqlite",
  async open() {
    return {
      env: {},
      async rows(g, query) {
        if (!g.db) throw new Error("the sqlite backend's Gatehouse has no embedded database");
        return g.db.prepare(query).all();
      },
      dispose: async () => {},
    };
  },
};

function postgres(admin: string): GatehouseBackend {
  return {
    name: "postgres",
    async open() {
      const database = await createTestPgDatabase(admin);
      return {
        env: { DATABASE_URL: database.url, GATEHOUSE_SECRET: BACKEND_TEST_SECRET },
        async rows(_g, query) {
          const client = new pg.Client({ connectionString: database.url });
          await client.connect();
          try {
            return (await client.query(query)).rows;
          } finally {
            await client.end();
          }
        },
        dispose: () => database.drop(),
      };
    },
  };
}

/** SQLite, and PostgreSQL when it is reachable: `describe.each(await gatehouseBackends(...))`. */
export async function gatehouseBackends(suite: string): Promise<GatehouseBackend[]> {
  const admin = await postgresForTests(suite);
  return admin ? [sqlite, postgres(admin)] : [sqlite];
}

type Manifests = Record<string, unknown>[];

/**
 * A gatehouse on `backend` for the enclosing describe block, `manifests` registered: started before its tests,
 * disposed (with the backend's database) after them. Call the returned function inside a test for the gatehouse.
 * `manifests` may be a function, called when the gatehouse starts (after the block's earlier beforeAll hooks: a
 * manifest naming a receiver's URL).
 */
export function gatehouseOn(
  backend: GatehouseBackend,
  manifests: Manifests | (() => Manifests) = [],
): () => TestGatehouse {
  let opened: OpenedBackend | undefined;
  let g: TestGatehouse | undefined;
  beforeAll(async () => {
    opened = await backend.open();
    g = await startTestGatehouse({ env: opened.env });
    for (const manifest of typeof manifests === "function" ? manifests() : manifests)
      await registerManifest(g, manifest);
  });
  afterAll(async () => {
    await g?.dispose();
    await opened?.dispose();
  });
  return () => {
    if (!g) throw new Error("gatehouseOn: the gatehouse is only there inside a test of its describe block");
    return g;
  };
}
