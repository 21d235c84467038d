// The store's id: a random id kept in the store itself (table store_meta, migration 0010), the same for every node
// that opens the same store — one PostgreSQL database, or one embedded SQLite file. The composition root compares
// it with the id registered by the other nodes on the same Redis prefix (src/store-claim.ts), so that nodes with
// stores of their own never believe they are one cluster.
//
// Written on first open, not by the migration: a store whose row was deleted gets a fresh id at its next start. Of
// several nodes opening a new store at once, one insert wins and all read its id.
//
// An embedded SQLite file also records the file it was written in (its inode): a copy of the file (a backup
// restored beside the original, a data directory cloned for a second node) is another store, which must not pass
// for its original on a shared Redis prefix, so a file whose inode is not the recorded one gets a fresh id.
//
// A PostgreSQL database records the same way which database the id was given in: its cluster's system identifier
// and its own oid. A copy (CREATE DATABASE … TEMPLATE, pg_dump and restore, a backup restored into another cluster)
// has another oid or another cluster, so it gets a fresh id at its first start instead of passing for its original.
import { randomUUID } from "node:crypto";
import { statSync } from "node:fs";
import { type Kysely, sql } from "kysely";
import type { Database } from "./schema";
import type { Db } from "./sqlite";
import { sqliteQuery } from "./sqlite-query";

export const STORE_ID_KEY = "store_id";
/** The inode of the SQLite file the id was given in (`ino:<n>`). */
export const STORE_FILE_KEY = "store_file";
/** The PostgreSQL database the id was given in (`pg:<system identifier>:<database oid>`). */
export const STORE_DATABASE_KEY = "store_database";

export async function storeIdOf(db: Kysely<Database>): Promise<string> {
  await db
    .insertInto("store_meta")
    .values({ key: STORE_ID_KEY, value: randomUUID() })
    .onConflict((oc) => oc.column("key").doNothing())
    .execute();
  const row = await db.selectFrom("store_meta").select("value").where("key", "=", STORE_ID_KEY).executeTakeFirst();
  if (!row) throw new Error("store_meta: the store id could not be written");
  return row.value;
}

/**
 * The id of the store in the SQLite `file`: fresh when the file is not the one the id was given in (a copy; a move
 * within a filesystem keeps the inode, and so the id). A file of a version that recorded no inode keeps its id.
 * Read and written in one IMMEDIATE transaction: another process opening the same file at the same moment waits,
 * then reads the id this one wrote, instead of replacing it.
 */
export function fileStoreIdOf(db: Db, file: string): string {
  const inode = `ino:${statSync(file).ino}`;
  const read = sqliteQuery(db, (b, $: { key: string }) =>
    b.selectFrom("store_meta").select("value").where("key", "=", $.key),
  );
  const remove = sqliteQuery(db, (b, $: { key: string }) => b.deleteFrom("store_meta").where("key", "=", $.key));
  const write = sqliteQuery(db, (b, $: { key: string; value: string }) =>
    b
      .insertInto("store_meta")
      .values({ key: $.key, value: $.value })
      .onConflict((oc) => oc.column("key").doUpdateSet((eb) => ({ value: eb.ref("excluded.value") }))),
  );
  const writeIfAbsent = sqliteQuery(db, (b, $: { key: string; value: string }) =>
    b
      .insertInto("store_meta")
      .values({ key: $.key, value: $.value })
      .onConflict((oc) => oc.column("key").doNothing()),
  );
  return db
    .transaction(() => {
      const recorded = read.get({ key: STORE_FILE_KEY });
      if (recorded?.value !== inode) {
        if (recorded) remove.run({ key: STORE_ID_KEY });
        write.run({ key: STORE_FILE_KEY, value: inode });
      }
      writeIfAbsent.run({ key: STORE_ID_KEY, value: randomUUID() });
      const id = read.get({ key: STORE_ID_KEY });
      if (!id) throw new Error("store_meta: the store id could not be written");
      return id.value;
    })
    .immediate();
}

/**
 * The id of the store in this PostgreSQL database: fresh when the database is not the one the id was given in (a
 * copy). A database of a version that recorded none keeps its id. Nodes opening a database at once take turns on
 * the table's lock, so all of them read the id the first one wrote.
 */
export async function postgresStoreIdOf(db: Kysely<Database>): Promise<string> {
  const home = await databaseHome(db);
  return db.transaction().execute(async (trx) => {
    // SHARE ROW EXCLUSIVE conflicts with itself: one node at a time reads and writes the two rows.
    await sql`LOCK TABLE store_meta IN SHARE ROW EXCLUSIVE MODE`.execute(trx);
    const recorded = await trx
      .selectFrom("store_meta")
      .select("value")
      .where("key", "=", STORE_DATABASE_KEY)
      .executeTakeFirst();
    if (!recorded || !sameDatabase(recorded.value, home)) {
      // A copy is another store: neither its original's id nor the Redis prefix its original's nodes run on.
      if (recorded)
        await trx
          .deleteFrom("store_meta")
          .where("key", "in", [STORE_ID_KEY, REDIS_PREFIX_KEY, REDIS_ADDRESS_KEY])
          .execute();
      await trx
        .insertInto("store_meta")
        .values({ key: STORE_DATABASE_KEY, value: home })
        .onConflict((oc) => oc.column("key").doUpdateSet({ value: home }))
        .execute();
    }
    return storeIdOf(trx);
  });
}

/**
 * Whether two homes name one database: the same oid, in the same cluster, or in a cluster one of the two nodes could
 * not name (roles that differ in their right to read it must not take turns giving the store a fresh id).
 */
function sameDatabase(recorded: string, home: string): boolean {
  const [, recordedSystem, recordedOid] = recorded.split(":");
  const [, system, oid] = home.split(":");
  return recordedOid === oid && (recordedSystem === system || recordedSystem === "unknown" || system === "unknown");
}

/**
 * `pg:<system identifier>:<database oid>`. The system identifier tells clusters apart (an oid such as 16384 recurs
 * in every cluster); a server that does not let this role read it (pg_control_system revoked) leaves the oid
 * alone, which still tells a copy within the cluster from its original.
 */
async function databaseHome(db: Kysely<Database>): Promise<string> {
  const system = await sql<{ id: string }>`SELECT system_identifier::text AS id FROM pg_control_system()`
    .execute(db)
    .then((result) => result.rows[0]?.id ?? "unknown")
    .catch(() => "unknown");
  const { rows } = await sql<{ oid: string }>`
    SELECT oid::text AS oid FROM pg_database WHERE datname = current_database()`.execute(db);
  if (!rows[0]) throw new Error("store_meta: the current database is not in pg_database");
  return `pg:${system}:${rows[0].oid}`;
}

/** The Redis prefix the store's nodes run on (`store_meta` key), and the Redis they reach it on. */
export const REDIS_PREFIX_KEY = "redis_prefix";
export const REDIS_ADDRESS_KEY = "redis_address";

/** A store's Redis: the prefix its nodes' keys live under, on the Redis at `address` (no credentials). */
export interface RedisHome {
  prefix: string;
  address: string;
}

/**
 * The database index of a Redis `address` (`redis://host:port/db`, as recorded), or undefined when it names none
 * (a record written without an address: "unknown").
 */
export function redisDbOf(address: string): number | undefined {
  const match = /^rediss?:\/\/[^/]*\/(\d{1,10})$/.exec(address);
  return match ? Number(match[1]) : undefined;
}

/**
 * Whether a node on `mine` runs where the store's nodes run: the same prefix in the same Redis database (keys of
 * one prefix in db 0 and db 3 are two clusters). Not the host: one Redis is often reached under different names.
 */
export function sameRedisHome(mine: RedisHome | undefined, recorded: RedisHome): boolean {
  if (mine?.prefix !== recorded.prefix) return false;
  const [ours, theirs] = [redisDbOf(mine.address), redisDbOf(recorded.address)];
  return ours === undefined || theirs === undefined || ours === theirs;
}

/**
 * The Redis prefix this PostgreSQL store belongs to: recorded by the first node with Redis that opens it, then
 * answered to every other (which must run on the same prefix, in the same Redis database: src/store-claim.ts).
 * `takeOver`: this node's prefix (and Redis) replaces the recorded one (an operator moving the store to another prefix); for a node without Redis (`mine`
 * undefined) the record is forgotten (the cluster moved off Redis). Under the table's lock, as the id. Undefined: no
 * Redis home recorded (or forgotten now).
 */
export async function postgresRedisHomeOf(
  db: Kysely<Database>,
  mine: RedisHome | undefined,
  takeOver: boolean,
): Promise<RedisHome | undefined> {
  return db.transaction().execute(async (trx) => {
    await sql`LOCK TABLE store_meta IN SHARE ROW EXCLUSIVE MODE`.execute(trx);
    const rows = await trx
      .selectFrom("store_meta")
      .select(["key", "value"])
      .where("key", "in", [REDIS_PREFIX_KEY, REDIS_ADDRESS_KEY])
      .execute();
    const prefix = rows.find((r) => r.key === REDIS_PREFIX_KEY)?.value;
    const recorded =
      prefix === undefined
        ? undefined
        : { prefix, address: rows.find((r) => r.key === REDIS_ADDRESS_KEY)?.value ?? "unknown" };
    if (recorded && (sameRedisHome(mine, recorded) || !takeOver)) return recorded;
    if (!mine) {
      if (prefix !== undefined)
        await trx.deleteFrom("store_meta").where("key", "in", [REDIS_PREFIX_KEY, REDIS_ADDRESS_KEY]).execute();
      return undefined;
    }
    for (const [key, value] of [
      [REDIS_PREFIX_KEY, mine.prefix],
      [REDIS_ADDRESS_KEY, mine.address],
    ] as const) {
      await trx
        .insertInto("store_meta")
        .values({ key, value })
        .onConflict((oc) => oc.column("key").doUpdateSet({ value }))
        .execute();
    }
    return mine;
  });
}
