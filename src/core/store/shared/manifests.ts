// Manifests in the shared store: registered on any node, read by every node on each action (no node-local
// copy to go stale, so a suspension or revocation takes effect cluster-wide at once). Every change adds a version
// (content, hash, author, time) in the same transaction, as the embedded store does.
import { randomUUID } from "node:crypto";
import { sha256Canonical } from "../../audit/canonical";
import { InvalidManifestError, ManifestConflictError } from "../../policy/manifest-repository";
import { validateManifest } from "../../policy/manifest-validation";
import type { Manifest, ManifestChange, ManifestInput, ManifestStatus } from "../../policy/types";
import type { AnyKysely } from "../postgres";

export interface SharedManifests {
  register(orgId: string, input: ManifestInput, author?: string): Promise<Manifest>;
  get(orgId: string, manifestId: string): Promise<Manifest | undefined>;
  getByUapkId(orgId: string, uapkId: string): Promise<Manifest | undefined>;
  setStatus(orgId: string, manifestId: string, status: ManifestStatus, author?: string): Promise<Manifest | undefined>;
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
  return {
    async register(orgId, input, author = "unknown") {
      const problems = validateManifest(input);
      if (problems.length > 0) throw new InvalidManifestError(problems);
      const { manifest_id: chosenId, ...body } = input;
      const at = now().toISOString();
      const row = {
        manifest_id: chosenId ?? randomUUID(),
        org_id: orgId,
        uapk_id: input.uapk_id,
        status: "active",
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
    getByUapkId: (orgId, uapkId) => one(orgId, "uapk_id", uapkId),
    async setStatus(orgId, manifestId, status, author = "unknown") {
      // Revoked is final: a conditional update, so two nodes cannot resurrect it between read and write. The
      // version number is bumped by the same statement, so two nodes cannot write the same version.
      await db.transaction().execute(async (trx) => {
        const updated = await trx
          .updateTable("manifests")
          .set((eb) => ({ status, updated_at: now().toISOString(), version: eb("version", "+", 1) }))
          .where("org_id", "=", orgId)
          .where("manifest_id", "=", manifestId)
          .where("status", "!=", "revoked")
          .where("status", "!=", status)
          .returningAll()
          .executeTakeFirst();
        if (!updated) return;
        const change: ManifestChange = status === "active" ? "activated" : status;
        await trx
          .insertInto("manifest_versions")
          .values(versionRow(updated, change, author))
          .execute();
      });
      return one(orgId, "manifest_id", manifestId);
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: a row as the driver returns it.
function versionRow(row: any, change: ManifestChange, author: string) {
  return {
    org_id: row.org_id,
    manifest_id: row.manifest_id,
    version: Number(row.version),
    content_hash: sha256Canonical(JSON.parse(row.body)),
    content: row.body,
    status: row.status,
    change,
    author,
    created_at: row.updated_at,
  };
}

// biome-ignore lint/suspicious/noExplicitAny: a row as the driver returns it.
function toManifest(row: any): Manifest {
  const body = JSON.parse(row.body) as ManifestInput;
  return {
    manifest_id: row.manifest_id,
    org_id: row.org_id,
    status: row.status,
    ...body,
    version: Number(row.version),
    content_hash: sha256Canonical(body),
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}
