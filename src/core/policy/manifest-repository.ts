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
import type { ManifestsTable, ManifestVersionsTable } from "../store/schema";
import { compiledQuery, paramsOf, sqliteBuilder, sqliteQuery } from "../store/sqlite-query";
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

type Row = ManifestsTable;
type VersionRow = ManifestVersionsTable;
type Key = { org_id: string; manifest_id: string };

/** Who changed a manifest when nobody says (direct calls in tests and tools). */
const UNKNOWN_AUTHOR = "unknown";

/** Allowed lifecycle moves: revoked is final. */
export const TRANSITIONS: Record<ManifestStatus, ManifestStatus[]> = {
  active: ["suspended", "revoked"],
  suspended: ["active", "revoked"],
  revoked: [],
};

/**
 * Why `input` may not give `current` another agent (a PUT or the GitOps folder), or undefined. The hourly budget is
 * counted per (uapk_id, agent.id), a capability token is verified against the request's agent_id, and an agent's
 * history and rate limit are keyed by it: a new agent.id would start this hour's budget again at zero and could make
 * valid a token issued for another agent. Compared exactly: another case or a look-alike is another agent.
 */
export function agentIdRefusal(current: Manifest, input: ManifestInput): ManifestConflictError | undefined {
  if (input.agent.id === current.agent.id) return undefined;
  return new ManifestConflictError(
    `Manifest '${current.manifest_id}' is agent.id '${current.agent.id}'; an agent.id never changes (register a new manifest)`,
  );
}

/**
 * Why `current` may not take the content `input` (an update: PUT or the GitOps folder), or undefined. Decided on the
 * row as it is locked for the write. Revoked is final; the uapk_id never changes, since agents name the manifest by
 * it and its budgets, tokens and history are keyed by it; nor does agent.id (agentIdRefusal).
 */
export function updateRefusal(current: Manifest, input: ManifestInput): ManifestConflictError | undefined {
  if (current.status === "revoked")
    return new ManifestConflictError(
      `Manifest '${current.manifest_id}' is revoked; its content cannot change (register a new manifest)`,
    );
  if (input.uapk_id !== current.uapk_id)
    return new ManifestConflictError(
      `Manifest '${current.manifest_id}' is uapk_id '${current.uapk_id}'; a uapk_id never changes (register a new manifest)`,
    );
  return agentIdRefusal(current, input);
}

/** The content a manifest input stores (everything but its `manifest_id`, which names the row). */
export function contentOf(input: ManifestInput): Omit<ManifestInput, "manifest_id"> {
  const { manifest_id: _id, ...content } = input;
  return content;
}

export class ManifestRepository {
  private readonly now: () => Date;
  private readonly byUapkIdStmt;
  private readonly byIdStmt;
  private readonly insertStmt;
  private readonly updateStmt;
  private readonly versionsStmt;
  private readonly versionStmt;
  private readonly addVersionStmt;
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
    this.byUapkIdStmt = sqliteQuery(db, (b, $: { org_id: string; uapk_id: string }) =>
      b.selectFrom("manifests").selectAll().where("org_id", "=", $.org_id).where("uapk_id", "=", $.uapk_id),
    );
    this.byIdStmt = sqliteQuery(db, (b, $: Key) =>
      b.selectFrom("manifests").selectAll().where("org_id", "=", $.org_id).where("manifest_id", "=", $.manifest_id),
    );
    this.insertStmt = sqliteQuery(db, (b, $: Row) => b.insertInto("manifests").values(paramsOf($, MANIFEST_COLUMNS)));
    this.updateStmt = sqliteQuery(db, (b, $: Row) =>
      b
        .updateTable("manifests")
        .set({ body: $.body, status: $.status, version: $.version, updated_at: $.updated_at })
        .where("org_id", "=", $.org_id)
        .where("manifest_id", "=", $.manifest_id),
    );
    const versionsOf = (b: typeof sqliteBuilder, $: Key) =>
      b
        .selectFrom("manifest_versions")
        .selectAll()
        .where("org_id", "=", $.org_id)
        .where("manifest_id", "=", $.manifest_id);
    this.versionsStmt = sqliteQuery(db, (b, $: Key) => versionsOf(b, $).orderBy("version"));
    this.versionStmt = sqliteQuery(db, (b, $: Key & { version: number }) =>
      versionsOf(b, $).where("version", "=", $.version),
    );
    this.addVersionStmt = sqliteQuery(db, (b, $: VersionRow) =>
      b.insertInto("manifest_versions").values(paramsOf($, VERSION_COLUMNS)),
    );
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
      this.insertStmt.run(row);
      this.addVersionStmt.run(versionRowOf(row, "registered", author));
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
    const otherAgent = agentIdRefusal(existing, input);
    if (otherAgent) throw otherAgent;
    // The same content again (a restart re-reading the folder) is not a change: no new version.
    if (sha256Canonical(body) === existing.content_hash) return existing;
    this.change(orgId, existing.manifest_id, { body: JSON.stringify(body) }, "updated", author);
    return this.get(orgId, existing.manifest_id)!;
  }

  /** Replaces a manifest's content (a new version, status kept); undefined when the org has no such manifest. */
  update(
    orgId: string,
    manifestId: string,
    input: ManifestInput,
    author: string = UNKNOWN_AUTHOR,
  ): Manifest | undefined {
    const problems = validateManifest(input);
    if (problems.length > 0) throw new InvalidManifestError(problems);
    if (!this.get(orgId, manifestId)) return undefined;
    const content = contentOf(input);
    this.change(orgId, manifestId, { body: JSON.stringify(content) }, "updated", author, (current) => {
      const refusal = updateRefusal(current, input);
      if (refusal) throw refusal;
      // The same content again is not a change: no new version.
      return sha256Canonical(content) !== current.content_hash;
    });
    return this.get(orgId, manifestId);
  }

  get(orgId: string, manifestId: string): Manifest | undefined {
    const row = this.byIdStmt.get({ org_id: orgId, manifest_id: manifestId });
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
    const row = this.byUapkIdStmt.get({ org_id: orgId, uapk_id: uapkId });
    if (!row) return undefined;
    const manifest = deepFreeze(toManifest(row));
    // A read inside an open transaction may see a change that is then rolled back: not kept.
    if (!this.db.inTransaction) this.byUapkId.set(key, manifest);
    return manifest;
  }

  list(orgId: string, status?: ManifestStatus): Manifest[] {
    let query = sqliteBuilder.selectFrom("manifests").selectAll().where("org_id", "=", orgId);
    if (status) query = query.where("status", "=", status);
    return compiledQuery(this.db, query.orderBy("created_at").orderBy("uapk_id")).all().map(toManifest);
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
    return this.versionsStmt.all({ org_id: orgId, manifest_id: manifestId }).map(toVersionInfo);
  }

  /** One version with its content. */
  version(orgId: string, manifestId: string, version: number): ManifestVersion | undefined {
    const row = this.versionStmt.get({ org_id: orgId, manifest_id: manifestId, version });
    return row && { ...toVersionInfo(row), content: JSON.parse(row.content) as ManifestVersion["content"] };
  }

  /**
   * Applies a change to the row and records it as the next version, in one transaction. `decide` sees the row as the
   * transaction read it: it throws to refuse the change, or answers false when there is nothing to write.
   */
  private change(
    orgId: string,
    manifestId: string,
    set: { body?: string; status?: ManifestStatus },
    change: ManifestChange,
    author: string,
    decide: (current: Manifest) => boolean = () => true,
  ): void {
    this.db.transaction(() => {
      const row = this.byIdStmt.get({ org_id: orgId, manifest_id: manifestId });
      if (!row || !decide(toManifest(row))) return;
      const next: Row = {
        ...row,
        ...(set.body !== undefined ? { body: set.body } : {}),
        ...(set.status !== undefined ? { status: set.status } : {}),
        version: row.version + 1,
        updated_at: this.now().toISOString(),
      };
      this.updateStmt.run(next);
      this.addVersionStmt.run(versionRowOf(next, change, author));
    })();
    this.byUapkId.clear();
  }
}

const MANIFEST_COLUMNS = [
  "manifest_id",
  "org_id",
  "uapk_id",
  "status",
  "body",
  "version",
  "created_at",
  "updated_at",
] as const satisfies readonly (keyof Row)[];
const VERSION_COLUMNS = [
  "org_id",
  "manifest_id",
  "version",
  "content_hash",
  "content",
  "status",
  "change",
  "author",
  "created_at",
] as const satisfies readonly (keyof VersionRow)[];

/** The version a change of the manifest's row records (both backends): content, its hash, who, when. */
export function versionRowOf(row: Row, change: ManifestChange, author: string): VersionRow {
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

/** A version without its content (both backends). */
export function toVersionInfo(row: VersionRow): ManifestVersionInfo {
  return {
    manifest_id: row.manifest_id,
    version: Number(row.version),
    content_hash: row.content_hash,
    status: row.status,
    change: row.change as ManifestChange,
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

/** A stored row as the manifest the engine reads (both backends). */
export function toManifest(row: Row): Manifest {
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
