// Manifests in the shared store: registered on any node, read by every node on each action (no node-local
// copy to go stale, so a suspension or revocation takes effect cluster-wide at once). Every change adds a version
// (content, hash, author, time) in the same transaction, as the embedded store does.
import { randomUUID } from "node:crypto";
import { sha256Canonical } from "../../audit/canonical";
import {
  contentOf,
  deepFreeze,
  InvalidManifestError,
  ManifestConflictError,
  TRANSITIONS,
  toManifest,
  toVersionInfo,
  updateRefusal,
  agentIdRefusal,
  versionRowOf as versionRow,
} from "../../policy/manifest-repository";
import { validateManifest } from "../../policy/manifest-validation";
import type {
  Manifest,
  ManifestChange,
  ManifestInput,
  ManifestStatus,
  ManifestVersion,
  ManifestVersionInfo,
} from "../../policy/types";
import type { Transaction } from "kysely";
import { isSqlite } from "../migrations/dialect";
import type { AnyKysely } from "../postgres";
import type { Database, ManifestsTable } from "../schema";
import { coalescedReads } from "./coalesce";

type ManifestRow = ManifestsTable;

const sameRow = (a: ManifestRow, b: ManifestRow) =>
  a.org_id === b.org_id &&
  a.uapk_id === b.uapk_id &&
  a.status === b.status &&
  Number(a.version) === Number(b.version) &&
  a.updated_at === b.updated_at &&
  a.created_at === b.created_at &&
  a.body === b.body;

export interface SharedManifests {
  register(orgId: string, input: ManifestInput, author?: string): Promise<Manifest>;
  get(orgId: string, manifestId: string): Promise<Manifest | undefined>;
  getByUapkId(orgId: string, uapkId: string): Promise<Manifest | undefined>;
  setStatus(orgId: string, manifestId: string, status: ManifestStatus, author?: string): Promise<Manifest | undefined>;
  /** Replaces the content of a manifest (PUT): see ManifestsService.update. */
  update(orgId: string, manifestId: string, input: ManifestInput, author?: string): Promise<Manifest | undefined>;
  /** GitOps: registers, or replaces the body of the manifest of `uapk_id` (status kept; revoked stays revoked). */
  upsert(orgId: string, input: ManifestInput, author?: string): Promise<Manifest>;
  list(orgId: string, status?: ManifestStatus): Promise<Manifest[]>;
  versions(orgId: string, manifestId: string): Promise<ManifestVersionInfo[] | undefined>;
  version(orgId: string, manifestId: string, version: number): Promise<ManifestVersion | undefined>;
}

export function createSharedManifests(db: AnyKysely, options: { now?: () => Date } = {}): SharedManifests {
  const now = options.now ?? (() => new Date());
  const one = async (orgId: string, column: "manifest_id" | "uapk_id", value: string) => {
    const row = await db
      .selectFrom("manifests")
      .selectAll()
      .where("org_id", "=", orgId)
      .where(column, "=", value)
      .executeTakeFirst();
    return row ? toManifest(row) : undefined;
  };
  const byUapkId = manifestsByUapkId(db);
  const api: SharedManifests = {
    async register(orgId, input, author = "unknown") {
      const problems = validateManifest(input);
      if (problems.length > 0) throw new InvalidManifestError(problems);
      const { manifest_id: chosenId, ...body } = input;
      const at = now().toISOString();
      const row = {
        manifest_id: chosenId ?? randomUUID(),
        org_id: orgId,
        uapk_id: input.uapk_id,
        status: "active" as const,
        body: JSON.stringify(body),
        version: 1,
        created_at: at,
        updated_at: at,
      };
      // The unique keys (per org) decide between two nodes registering the same manifest at once.
      await db.transaction().execute(async (trx) => {
        const inserted = await trx
          .insertInto("manifests")
          .values(row)
          .onConflict((oc) => oc.doNothing())
          .executeTakeFirst();
        if (Number(inserted.numInsertedOrUpdatedRows ?? 0) !== 1) {
          throw new ManifestConflictError(`Manifest '${input.uapk_id}' (or its id) is already registered in this org`);
        }
        await trx
          .insertInto("manifest_versions")
          .values(versionRow(row, "registered", author))
          .execute();
      });
      return toManifest(row);
    },
    get: (orgId, manifestId) => one(orgId, "manifest_id", manifestId),
    getByUapkId: (orgId, uapkId) => byUapkId({ orgId, uapkId }),
    // The row is read and locked inside the transaction that moves it (PostgreSQL `FOR UPDATE`; SQLite writes one
    // transaction at a time), so a move is decided on the status it replaces. Before, a node that lost the race
    // to another node's move answered 200 without moving anything: a suspend racing an activate could leave the
    // manifest active while its operator was told it was suspended.
    setStatus: (orgId, manifestId, status, author = "unknown") =>
      db.transaction().execute(async (trx) => {
        const locked = await lockedRow(trx, orgId, manifestId);
        if (!locked) return undefined;
        const current = toManifest(locked);
        if (current.status === status) return current;
        if (!TRANSITIONS[current.status].includes(status))
          throw new ManifestConflictError(`Manifest is ${current.status}; it cannot become ${status}`);
        const updated = await trx
          .updateTable("manifests")
          .set((eb) => ({ status, updated_at: now().toISOString(), version: eb("version", "+", 1) }))
          .where("org_id", "=", orgId)
          .where("manifest_id", "=", manifestId)
          .returningAll()
          .executeTakeFirstOrThrow();
        const change: ManifestChange = status === "active" ? "activated" : status;
        await trx
          .insertInto("manifest_versions")
          .values(versionRow(updated, change, author))
          .execute();
        return toManifest(updated);
      }),

    async upsert(orgId, input, author = "unknown") {
      const problems = validateManifest(input);
      if (problems.length > 0) throw new InvalidManifestError(problems);
      const existing = await one(orgId, "uapk_id", input.uapk_id);
      if (!existing) {
        try {
          return await api.register(orgId, input, author);
        } catch (err) {
          // Another node loading the same folder registered it first: update that one.
          if (!(err instanceof ManifestConflictError) || !(await one(orgId, "uapk_id", input.uapk_id))) throw err;
          return api.upsert(orgId, input, author);
        }
      }
      if (existing.status === "revoked")
        throw new ManifestConflictError(`Manifest '${input.uapk_id}' is revoked; register it under a new uapk_id`);
      const { manifest_id: chosenId, ...body } = input;
      if (chosenId && chosenId !== existing.manifest_id)
        throw new ManifestConflictError(`Manifest '${input.uapk_id}' already has id '${existing.manifest_id}'`);
      if (sha256Canonical(body) === existing.content_hash) return existing; // unchanged: no new version
      // Decided again on the row locked in the transaction: a revocation committed by another node since the read
      // above is final (before, the new body was written after it, as a version of the revoked manifest); so is the
      // agent.id of the locked row.
      const refusal = (locked: Manifest) =>
        locked.status === "revoked"
          ? new ManifestConflictError(`Manifest '${input.uapk_id}' is revoked; register it under a new uapk_id`)
          : agentIdRefusal(locked, input);
      const updated = await db
        .transaction()
        .execute((trx) =>
          replaceContent(trx, { orgId, manifestId: existing.manifest_id, content: body, author, now }, refusal),
        );
      if (!updated) throw new Error(`manifest '${existing.manifest_id}' vanished while it was updated`);
      return updated;
    },

    // As upsert's write, on the row named by the path: status and refusal decided on the row locked in the transaction.
    async update(orgId, manifestId, input, author = "unknown") {
      const problems = validateManifest(input);
      if (problems.length > 0) throw new InvalidManifestError(problems);
      const change = { orgId, manifestId, content: contentOf(input), author, now };
      return db.transaction().execute((trx) => replaceContent(trx, change, (locked) => updateRefusal(locked, input)));
    },

    async versions(orgId, manifestId) {
      if (!(await one(orgId, "manifest_id", manifestId))) return undefined;
      const rows = await db
        .selectFrom("manifest_versions")
        .selectAll()
        .where("org_id", "=", orgId)
        .where("manifest_id", "=", manifestId)
        .orderBy("version")
        .execute();
      return rows.map(toVersionInfo);
    },

    async version(orgId, manifestId, version) {
      const row = await db
        .selectFrom("manifest_versions")
        .selectAll()
        .where("org_id", "=", orgId)
        .where("manifest_id", "=", manifestId)
        .where("version", "=", version)
        .executeTakeFirst();
      return row && { ...toVersionInfo(row), content: JSON.parse(row.content) as ManifestVersion["content"] };
    },

    async list(orgId, status) {
      let query = db.selectFrom("manifests").selectAll().where("org_id", "=", orgId);
      if (status) query = query.where("status", "=", status);
      const rows = await query.orderBy("created_at").orderBy("uapk_id").execute();
      return rows.map(toManifest);
    },
  };
  return api;
}

/**
 * Writes `content` as the next version of the manifest's row, locked for the transaction (status kept): `refuse` sees
 * the locked row and may refuse; the same content again writes nothing. Undefined when the org has no such manifest.
 */
async function replaceContent(
  trx: Transaction<Database>,
  change: { orgId: string; manifestId: string; content: object; author: string; now: () => Date },
  refuse: (locked: Manifest) => Error | undefined,
): Promise<Manifest | undefined> {
  const { orgId, manifestId, content, author } = change;
  const row = await lockedRow(trx, orgId, manifestId);
  if (!row) return undefined;
  const current = toManifest(row);
  const refusal = refuse(current);
  if (refusal) throw refusal;
  if (sha256Canonical(content) === current.content_hash) return current;
  const updated = await trx
    .updateTable("manifests")
    .set((eb) => ({
      body: JSON.stringify(content),
      updated_at: change.now().toISOString(),
      version: eb("version", "+", 1),
    }))
    .where("org_id", "=", orgId)
    .where("manifest_id", "=", manifestId)
    .returningAll()
    .executeTakeFirstOrThrow();
  await trx
    .insertInto("manifest_versions")
    .values(versionRow(updated, "updated", author))
    .execute();
  return toManifest(updated);
}

/** The manifest's row, locked until the end of `trx` on PostgreSQL (a SQLite transaction already excludes writers). */
function lockedRow(trx: Transaction<Database>, orgId: string, manifestId: string) {
  let query = trx.selectFrom("manifests").selectAll().where("org_id", "=", orgId).where("manifest_id", "=", manifestId);
  if (!isSqlite(trx)) query = query.forUpdate();
  return query.executeTakeFirst();
}

/**
 * The engine reads one manifest per action: those of one turn are one query (./coalesce.ts, never stale), and a
 * row is parsed (and its content hashed) only when it changed. The manifest returned is shared between callers,
 * so it is frozen, as the embedded store's is.
 */
function manifestsByUapkId(db: AnyKysely): (key: { orgId: string; uapkId: string }) => Promise<Manifest | undefined> {
  const parsed = new Map<string, { row: ManifestRow; manifest: Manifest }>();
  const read = coalescedReads<{ orgId: string; uapkId: string }, Manifest>(
    (k) => `${k.orgId}\u0000${k.uapkId}`,
    async (keys) => {
      const rows = (await db
        .selectFrom("manifests")
        .selectAll()
        .where((eb) => eb.or(keys.map((k) => eb.and([eb("org_id", "=", k.orgId), eb("uapk_id", "=", k.uapkId)]))))
        .execute()) as ManifestRow[];
      return new Map(rows.map((row) => [`${row.org_id}\u0000${row.uapk_id}`, parsedManifest(row)]));
    },
  );
  function parsedManifest(row: ManifestRow): Manifest {
    const known = parsed.get(row.manifest_id);
    if (known && sameRow(known.row, row)) return known.manifest;
    const manifest = deepFreeze(toManifest(row));
    // Bounded by the manifests that exist; a deleted or renamed one is simply never hit again.
    parsed.set(row.manifest_id, { row, manifest });
    return manifest;
  }
  return read;
}
