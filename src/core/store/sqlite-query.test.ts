// Kysely-built queries run synchronously on better-sqlite3: compiled once, parameters bound per call, one
// prepared statement per SQL text and database.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { compiledQuery, preparedStatement, sqliteBuilder, sqliteQuery } from "./sqlite-query";
import type { Db } from "./sqlite";
import { openMigratedDatabase } from "./test-support";

describe("sqliteQuery", () => {
  let db: Db;
  beforeEach(async () => {
    db = await openMigratedDatabase();
  });
  afterEach(() => db.close());

  const insert = (d: Db) =>
    sqliteQuery(d, (b, $: { scope: string; window: number }) =>
      b.insertInto("action_budget_counters").values({ scope: $.scope, window: $.window, count: 0 }),
    );
  const read = (d: Db) =>
    sqliteQuery(d, (b, $: { scope: string; window: number }) =>
      b
        .selectFrom("action_budget_counters")
        .select(["scope", "count"])
        .where("scope", "=", $.scope)
        .where("window", "=", $.window)
        .limit(1),
    );

  it("binds parameters whose names hold quotes, backslashes or brackets, and fixed values beside them", () => {
    // The argument array is read by a function generated per query (sqlite-query.ts argsReader): a name must stay
    // a name, never become code.
    type Odd = { 'sc"o\\pe': string; "w')]; throw 1; //": number };
    const oddInsert = sqliteQuery(db, (b, $: Odd) =>
      b.insertInto("action_budget_counters").values({ scope: $['sc"o\\pe'], window: $["w')]; throw 1; //"], count: 7 }),
    );
    oddInsert.run({ 'sc"o\\pe': "x", "w')]; throw 1; //": 3 });
    expect(read(db).get({ scope: "x", window: 3 })).toEqual({ scope: "x", count: 7 });
  });

  it("compiles with SQLite's compiler and binds each call's parameters (constants stay)", () => {
    const q = read(db);
    expect(q.sql).toBe(
      'select "scope", "count" from "action_budget_counters" where "scope" = ? and "window" = ? limit 1',
    );
    insert(db).run({ scope: "a", window: 1 });
    insert(db).run({ scope: "b", window: 1 });
    expect(q.get({ scope: "b", window: 1 })).toEqual({ scope: "b", count: 0 });
    expect(q.get({ scope: "b", window: 2 })).toBeUndefined();
    expect(q.all({ scope: "a", window: 1 })).toEqual([{ scope: "a", count: 0 }]);
    expect([...q.iterate({ scope: "a", window: 1 })]).toHaveLength(1);
  });

  it("runs writes and tells how many rows changed, inside better-sqlite3 transactions", () => {
    insert(db).run({ scope: "a", window: 1 });
    const bump = sqliteQuery(db, (b, $: { scope: string }) =>
      b
        .updateTable("action_budget_counters")
        .set((eb) => ({ count: eb("count", "+", 1) }))
        .where("scope", "=", $.scope)
        .where("count", "<", 2),
    );
    expect(db.transaction(() => [1, 2, 3].map(() => bump.run({ scope: "a" }).changes))()).toEqual([1, 1, 0]);
    expect(read(db).get({ scope: "a", window: 1 })?.count).toBe(2);
  });

  it("inlines constants as literals, escaped, so a partial index applies", () => {
    const q = sqliteQuery(db, (b, $: { org_id: string }) =>
      b
        .selectFrom("approvals")
        .select("approval_id")
        .where("org_id", "=", $.org_id)
        .where("status", "=", "pending")
        .where("decided_by", "=", "o'brien"),
    );
    expect(q.sql).toContain(`"status" = 'pending' and "decided_by" = 'o''brien'`);
    expect(q.all({ org_id: "x" })).toEqual([]);
  });

  it("prepares one statement per SQL text and database", () => {
    const a = read(db);
    const b = read(db);
    expect(a.sql).toBe(b.sql);
    expect(preparedStatement(db, a.sql)).toBe(preparedStatement(db, b.sql));
  });

  it("compiledQuery runs a query built for this call", () => {
    insert(db).run({ scope: "a", window: 1 });
    insert(db).run({ scope: "b", window: 1 });
    const rows = compiledQuery(
      db,
      sqliteBuilder
        .selectFrom("action_budget_counters")
        .select("scope")
        .where("scope", "in", ["a", "b"])
        .orderBy("scope"),
    ).all();
    expect(rows).toEqual([{ scope: "a" }, { scope: "b" }]);
  });
});
