// Manifests in SQLite. The repository is the ONLY way manifests enter the engine (REST register, the
// GitOps folder loader, tests), so a manifest registered through the API is exactly what the engine reads —
// the original's tests inserted rows by hand and its register path crashed the engine.
import { randomUUID } from "node:crypto";
import type { Db } from "../store/sqlite";
import { validateManifest, type ManifestProblem } from "./manifest-validation";
import type { Manifest, ManifestInput, ManifestStatus } from "./types";

export class InvalidManifestError extends Error {
  constructor(readonly problems: ManifestProblem[]) {
    super(`Invalid manifest (${problems.length} problem${problems.length === 1 ? "" : "s"})`);
    this.name = "InvalidManifestError";
  }
}

export class ManifestConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ManifestConflictError";
  }
}

interface Row {
  manifest_id: string;
  org_id: string;
  uapk_id: string;
  status: ManifestStatus;
  body: string;
  created_at: string;
  updated_at: string;
}

/** Allowed lifecycle moves: revoked is final. */
export const TRANSITIONS: Record<ManifestStatus, ManifestStatus[]> = {
  active: ["suspended", "revoked"],
  suspended: ["active", "revoked"],
  revoked: [],
};

export class ManifestRepository {
  private readonly now: () => Date;
  private readonly byUapkIdStmt;
  /** getByUapkId's parsed manifests by id, reused while their row is unchanged (the engine reads one per action). */
  private readonly parsed = new Map<string, { row: Row; manifest: Manifest }>();

  constructor(
    private readonly db: Db,
    options: { now?: () => Date } = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.byUapkIdStmt = db.prepare<[string, string], Row>(`SELECT * FROM manifests WHERE org_id = ? AND uapk_id = ?`);
  }

  /** Validates and stores a new manifest (status active). The uapk_id must be new in the org. */
  register(orgId: string, input: ManifestInput): Manifest {
    const problems = validateManifest(input);
    if (problems.length > 0) throw new InvalidManifestError(problems);
    if (this.getByUapkId(orgId, input.uapk_id))
      throw new ManifestConflictError(`Manifest '${input.uapk_id}' is already registered in this org`);
    const { manifest_id: chosenId, ...body } = input;
    // Ids are global (a token names a manifest by id alone), so a chosen id must be free in every org.
    if (chosenId && this.db.prepare(`SELECT 1 FROM manifests WHERE manifest_id = ?`).get(chosenId))
      throw new ManifestConflictError(`Manifest id '${chosenId}' is already taken`);
    const at = this.now().toISOString();
    const row: Row = {
      manifest_id: chosenId ?? randomUUID(),
      org_id: orgId,
      uapk_id: input.uapk_id,
      status: "active",
      body: JSON.stringify(body),
      created_at: at,
      updated_at: at,
    };
    this.db
      .prepare(
        `INSERT INTO manifests (manifest_id, org_id, uapk_id, status, body, created_at, updated_at)
         VALUES (@manifest_id, @org_id, @uapk_id, @status, @body, @created_at, @updated_at)`,
      )
      .run(row);
    return toManifest(row);
  }

  /**
   * GitOps: create or replace the manifest of `uapk_id` from a file. The body is replaced; the lifecycle
   * status is kept (a suspended manifest stays suspended when its file changes), and a revoked one is not
   * resurrected by a file.
   */
  upsert(orgId: string, input: ManifestInput): Manifest {
    const problems = validateManifest(input);
    if (problems.length > 0) throw new InvalidManifestError(problems);
    const existing = this.getByUapkId(orgId, input.uapk_id);
    if (!existing) return this.register(orgId, input);
    if (existing.status === "revoked")
      throw new ManifestConflictError(`Manifest '${input.uapk_id}' is revoked; register it under a new uapk_id`);
    const { manifest_id: chosenId, ...body } = input;
    if (chosenId && chosenId !== existing.manifest_id)
      throw new ManifestConflictError(`Manifest '${input.uapk_id}' already has id '${existing.manifest_id}'`);
    const at = this.now().toISOString();
    this.db
      .prepare(`UPDATE manifests SET body = ?, updated_at = ? WHERE manifest_id = ?`)
      .run(JSON.stringify(body), at, existing.manifest_id);
    return this.get(orgId, existing.manifest_id)!;
  }

  get(orgId: string, manifestId: string): Manifest | undefined {
    const row = this.db
      .prepare(`SELECT * FROM manifests WHERE org_id = ? AND manifest_id = ?`)
      .get(orgId, manifestId) as Row | undefined;
    return row && toManifest(row);
  }

  /**
   * The row is read every time (another process may have changed it), but parsed only when it changed. The
   * manifest returned is shared between callers, so it is frozen: nobody can alter what the next request reads.
   */
  getByUapkId(orgId: string, uapkId: string): Manifest | undefined {
    const row = this.byUapkIdStmt.get(orgId, uapkId);
    if (!row) return undefined;
    const cached = this.parsed.get(row.manifest_id);
    if (cached && sameRow(cached.row, row)) return cached.manifest;
    const manifest = deepFreeze(toManifest(row));
    // Bounded by the manifests that exist; a deleted or renamed one is simply never hit again.
    this.parsed.set(row.manifest_id, { row, manifest });
    return manifest;
  }

  list(orgId: string, status?: ManifestStatus): Manifest[] {
    const rows = (
      status
        ? this.db
            .prepare(`SELECT * FROM manifests WHERE org_id = ? AND status = ? ORDER BY created_at, uapk_id`)
            .all(orgId, status)
        : this.db.prepare(`SELECT * FROM manifests WHERE org_id = ? ORDER BY created_at, uapk_id`).all(orgId)
    ) as Row[];
    return rows.map(toManifest);
  }

  /** Moves a manifest along its lifecycle; undefined when it does not exist, conflict on a forbidden move. */
  setStatus(orgId: string, manifestId: string, status: ManifestStatus): Manifest | undefined {
    const current = this.get(orgId, manifestId);
    if (!current) return undefined;
    if (current.status === status) return current;
    if (!TRANSITIONS[current.status].includes(status))
      throw new ManifestConflictError(`Manifest is ${current.status}; it cannot become ${status}`);
    this.db
      .prepare(`UPDATE manifests SET status = ?, updated_at = ? WHERE manifest_id = ?`)
      .run(status, this.now().toISOString(), manifestId);
    return this.get(orgId, manifestId);
  }
}

function sameRow(a: Row, b: Row): boolean {
  return (
    a.org_id === b.org_id &&
    a.uapk_id === b.uapk_id &&
    a.status === b.status &&
    a.updated_at === b.updated_at &&
    a.created_at === b.created_at &&
    a.body === b.body
  );
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

function toManifest(row: Row): Manifest {
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
