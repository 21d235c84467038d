// The store backend of one gateway node, composed for the faces (part of the composition root, src/server.ts).
//
//   DATABASE_URL=postgres://…  → every face on the shared store (src/core/store/shared): manifests, capability
//                                tokens, budgets, idempotency, approvals, the audit chain, API keys and the
//                                signing keys all in PostgreSQL; several nodes may share it.
//   otherwise                  → the embedded SQLite file and its synchronous stores, exactly as before.
//
// Either way the faces get the same ports (src/core/ports.ts, GovernanceEngine), and the operations built on
// them — shadow replay, evidence bundles, approval notifications (webhooks) — run on both.

import { type Kysely, sql } from "kysely";
import { alignedClock } from "./clock-skew";
import type { Config } from "./config";
import { type ApprovalStore, createApprovalStore } from "./core/approvals";
import { type AuditLog, createAuditLog } from "./core/audit";
import { stepBackToleranceFor } from "./core/audit/verify";
import type { ConnectorRegistry } from "./core/connectors";
import type { EventBus } from "./core/events";
import {
  ActionUnavailableError,
  createGovernanceEngine,
  type GovernanceEngine,
  type SqliteGovernanceEngine,
} from "./core/governance";
import { type BuildEvidence, createEvidenceBuilder } from "./core/governance/evidence";
import type { AuditHistory } from "./core/governance/history";
import { createShadowReplay, type ShadowReplay } from "./core/governance/replay";
import { createSharedGovernanceEngine } from "./core/governance/shared-engine";
import { sqliteAuditHistory } from "./core/governance/sqlite-history";
import { createIdempotencyStore } from "./core/idempotency";
import { createApiKeyStore } from "./core/identity/api-keys";
import { type DevIssuer, loadDevIssuer, loadSharedDevIssuer } from "./core/identity/dev-issuer";
import type { PublicJwk, SigningKeyPurpose } from "./core/keys";
import { logger } from "./core/log/logger";
import { createWebhookStore, type WebhookStore } from "./core/notifications";
import type { WebhookStoreOptions } from "./core/notifications/webhook-store";
import type { GatewayResourceOrgs } from "./core/policy/gateway-resources";
import { loadManifestDir, loadManifestDirInto, type ManifestLoadOptions } from "./core/policy/manifest-loader";
import type { ApiKeysService, ApprovalsService, AuditService } from "./core/ports";
import { migrateToLatest } from "./core/store/migrate";
import { openStore } from "./core/store/open-store";
import { isPostgresUrl } from "./core/store/postgres";
import type { Database } from "./core/store/schema";
import { createSharedApiKeys, createSharedApprovalsService } from "./core/store/shared";
import { createSharedAuditHistory } from "./core/store/shared/audit-history";
import { createSharedWebhookStore } from "./core/store/shared/webhooks";
import { type Db, openDatabase } from "./core/store/sqlite";
import { fileStoreIdOf, postgresRedisHomeOf, postgresStoreIdOf, type RedisHome } from "./core/store/store-id";
import { isDatabaseOutage } from "./core/store/transient-errors";
import { startWalCheckpointer } from "./core/store/wal-checkpointer";
import type { Probe } from "./system/handlers";

export interface NodeStores {
  kind: "sqlite" | "postgres";
  /**
   * The store's id (src/core/store/store-id.ts): the same on every node of one PostgreSQL database, its own for
   * each embedded SQLite file. Nodes on one Redis prefix must share it (src/store-claim.ts).
   */
  storeId: string;
  /** The embedded stores themselves (SQLite only): what is not on the shared store yet builds on them. */
  embedded: EmbeddedStores | undefined;
  /** The embedded SQLite database (undefined on PostgreSQL). */
  db: Db | undefined;
  engine: GovernanceEngine;
  approvals: ApprovalsService;
  audit: AuditService;
  apiKeys: ApiKeysService;
  /** Readiness of the database: "connected" or "disconnected" (never hangs: the pool times out). */
  database: Probe;
  /**
   * The shared database's clock, epoch ms (PostgreSQL only): the one clock every node sees, which this node's is
   * measured against (src/clock-skew.ts). Undefined on SQLite: one node, one clock.
   */
  databaseNow: (() => Promise<number>) | undefined;
  /**
   * The Redis prefix the store belongs to (PostgreSQL only): `mine` recorded when none is (or `takeOver`), else the
   * recorded one, which this node must share (src/store-claim.ts). Undefined on SQLite: one node, its own prefix.
   */
  redisHome: ((mine: RedisHome | undefined, takeOver: boolean) => Promise<RedisHome | undefined>) | undefined;
  /**
   * Aligns the shared stores' clock on the database's by the offset measured (PostgreSQL only: src/clock-skew.ts):
   * leases, expiries and audit timestamps written and compared on one clock on every node.
   */
  alignClock: ((offsetMs: number) => void) | undefined;
  /** Capability-token and audit public keys, each naming its purpose (for /.well-known/jwks.json). */
  publicJwks(): Promise<PublishedJwk[]>;
  /** Shadow replay of a candidate manifest over the recorded actions (reads only). */
  replay: ShadowReplay;
  /** Evidence bundles of one interaction, with the proof from the audit chain. */
  evidence: BuildEvidence;
  /** Webhook subscriptions and the delivery log (secrets sealed by `options.box`). */
  webhooks(options: WebhookStoreOptions): WebhookStore;
  /**
   * The built-in identity provider: its key in the data folder (SQLite), or in the shared store with the other
   * signing keys (PostgreSQL), so every node verifies the tokens another node minted.
   */
  devIssuer(issuer: string, audience: string): Promise<DevIssuer>;
  /** GitOps: the manifests of a folder registered (or updated) for an org. */
  loadManifests(dir: string, orgId: string, options: ManifestLoadOptions): Promise<void>;
  close(): Promise<void>;
}

export interface EmbeddedStores {
  db: Db;
  engine: SqliteGovernanceEngine;
  approvals: ApprovalStore;
  audit: AuditLog;
}

export interface NodeStoresDeps {
  config: Config;
  /** Keyed hashes of API keys (GATEHOUSE_SECRET, or the data folder's generated secret). */
  secret: Buffer;
  events: EventBus;
  /** How often approval waiters re-read the store besides events. */
  recheckMs: number;
  connectors: ConnectorRegistry;
  /** The orgs the gateway's purutos, secrets and private network belong to (PolicyDeps.resourceOrgs). */
  resourceOrgs: GatewayResourceOrgs;
  version: string;
  env: Record<string, string | undefined>;
  /** This node's clock (default Date.now; tests: one ahead), which the shared stores' clock is aligned from. */
  now?: () => number;
}

export async function openNodeStores(deps: NodeStoresDeps): Promise<NodeStores> {
  return isPostgresUrl(deps.config.databaseUrl) ? openPostgresStores(deps) : openSqliteStores(deps);
}

async function openSqliteStores(deps: NodeStoresDeps): Promise<NodeStores> {
  const { config } = deps;
  const db = openDatabase(config.databaseFile);
  // The schema first: every store below assumes its tables exist.
  await migrateToLatest(db);
  const storeId = fileStoreIdOf(db, config.databaseFile);
  const checkpointer = startWalCheckpointer(db, {
    onError: (message) => logger.warn({ err: message }, "WAL checkpoint worker: %s", message),
  });
  // Online before anything else runs: the heap bound is set after this (src/server.ts), and a worker that started
  // later would undo it (src/system/heap.ts).
  await checkpointer?.online;
  const apiKeys = createApiKeyStore(db, {
    secret: deps.secret,
    envKeys: config.apiKeys,
    defaultOrg: config.defaultOrg,
  });
  const approvals = createApprovalStore(db, { events: deps.events, pollIntervalMs: deps.recheckMs });
  // The verifier's step back as on PostgreSQL: an append stamped further before its head is refused (CLOCK_SKEW).
  const audit = createAuditLog(db, { verify: { maxStepBackMs: stepBackToleranceFor(config.maxClockSkewMs) } });
  const history = sqliteAuditHistory(db, audit);
  const engine = createGovernanceEngine({
    db,
    version: deps.version,
    approvals,
    idempotency: createIdempotencyStore(db),
    audit,
    connectors: deps.connectors,
    resourceOrgs: deps.resourceOrgs,
  });
  return {
    kind: "sqlite",
    storeId,
    embedded: { db, engine, approvals, audit },
    db,
    engine,
    approvals,
    audit,
    apiKeys,
    database: async () => (db.prepare("SELECT 1 AS ok").get() ? "connected" : "disconnected"),
    databaseNow: undefined,
    redisHome: undefined,
    alignClock: undefined,
    publicJwks: async () => published(engine.publicJwks().keys, audit.publicJwks().keys),
    ...pastReaders(history, engine, approvals, deps.resourceOrgs),
    webhooks: (options) => createWebhookStore(db, options),
    devIssuer: (issuer, audience) => loadDevIssuer(config.dataDir, issuer, audience),
    loadManifests: async (dir, orgId, options) => void loadManifestDir(dir, engine.manifests, orgId, options),
    async close() {
      approvals.close();
      // Audit appends are group-committed on the next turn of the event loop: let the last group commit.
      await new Promise<void>((ok) => setImmediate(ok));
      await checkpointer?.stop();
      db.close();
    },
  };
}

async function openPostgresStores(deps: NodeStoresDeps): Promise<NodeStores> {
  const { config } = deps;
  const clock = alignedClock(deps.now);
  const store = await openStore({
    databaseUrl: config.databaseUrl,
    databaseFile: config.databaseFile,
    secret: deps.env.GATEHOUSE_SECRET,
    now: clock.now,
    verify: { maxStepBackMs: stepBackToleranceFor(config.maxClockSkewMs) },
  });
  if (store.kind !== "postgres") throw new Error("openStore: a postgres:// URL opened another backend");
  const { shared, kysely } = store;
  const storeId = await postgresStoreIdOf(kysely).catch(async (err) => {
    await store.close();
    throw err;
  });
  const approvals = createSharedApprovalsService({
    db: kysely,
    approvals: shared.approvals,
    audit: shared.audit,
    escalations: shared.escalations,
    events: deps.events,
    pollIntervalMs: deps.recheckMs,
    now: clock.now,
  });
  const engine = createSharedGovernanceEngine({
    stores: shared,
    ping: store.ping,
    connectors: deps.connectors,
    resourceOrgs: deps.resourceOrgs,
    version: deps.version,
    approvals,
    now: clock.now,
  });
  const apiKeys = createSharedApiKeys(kysely, {
    secret: deps.secret,
    envKeys: config.apiKeys,
    defaultOrg: config.defaultOrg,
  });
  // Every face's read or write that fails while the database does not answer is a 503 DATABASE_UNAVAILABLE
  // (src/http/errors.ts), never a 500 — and never an allow.
  const guard = <T extends object>(service: T): T => failClosedOnOutage(service, store.ping);
  const guardedEngine = { ...engine, manifests: guard(engine.manifests), tokens: guard(engine.tokens) };
  const guardedApprovals = guard(approvals);
  return {
    kind: "postgres",
    storeId,
    embedded: undefined,
    db: undefined,
    engine: guardedEngine,
    approvals: guardedApprovals,
    audit: guard(shared.audit),
    apiKeys: guard(apiKeys),
    database: async () => ((await store.ping()) ? "connected" : "disconnected"),
    databaseNow: () => databaseNowOf(kysely),
    redisHome: (mine, takeOver) => postgresRedisHomeOf(kysely, mine, takeOver),
    alignClock: clock.align,
    publicJwks: async () => published((await engine.publicJwks()).keys, (await shared.audit.publicJwks()).keys),
    ...pastReaders(
      guard(createSharedAuditHistory(kysely, shared.audit)),
      guardedEngine,
      guardedApprovals,
      deps.resourceOrgs,
    ),
    webhooks: (options) => guard(createSharedWebhookStore(kysely, options)),
    devIssuer: (issuer, audience) => loadSharedDevIssuer(shared.signingKeys.devIssuer, issuer, audience),
    loadManifests: async (dir, orgId, options) =>
      void (await loadManifestDirInto(dir, shared.manifests, orgId, options)),
    async close() {
      approvals.close();
      // Let a group commit under way finish before the pool goes.
      await new Promise<void>((ok) => setTimeout(ok, 20));
      await store.close();
    },
  };
}

/** Shadow replay and evidence bundles over a backend's history, manifests, tokens and approvals. */
function pastReaders(
  history: AuditHistory,
  engine: Pick<GovernanceEngine, "manifests" | "tokens">,
  approvals: Pick<ApprovalsService, "get">,
  resourceOrgs: GatewayResourceOrgs,
): Pick<NodeStores, "replay" | "evidence"> {
  const { manifests, tokens } = engine;
  return {
    replay: createShadowReplay({ history, manifests, tokens, approvals, resourceOrgs }),
    evidence: createEvidenceBuilder({ audit: history, manifests, tokens, approvals }),
  };
}

/** clock_timestamp(), not now(): the instant the statement reads it, not its transaction's start. */
async function databaseNowOf(db: Kysely<Database>): Promise<number> {
  const { rows } = await sql<{
    ms: number;
  }>`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms`.execute(db);
  const ms = Number(rows[0]?.ms);
  if (!Number.isFinite(ms)) throw new Error("the database did not tell its clock");
  return ms;
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === "object" && value !== null && Symbol.asyncIterator in value;
}

/**
 * The service with every asynchronous failure (of a promise or a stream) re-checked against the database: when it does not answer, the
 * failure becomes ActionUnavailableError("DATABASE_UNAVAILABLE"); otherwise the original error stands.
 */
function failClosedOnOutage<T extends object>(service: T, ping: () => Promise<boolean>): T {
  const translate = async (err: unknown): Promise<never> => {
    if (!(err instanceof ActionUnavailableError) && (await isDatabaseOutage(err, ping)))
      throw new ActionUnavailableError("The database is unavailable: try again later", "DATABASE_UNAVAILABLE");
    throw err;
  };
  // A stream of results (the audit export) fails the same way at whichever page the database went away.
  const guardedStream = async function* (stream: AsyncIterable<unknown>) {
    try {
      yield* stream;
    } catch (err) {
      await translate(err);
    }
  };
  const guarded = (value: unknown) => {
    if (value instanceof Promise) return value.catch(translate);
    if (isAsyncIterable(value)) return guardedStream(value);
    return value;
  };
  return new Proxy(service, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== "function") return guarded(value);
      return (...args: unknown[]) => guarded(value.apply(target, args));
    },
  });
}

/** A published key with what it signs: an offline verifier of the audit trusts only the `audit` ones. */
export type PublishedJwk = PublicJwk & { purpose: SigningKeyPurpose | "user-token" };

function published(tokenKeys: readonly PublicJwk[], auditKeys: readonly PublicJwk[]): PublishedJwk[] {
  return [
    ...tokenKeys.map((key) => ({ ...key, purpose: "capability-token" as const })),
    ...auditKeys.map((key) => ({ ...key, purpose: "audit" as const })),
  ];
}
