// Manifests in the shared store: registered on any node, read by every node on each action (no node-local
// copy to go stale, so a suspension or revocation takes effect cluster-wide at once).
import { randomUUID } from "node:crypto";
import { InvalidManifestError, ManifestConflictError, TRANSITIONS } from "../../policy/manifest-repository";
import { validateManifest } from "../../policy/manifest-validation";
import type { Manifest, ManifestInput, ManifestStatus } from "../../policy/types";
import type { AnyKysely } from "../postgres";

export interface SharedManifests {
  register(orgId: string, input: ManifestInput): Promise<Manifest>;
  get(orgId: string, manifestId: string): Promise<Manifest | undefined>;
  getByUapkId(orgId: string, uapkId: string): Promise<Manifest | undefined>;
  setStatus(orgId: string, manifestId: string, status: ManifestStatus): Promise<Manifest | undefined>;
  /** GitOps: registers, or replaces the body of the manifest of `uapk_id` (status kept; revoked stays revoked). */
  upsert(orgId: string, input: ManifestInput): Promise<Manifest>;
  list(orgId: string, status?: ManifestStatus): Promise<Manifest[]>;
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
  const api: SharedManifests = {
    async register(orgId, input) {
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
        created_at: at,
        updated_at: at,
      };
      // The unique keys decide between two nodes registering the same manifest at once.
      const inserted = await db
        .insertInto("manifests")
        .values(row)
        .onConflict((oc) => oc.doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) !== 1) {
        throw new ManifestConflictError(`Manifest '${input.uapk_id}' (or its id) is already registered`);
      }
      return toManifest(row);
    },
    get: (orgId, manifestId) => one(orgId, "manifest_id", manifestId),
    getByUapkId: (orgId, uapkId) => one(orgId, "uapk_id", uapkId),
    async setStatus(orgId, manifestId, status) {
      const current = await one(orgId, "manifest_id", manifestId);
      if (!current) return undefined;
      if (current.status === status) return current;
      if (!TRANSITIONS[current.status].includes(status))
        throw new ManifestConflictError(`Manifest is ${current.status}; it cannot become ${status}`);
      // Conditional on the status read: two nodes moving it at once cannot resurrect a revoked manifest.
      await db
        .updateTable("manifests")
        .set({ status, updated_at: now().toISOString() })
        .where("org_id", "=", orgId)
        .where("manifest_id", "=", manifestId)
        .where("status", "=", current.status)
        .execute();
      return one(orgId, "manifest_id", manifestId);
    },

    async upsert(orgId, input) {
      const problems = validateManifest(input);
      if (problems.length > 0) throw new InvalidManifestError(problems);
      const existing = await one(orgId, "uapk_id", input.uapk_id);
      if (!existing) {
        try {
          return await api.register(orgId, input);
        } catch (err) {
          // Another node loading the same folder registered it first: update that one.
          if (!(err instanceof ManifestConflictError) || !(await one(orgId, "uapk_id", input.uapk_id))) throw err;
          return api.upsert(orgId, input);
        }
      }
      if (existing.status === "revoked")
        throw new ManifestConflictError(`Manifest '${input.uapk_id}' is revoked; register it under a new uapk_id`);
      const { manifest_id: chosenId, ...body } = input;
      if (chosenId && chosenId !== existing.manifest_id)
        throw new ManifestConflictError(`Manifest '${input.uapk_id}' already has id '${existing.manifest_id}'`);
      await db
        .updateTable("manifests")
        .set({ body: JSON.stringify(body), updated_at: now().toISOString() })
        .where("manifest_id", "=", existing.manifest_id)
        .execute();
      return (await one(orgId, "manifest_id", existing.manifest_id)) as Manifest;
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

// biome-ignore lint/suspicious/noExplicitAny: a row as the driver returns it.
function toManifest(row: any): Manifest {
  const body = JSON.parse(row.body) as ManifestInput;
  return {
    manifest_id: row.manifest_id,
    org_id: row.org_id,
    status: row.status,
    ...body,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}
