// A node that stops inside a transaction (SIGSTOP, a paused VM, a half-open connection) holds its org's chain
// lock. Every other node's governed writes of that org queue behind it: before the transaction bounds of
// src/core/store/postgres.ts, for as long as it stayed stopped (an outside review measured 0 executes/s on the
// other two nodes for the whole 15 s and 40 s pauses of a third). Now PostgreSQL ends the stalled transaction once
// it has been idle past its bound: the others go on, and the stalled node's own writes fail (503) when it resumes.
// Needs PostgreSQL (127.0.0.1:5432).
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sharedGroupCommit } from "../../src/core/store/shared/group-commit";
import { isTransientDatabaseError } from "../../src/core/store/transient-errors";
import { createTestPgDatabase, postgresForTests, type TestPgDatabase } from "../../src/core/store/test-support";

const pgAdmin = await postgresForTests("PostgreSQL stalled node");
const IDLE_MS = 1_000;
const STALL_MS = 6_000;

let database: TestPgDatabase;

beforeAll(async () => {
  if (pgAdmin) database = await createTestPgDatabase(pgAdmin);
});

afterAll(async () => {
  await database?.drop();
});

describe.skipIf(!pgAdmin)("a node stalled inside a transaction", () => {
  it("does not stop another node's writes of the same org; its own transaction is ended and fails", async () => {
    await database.openMigrated(1);
    const stalledNode = sharedGroupCommit(database.open(2, { idleInTransactionMs: IDLE_MS }));
    const otherNode = sharedGroupCommit(database.open(2, { idleInTransactionMs: IDLE_MS }));

    let stalledDone = false;
    const stalled = stalledNode.run(["acme"], async (trx) => {
      // Inside the transaction, holding acme's chain lock, the node stops sending anything.
      await new Promise((resume) => setTimeout(resume, STALL_MS));
      await sql`SELECT 1`.execute(trx);
    });
    stalled.catch(() => {}).finally(() => (stalledDone = true));
    await new Promise((ok) => setTimeout(ok, 200)); // the stalled node holds the lock now

    const written = await otherNode.run(
      ["acme"],
      async (trx) => (await sql<{ ok: number }>`SELECT 1 AS ok`.execute(trx)).rows[0]?.ok,
    );
    expect(written).toBe(1);
    // The other node's write went through while the first was still stalled, not after it resumed.
    expect(stalledDone).toBe(false);

    const error = await stalled.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(Error);
    // What its request answers: 503 DATABASE_UNAVAILABLE (retry), never a 500.
    expect(isTransientDatabaseError(error)).toBe(true);
  }, 20_000);
});
