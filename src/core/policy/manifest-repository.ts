// Manifests in SQLite. The repository is the ONLY way manifests enter the engine (REST register, the
// GitOps folder loader, tests), so a manifest registered through the API is exactly what the engine reads —
// the original's tests inserted rows by hand and its register path crashed the engine.
//
// Every change (registration, a new body, a status change) adds a row to `manifest_versions` in the same
// transaction, with the content, its hash, the author and the time: a decision records the version it used, and
// that version's content can always be fetched again. Ids are per org (migration 0003): another org's id is
// simply not found here, and may be chosen again.
import { randomUUID } from "node:crypto";
import { sha256Canonical } from "../audit/canonical";
import type { Db } from "../store/sqlite";
import { validateManifest, type ManifestProblem } from "./manifest-validation";
import type {
  Manifest,
  ManifestChange,
  ManifestInput,
  ManifestStatus,
  ManifestVersion,
  ManifestVersionInfo,
} from "./types";

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
  version: number;
  created_at: string;
  updated_at: string;
}

interface VersionRow {
  org_id: string;
  manifest_id: string;
  version: number;
  content_hash: string;
  content: string;
  status: ManifestStatus;
  change: ManifestChange;
  author: string;
  created_at: string;
}

/** Who changed a manifest when nobody says (direct calls in tests and tools). */
const UNKNOWN_AUTHOR = "unknown";

/** Allowed lifecycle moves: revoked is final. */
export const TRANSITIONS: Record<ManifestStatus, ManifestStatus[]> = {
  active: ["suspended", "revoked"],
  suspended: ["active", "revoked"],
  revoked: [],
};

export class ManifestRepository {
  private readonly now: () => Date;
  private readonly byUapkIdStmt;
  /**
   * getByUapkId's answers by org and uapk_id: the engine reads one per action, and a row read + compare was a large
   * share of a decision's time. Exact because this repository is the only writer of `manifests` on the embedded
   * store (one server per data directory, see data-dir-lock.ts; the CLI changes manifests through the API): every
   * write below clears it before it returns. Only manifests that exist are kept (a miss is not cached, so unknown
   * ids sent by an agent cannot grow it).
   */
  private readonly byUapkId = new Map<string, Manifest>();

  constructor(
    private readonly db: Db,
    options: { now?: () => Date } = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.byUapkIdStmt = db.prepare<[string, string], Row>(`SELECT * FROM manifests WHERE org_id = ? AND uapk_id = ?`);
  }

  /** Validates and stores a new manifest (status active), as its version 1. The uapk_id must be new in the org. */
  register(orgId: string, input: ManifestInput, author: string = UNKNOWN_AUTHOR): Manifest {
    const problems = validateManifest(input);
    if (problems.length > 0) throw new InvalidManifestError(problems);
    if (this.getByUapkId(orgId, input.uapk_id))
      throw new ManifestConflictError(`Manifest '${input.uapk_id}' is already registered in this org`);
    const { manifest_id: chosenId, ...body } = input;
    // Ids are per org: only this org's manifests can make a chosen id conflict (no squatting across orgs).
    if (chosenId && this.get(orgId, chosenId))
      throw new ManifestConflictError(`Manifest id '${chosenId}' is already taken in this org`);
    const at = this.now().toISOString();
    const row: Row = {
      manifest_id: chosenId ?? randomUUID(),
      org_id: orgId,
      uapk_id: input.uapk_id,
      status: "active",
      body: JSON.stringify(body),
      version: 1,
      created_at: at,
      updated_at: at,
    };
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO manifests (manifest_id, org_id, uapk_id, status, body, version, created_at, updated_at)
           VALUES (@manifest_id, @org_id, @uapk_id, @status, @body, @version, @created_at, @updated_at)`,
        )
        .run(row);
      this.addVersion(row, "registered", author);
    })();
    this.byUapkId.clear();
    return toManifest(row);
  }

  /**
   * GitOps: create or replace the manifest of `uapk_id` from a file. The body is replaced; the lifecycle
   * status is kept (a suspended manifest stays suspended when its file changes), and a revoked one is not
   * resurrected by a file.
   */
  upsert(orgId: string, input: ManifestInput, author: string = UNKNOWN_AUTHOR): Manifest {
    const problems = validateManifest(input);
    if (problems.length > 0) throw new InvalidManifestError(problems);
    const existing = this.getByUapkId(orgId, input.uapk_id);
    if (!existing) return this.register(orgId, input, author);
    if (existing.status === "revoked")
      throw new ManifestConflictError(`Manifest '${input.uapk_id}' is revoked; register it under a new uapk_id`);
    const { manifest_id: chosenId, ...body } = input;
    if (chosenId && chosenId !== existing.manifest_id)
      throw new ManifestConflictError(`Manifest '${input.uapk_id}' already has id '${existing.manifest_id}'`);
    // The same content again (a restart re-reading the folder) is not a change: no new version.
    if (sha256Canonical(body) === existing.content_hash) return existing;
    this.change(orgId, existing.manifest_id, { body: JSON.stringify(body) }, "updated", author);
    return this.get(orgId, existing.manifest_id)!;
  }

  get(orgId: string, manifestId: string): Manifest | undefined {
    const row = this.db
      .prepare(`SELECT * FROM manifests WHERE org_id = ? AND manifest_id = ?`)
      .get(orgId, manifestId) as Row | undefined;
    return row && toManifest(row);
  }

  /**
   * The manifest is shared between callers (cached, see `byUapkId`), so it is frozen: nobody can alter what the
   * next request reads.
   */
  getByUapkId(orgId: string, uapkId: string): Manifest | undefined {
    const key = `${orgId}\u0000${uapkId}`;
    const cached = this.byUapkId.get(key);
    if (cached) return cached;
    const row = this.byUapkIdStmt.get(orgId, uapkId);
    if (!row) return undefined;
    const manifest = deepFreeze(toManifest(row));
    // A read inside an open transaction may see a change that is then rolled back: not kept.
    if (!this.db.inTransaction) this.byUapkId.set(key, manifest);
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

  /** Moves a manifest along its lifecycle (a new version); undefined when it does not exist, conflict on a forbidden move. */
  setStatus(
    orgId: string,
    manifestId: string,
    status: ManifestStatus,
    author: string = UNKNOWN_AUTHOR,
  ): Manifest | undefined {
    const current = this.get(orgId, manifestId);
    if (!current) return undefined;
    if (current.status === status) return current;
    if (!TRANSITIONS[current.status].includes(status))
      throw new ManifestConflictError(`Manifest is ${current.status}; it cannot become ${status}`);
    const change: ManifestChange = status === "active" ? "activated" : status;
    this.change(orgId, manifestId, { status }, change, author);
    return this.get(orgId, manifestId);
  }

  /** Versions of a manifest, oldest first (undefined when the org has no such manifest). */
  versions(orgId: string, manifestId: string): ManifestVersionInfo[] | undefined {
    if (!this.get(orgId, manifestId)) return undefined;
    return this.db
      .prepare<[string, string], VersionRow>(
        `SELECT * FROM manifest_versions WHERE org_id = ? AND manifest_id = ? ORDER BY version`,
      )
      .all(orgId, manifestId)
      .map(toVersionInfo);
  }

  /** One version with its content. */
  version(orgId: string, manifestId: string, version: number): ManifestVersion | undefined {
    const row = this.db
      .prepare<[string, string, number], VersionRow>(
        `SELECT * FROM manifest_versions WHERE org_id = ? AND manifest_id = ? AND version = ?`,
      )
      .get(orgId, manifestId, version);
    return row && { ...toVersionInfo(row), content: JSON.parse(row.content) as ManifestVersion["content"] };
  }

  /** Applies a change to the row and records it as the next version, in one transaction. */
  private change(
    orgId: string,
    manifestId: string,
    set: { body?: string; status?: ManifestStatus },
    change: ManifestChange,
    author: string,
  ): void {
    this.db.transaction(() => {
      const row = this.db
        .prepare<[string, string], Row>(`SELECT * FROM manifests WHERE org_id = ? AND manifest_id = ?`)
        .get(orgId, manifestId);
      if (!row) return;
      const next: Row = {
        ...row,
        ...(set.body !== undefined ? { body: set.body } : {}),
        ...(set.status !== undefined ? { status: set.status } : {}),
        version: row.version + 1,
        updated_at: this.now().toISOString(),
      };
      this.db
        .prepare(
          `UPDATE manifests SET body = @body, status = @status, version = @version, updated_at = @updated_at
           WHERE org_id = @org_id AND manifest_id = @manifest_id`,
        )
        .run(next);
      this.addVersion(next, change, author);
    })();
    this.byUapkId.clear();
  }

  private addVersion(row: Row, change: ManifestChange, author: string): void {
    this.db
      .prepare(
        `INSERT INTO manifest_versions (org_id, manifest_id, version, content_hash, content, status, change, author, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        row.org_id,
        row.manifest_id,
        row.version,
        sha256Canonical(JSON.parse(row.body)),
        row.body,
        row.status,
        change,
        author,
        row.updated_at,
      );
  }
}

function toVersionInfo(row: VersionRow): ManifestVersionInfo {
  return {
    manifest_id: row.manifest_id,
    version: row.version,
    content_hash: row.content_hash,
    status: row.status,
    change: row.change,
    author: row.author,
    created_at: row.created_at,
  };
}

/** Freezes a value and everything in it (a manifest shared between requests). */
export function deepFreeze<T>(value: T): T {
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
    version: row.version,
    content_hash: sha256Canonical(body),
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}
