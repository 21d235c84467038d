// Composition root: config → store → identity → faces → one HTTP server (REST + WebSocket upgrade).
// `startGatehouse` is what `make run`, the tests and the contract replay all start.

import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import { Redis } from "ioredis";
import { type ClockSkewGuard, guardClockSkew, refuseWhileSkewed } from "./clock-skew";
import { type Config, DOT_ENV_FILE } from "./config";
import { pendingOnChannel } from "./core/approvals";
import { createConnectors, secretsFromEnvironment } from "./core/connectors";
import { createMemoryEventBus, createRedisEventBus, type EventBus } from "./core/events";
import { purutoInvokerFrom } from "./core/governance";
import { approvalRefusalRecorder } from "./core/governance/approval-audit-listener";
import type { DevIssuer } from "./core/identity/dev-issuer";
import { createUserTokenVerifier } from "./core/identity/user-tokens";
import { type Logger, logger as rootLogger } from "./core/log/logger";
import { createWebhookNotifier, type WebhookConfig, webhookConfigFromEnv } from "./core/notifications";
import type { ApiKeysService, ApprovalsService, AuditService } from "./core/ports";
import { isPostgresUrl } from "./core/store/postgres";
import { secretBox } from "./core/store/shared/secret-box";
import type { Db } from "./core/store/sqlite";
import { sameRedisHome } from "./core/store/store-id";
import { actionsHandlers } from "./faces/actions/handlers";
import {
  type ApprovalEvents,
  consoleHandlers,
  consoleOidcFromEnv,
  createApprovalEvents,
  loadConsoleAssets,
} from "./faces/console";
import {
  type AmountBounds,
  type BodyValidator,
  createMcpFace,
  type McpFace,
  mcpOptionsFromEnv,
  type PurutoCommands,
} from "./faces/mcp";
import { oversightHandlers } from "./faces/oversight/handlers";
import { webhookHandlers } from "./faces/oversight/webhooks";
import { CommandsBusyError } from "./faces/purutos/command-slots";
import { purutosConfigFromEnv } from "./faces/purutos/config";
import type { Discovery } from "./faces/purutos/discovery";
import { createDiscovery, withoutPaths } from "./faces/purutos/discovery";
import { purutosHandlers } from "./faces/purutos/handlers";
import { CommandNotAllowedError, createInvoker, type Invoker, PurutoNotFoundError } from "./faces/purutos/invoker";
import { purutosGuard } from "./faces/purutos/org";
import { hiddenPaths } from "./faces/purutos/runner";
import {
  attachSessionGateway,
  cancelLeftoverApprovals,
  createGovernedTools,
  SESSION_CHANNEL,
  type SessionGateway,
} from "./faces/sessions";
import { sessionsConfigFromEnv } from "./faces/sessions/config";
import { createApp } from "./http/app";
import { type Authenticator, createAuthenticator, type VerifyUserToken } from "./http/auth";
import { requestHostRefusal } from "./http/boundary";
import { announceChanges } from "./http/change-events";
import { answerClientErrors } from "./http/errors";
import type { Handlers } from "./http/handlers";
import { createRestRateLimiter, type RestRateLimiter, restRateLimitConfigFromEnv } from "./http/rate-limit";
import { describeErrors, type LoadedSpec, loadSpec } from "./http/spec";
import { approvalRenderer } from "./http/wire-models";
import { type EmbeddedStores, type NodeStores, openNodeStores } from "./node-stores";
import {
  claimStore,
  noRedisConflict,
  prefixConflict,
  redisAddressOf,
  refuseWhileInConflict,
  type StoreClaim,
} from "./store-claim";
import { type DocsRenderer, docsDirFromEnv, docsHandlers, docsPages } from "./system/docs-pages";
import { type Probe, systemHandlers, UP_STATES } from "./system/handlers";
import { boundHeapGrowth, keepShortLivedObjectsYoung } from "./system/heap";
import { createLifecycle, type Lifecycle, probeHandlers, trackInFlight } from "./system/lifecycle";

export interface Readiness {
  ready: boolean;
  checks: Record<string, string>;
}

export const VERSION: string = JSON.parse(
  readFileSync(resolve(import.meta.dirname, "../package.json"), "utf8"),
).version;
export const ASYNCAPI_FILE = resolve(import.meta.dirname, "../spec/sessions.asyncapi.yaml");

export interface Gatehouse {
  url: string;
  server: Server;
  /** The embedded SQLite database; undefined when DATABASE_URL selects PostgreSQL. */
  db: Db | undefined;
  /** "sqlite" (embedded default) or "postgres" (DATABASE_URL: several nodes may share it). */
  store: "sqlite" | "postgres";
  apiKeys: ApiKeysService;
  /** The one approvals store and audit log every face uses (tests seed and inspect them directly). */
  approvals: ApprovalsService;
  audit: AuditService;
  /** The embedded stores themselves (SQLite only; undefined on PostgreSQL). */
  embedded: EmbeddedStores | undefined;
  /**
   * Readiness of what this node needs to serve governed operations: the database and, with REDIS_URL, Redis
   * (commands and the event bus). A load balancer takes a node that is not ready out of rotation.
   */
  readiness(): Promise<Readiness>;
  /** The built-in identity provider (embedded default only; undefined with JWKS_URL). */
  devIssuer?: DevIssuer | undefined;
  /** starting → ready → draining, as `/readyz` reports it. */
  lifecycle: Lifecycle;
  /**
   * Graceful stop (SIGTERM): readiness turns false, no new connections, WS sessions close with 1012,
   * in-flight requests get up to `config.shutdownTimeoutMs`, pending audit appends are committed, then
   * every store closes.
   */
  close(): Promise<void>;
}

/**
 * A per-installation secret for keyed hashes and sealed webhook secrets; GATEHOUSE_SECRET overrides the generated
 * file (and is what several nodes on PostgreSQL share).
 */
function installationSecret(dataDir: string, env: Record<string, string | undefined>): Buffer {
  if (env.GATEHOUSE_SECRET) return Buffer.from(env.GATEHOUSE_SECRET, "utf8");
  const file = join(dataDir, "secret");
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, randomBytes(32).toString("base64"), { mode: 0o600 });
  }
  return Buffer.from(readFileSync(file, "utf8"), "base64");
}

/** GATEHOUSE_APPROVAL_RECHECK_MS: how often approval waiters re-read the store besides events (default 1000). */
function approvalRecheckMs(env: Record<string, string | undefined>): number {
  const raw = env.GATEHOUSE_APPROVAL_RECHECK_MS;
  if (raw === undefined || raw === "") return 1000;
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < 10)
    throw new Error(`GATEHOUSE_APPROVAL_RECHECK_MS must be an integer ≥ 10, got '${raw}'`);
  return Number(raw);
}

/** Ready when every probe answers a ready state; a probe that throws counts as "unavailable". */
export async function readinessOf(probes: Record<string, Probe>): Promise<Readiness> {
  const entries = await Promise.all(
    Object.entries(probes).map(async ([name, probe]) => [name, await probe().catch(() => "unavailable")] as const),
  );
  const checks = Object.fromEntries(entries);
  return { ready: entries.every(([, state]) => UP_STATES.has(state)), checks };
}

function userTokenVerifier(config: Config, devIssuer: DevIssuer | undefined): VerifyUserToken {
  return createUserTokenVerifier({
    jwksUrl: config.jwksUrl,
    localJwks: devIssuer ? () => ({ keys: [devIssuer.publicJwk()] }) : undefined,
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    cacheMaxAgeMs: config.jwksCacheTtlSeconds * 1000,
  });
}

/** The spec's request-body validator of one REST operation, for a door that is not a spec route (MCP). */
function bodyValidatorOf(spec: LoadedSpec, operationId: string): BodyValidator {
  const validate = spec.operations.find((op) => op.operationId === operationId)?.validateBody;
  if (!validate) throw new Error(`The spec has no body schema for ${operationId}`);
  return (body) => (validate(body) ? undefined : describeErrors("body", validate.errors));
}

/** The bounds the spec's Action schema puts on `amount`: the MCP tools' input schemas state REST's own. */
function actionAmountBoundsOf(spec: LoadedSpec): AmountBounds {
  type Schema = { properties?: Record<string, { minimum?: unknown; maximum?: unknown }> };
  const schemas = (spec.document.components as { schemas?: Record<string, Schema> } | undefined)?.schemas;
  const amount = schemas?.Action?.properties?.amount;
  if (typeof amount?.minimum !== "number" || typeof amount.maximum !== "number")
    throw new Error("The spec's Action schema has no numeric bounds on amount");
  return { minimum: amount.minimum, maximum: amount.maximum };
}

/** The discovery face's purutos and invoker as the MCP face's port (a face never imports another face). */
function purutoCommandsOf(discovery: Discovery, invoker: Invoker): PurutoCommands {
  return {
    async list() {
      return (await discovery.list()).map((p) => ({
        name: p.name,
        ...(p.description ? { description: p.description } : {}),
        commands: p.commands.map((name) => {
          const description = p.skills.find((s) => s.command === name)?.description;
          return { name, ...(description ? { description } : {}) };
        }),
      }));
    },
    async invoke(request) {
      try {
        return { ok: true, invocation: (await invoker.invoke(request)).invocation };
      } catch (err) {
        if (
          err instanceof PurutoNotFoundError ||
          err instanceof CommandNotAllowedError ||
          err instanceof CommandsBusyError
        )
          return { ok: false, code: err.code, message: err.message };
        throw err;
      }
    },
  };
}

/** Face configuration, read from the environment before anything starts. */
function faceConfigFromEnv(env: Record<string, string | undefined>) {
  return {
    purutos: purutosConfigFromEnv(env, process.cwd()),
    sessions: sessionsConfigFromEnv(env),
    mcp: mcpOptionsFromEnv(env),
    recheckMs: approvalRecheckMs(env),
    restRateLimits: restRateLimitConfigFromEnv(env),
    webhooks: webhookConfigFromEnv(env),
    consoleOidc: consoleOidcFromEnv(env),
    docsDir: docsDirFromEnv(env),
  };
}
type FaceConfig = ReturnType<typeof faceConfigFromEnv>;

/**
 * People's identity: the built-in development issuer (no JWKS_URL), its key where the node's store keeps signing
 * keys (shared by every node on PostgreSQL), and the token verifier. Runs after the stores open; a failure closes
 * what is already open (the stores, the event bus, Redis).
 */
async function openIdentity(
  config: Config,
  stores: NodeStores,
  bus: { redis: Redis | undefined; events: EventBus },
): Promise<{ devIssuer: DevIssuer | undefined; verify: VerifyUserToken }> {
  const devIssuer = config.jwksUrl
    ? undefined
    : await stores.devIssuer(config.jwtIssuer, config.jwtAudience).catch(async (err) => {
        await stores.close();
        await bus.events.close().catch(() => {});
        bus.redis?.disconnect();
        throw err;
      });
  return { devIssuer, verify: userTokenVerifier(config, devIssuer) };
}

/** Redis (when REDIS_URL is set) and the event bus between nodes. */
async function connectNodeBus(
  config: Config,
  logger: Logger,
  redisPrefix: string,
): Promise<{ redis: Redis | undefined; events: EventBus }> {
  // Shared state across gateway nodes (rate limits, sessions) when REDIS_URL is set.
  const redis = config.redisUrl
    ? new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false })
    : undefined;
  if (redis) {
    // Without a listener ioredis reports every failed reconnect as an unhandled 'error'; readiness reports it.
    redis.on("error", (err) => logger.debug({ err: String(err) }, "redis connection error"));
    await redis.connect().catch((err) => logger.warn({ err: String(err) }, "redis not reachable yet"));
  }
  // Events between nodes (approval decided, token revoked, manifest changed): Redis pub/sub, or in-process.
  const events: EventBus = redis ? await createRedisEventBus({ redis, prefix: redisPrefix }) : createMemoryEventBus();
  return { redis, events };
}

/**
 * Governance: one engine (src/core/governance), one approvals store, one audit log, on the node's store backend
 * (the embedded SQLite file, or PostgreSQL with DATABASE_URL). Every door — REST actions, agent sessions, MCP —
 * goes through this one engine.
 */
async function openStores(
  deps: {
    config: Config;
    env: Record<string, string | undefined>;
    secret: Buffer;
    recheckMs: number;
    invoker: Invoker;
    /** The org of this machine's purutos; undefined: any org's (as the /purutos guard). */
    purutoOrg: string | undefined;
    now: (() => number) | undefined;
  },
  bus: { redis: Redis | undefined; events: EventBus },
): Promise<NodeStores> {
  const { config, env } = deps;
  return openNodeStores({
    ...(deps.now ? { now: deps.now } : {}),
    config,
    secret: deps.secret,
    events: bus.events,
    recheckMs: deps.recheckMs,
    version: VERSION,
    env,
    // One connector registry for every tool: `puruto` tools run real commands through the discovery face's
    // invoker, wired here to the engine's PurutoCommandInvoker port (core never imports a face); `secret_ref`s of
    // http/webhook headers are read from the environment by name at call time, and only GATEHOUSE_SECRET_*
    // variables can be named (never the gateway's own keys).
    connectors: createConnectors({
      invokePuruto: purutoInvokerFrom(deps.invoker),
      secrets: secretsFromEnvironment(env),
    }),
    // This machine's purutos, secrets and private network are one org's each (GATEHOUSE_PURUTO_ORG,
    // GATEHOUSE_SECRETS_ORG): another org's tool that would use them is not authorised.
    resourceOrgs: { purutos: deps.purutoOrg, secrets: config.secretsOrg },
  }).catch(async (err) => {
    // Nothing half-open stays behind a failed start (the Redis connection, the event bus).
    await bus.events.close().catch(() => {});
    bus.redis?.disconnect();
    throw err;
  });
}

/**
 * With Redis, the store id is registered under the prefix (src/store-claim.ts): a node whose store is not the one
 * the prefix's running nodes use stops here, with what is already open closed.
 */
async function claimNodeStore(
  config: Config,
  logger: Logger,
  stores: NodeStores,
  bus: { redis: Redis | undefined; events: EventBus; prefix: string },
): Promise<StoreClaim | undefined> {
  await checkRedisHome(config, stores, bus, logger);
  if (!bus.redis) return undefined;
  const store =
    stores.kind === "sqlite" ? `the SQLite file ${config.databaseFile}` : "the PostgreSQL database of DATABASE_URL";
  return claimStore({ redis: bus.redis, prefix: bus.prefix, storeId: stores.storeId, store, logger }).catch(
    async (err) => {
      await stores.close();
      await bus.events.close().catch(() => {});
      bus.redis?.disconnect();
      throw err;
    },
  );
}

/**
 * One store → one prefix (PostgreSQL): the prefix recorded in the store must be this node's, or the node stops
 * (exit 2) before it registers anything under its own prefix. A node without Redis on a store whose nodes share one
 * stops too: its rate limits, session caps and events would be its own, a silent split of the cluster (review R17).
 */
async function checkRedisHome(
  config: Config,
  stores: NodeStores,
  bus: { redis: Redis | undefined; events: EventBus; prefix: string },
  logger: Logger,
): Promise<void> {
  if (!stores.redisHome) return;
  const mine = config.redisUrl ? { prefix: bus.prefix, address: redisAddressOf(config.redisUrl) } : undefined;
  if (config.redisPrefixTakeOver)
    logger.warn(
      { prefix: mine?.prefix ?? null },
      "GATEHOUSE_REDIS_PREFIX_TAKEOVER=1: this node moves its PostgreSQL store to its own Redis prefix (or off Redis); unset it once the cluster has moved",
    );
  const recorded = await stores.redisHome(mine, config.redisPrefixTakeOver).catch((err: unknown) => err as Error);
  // The same prefix in the same Redis database (the host's spelling is not compared: one Redis, several names).
  if (recorded === undefined || (!(recorded instanceof Error) && sameRedisHome(mine, recorded))) return;
  const refusal =
    recorded instanceof Error ? recorded : mine ? prefixConflict(mine, recorded) : noRedisConflict(recorded);
  await stores.close();
  await bus.events.close().catch(() => {});
  bus.redis?.disconnect();
  throw refusal;
}

/**
 * Approval notifications (webhooks), in the node's store: subscriptions and the delivery log are shared by every
 * node on PostgreSQL. Secrets are sealed under a key derived from the installation secret (GATEHOUSE_SECRET, the
 * same on every node, when it is set).
 */
function openNotifications(
  config: Config,
  webhookConfig: WebhookConfig,
  deps: { stores: NodeStores; secret: Buffer; events: EventBus },
  listenUrl: () => string,
) {
  const target = { privateHosts: webhookConfig.privateHosts };
  const webhooks = deps.stores.webhooks({
    box: secretBox(createHash("sha256").update(deps.secret).digest()),
    ...(webhookConfig.envDefault ? { envDefault: { ...webhookConfig.envDefault, defaultOrg: config.defaultOrg } } : {}),
  });
  const notifier = createWebhookNotifier({
    store: webhooks,
    approvals: deps.stores.approvals,
    events: deps.events,
    render: approvalRenderer(deps.stores.engine.manifests),
    publicUrl: () => webhookConfig.publicUrl ?? listenUrl(),
    target,
    retry: webhookConfig.retry,
  });
  return { webhooks, notifier, target, maxPerOrg: webhookConfig.maxPerOrg };
}

/** GitOps: manifests in a folder are registered (or updated) for the default org at start-up. */
async function loadManifestDir(
  stores: NodeStores,
  spec: LoadedSpec,
  config: Config,
  env: Record<string, string | undefined>,
): Promise<void> {
  const manifestDir = env.GATEHOUSE_MANIFEST_DIR;
  if (!manifestDir) return;
  // The loader logs what it loaded and every broken file; a broken file never stops the gateway.
  await stores.loadManifests(manifestDir, env.GATEHOUSE_MANIFEST_ORG || config.defaultOrg, {
    checkSchema: (input) => spec.validateSchema("ManifestInput", input),
  });
}

/**
 * A node on its embedded SQLite file is alone on it (the data-dir lock allows one process per file, and the store
 * claim keeps nodes that share Redis on one store), with or without Redis: before it accepts a session, it ends the
 * approvals its previous process's session turns left pending, since those turns ended with that process. Redis
 * does not change that: a previous process that ran without Redis left no node record there for a survivor to end
 * them by (src/faces/sessions/node-approvals.ts), and one that ran with it is gone all the same. On PostgreSQL other
 * nodes may be running turns: there only the node records end a gone node's approvals.
 */
async function endPreviousProcessTurns(stores: NodeStores): Promise<void> {
  if (!stores.embedded) return;
  const { db, approvals } = stores.embedded;
  await cancelLeftoverApprovals(pendingOnChannel(db, SESSION_CHANNEL), (orgId, approvalId, reason) =>
    approvals.cancel(orgId, approvalId, reason),
  );
}

/** Agent sessions: every runtime tool_call goes through the same policy engine and approvals store. */
function attachSessions(
  server: Server,
  deps: {
    config: Config;
    env: Record<string, string | undefined>;
    sessionsConfig: FaceConfig["sessions"];
    stores: NodeStores;
    redis: Redis | undefined;
    verifyUserToken: VerifyUserToken;
  },
): SessionGateway {
  const { config, sessionsConfig } = deps;
  const governedTools = createGovernedTools({
    engine: deps.stores.engine,
    approvals: deps.stores.approvals,
    sessionManifest: sessionsConfig.sessionManifest,
    sessionAgents: sessionsConfig.sessionAgents,
    // The IDE user's refused decisions are audited as an operator's are over REST (refusal records).
    recordRefusal: approvalRefusalRecorder(deps.stores.engine.manifests, deps.stores.audit),
  });
  return attachSessionGateway(server, {
    verifyUserToken: deps.verifyUserToken,
    agentRuntimeUrl: config.agentRuntimeUrl ?? "http://127.0.0.1:8001",
    agentRuntimeKey: deps.env.AGENT_RUNTIME_KEY || undefined,
    redis: deps.redis,
    toolPolicy: governedTools.policy,
    approvals: governedTools.approvals,
    // The IDE's tool_result of a governed call is audited as that call's outcome.
    recordOutcome: governedTools.recordOutcome,
    options: sessionsConfig.options,
    // The WebSocket upgrade answers for the same names as every HTTP route (DNS rebinding).
    admit: (req) => requestHostRefusal(config.allowedHosts, req),
  });
}

/** What /health reports; the first three (database, redis, events) are what readiness needs. */
type NodeProbes = {
  database: Probe;
  redis: Probe;
  agent_runtime: Probe;
  events: Probe;
  store_claim: Probe;
  clock_skew: Probe;
};

function nodeProbes(
  stores: NodeStores,
  sessions: SessionGateway,
  events: EventBus,
  storeClaim: StoreClaim | undefined,
  clock: ClockSkewGuard | undefined,
): NodeProbes {
  return {
    database: stores.database,
    redis: async () => (await sessions.health()).redis,
    agent_runtime: async () => (await sessions.health()).agent_runtime,
    // The event bus between nodes: Redis pub/sub (both connections) or in-process ("not_configured").
    events: () => events.health(),
    // With Redis: whether this node's store is the one its prefix's nodes run on (src/store-claim.ts). A node that
    // found another store there after start-up is taken out of rotation, not left to split budgets and keys.
    store_claim: async () => storeClaim?.state() ?? "not_configured",
    // On PostgreSQL: whether this node's clock agrees with the database's (src/clock-skew.ts). Leases, expiries and
    // budget windows written by one node are read by another on its own clock.
    clock_skew: async () => clock?.state() ?? "not_configured",
  };
}

const readinessProbes = ({ database, redis, events, store_claim, clock_skew }: NodeProbes) => ({
  database,
  redis,
  events,
  store_claim,
  clock_skew,
});

/** The clock-skew guard of a node on PostgreSQL (src/clock-skew.ts); none on SQLite (one node, one clock). */
async function guardNodeClock(config: Config, logger: Logger, stores: NodeStores, now: (() => number) | undefined) {
  if (!stores.databaseNow) return undefined;
  return guardClockSkew({
    databaseNow: stores.databaseNow,
    maxSkewMs: config.maxClockSkewMs,
    logger,
    ...(now ? { now } : {}),
    ...(stores.alignClock ? { onMeasure: stores.alignClock } : {}),
  });
}

/**
 * deploy/docs.ts, which renders the docs pages (Redocly), when the development tools are installed: a checkout
 * renders missing or stale pages on first use; an install without them serves what `make build` shipped.
 */
async function docsRenderer(): Promise<DocsRenderer | undefined> {
  try {
    return (await import("../deploy/docs")).renderDocs;
  } catch {
    return undefined;
  }
}

/** Every REST operation's handler, by face, behind the REST rate limits. */
function restHandlers(deps: {
  faces: FaceConfig;
  spec: LoadedSpec;
  probes: NodeProbes;
  lifecycle: Lifecycle;
  devIssuer: DevIssuer | undefined;
  stores: NodeStores;
  discovery: Discovery;
  invoker: Invoker;
  events: EventBus;
  limits: RestRateLimiter;
  approvalEvents: ApprovalEvents;
  sessions: SessionGateway;
  notifications: ReturnType<typeof openNotifications>;
}): Handlers {
  const { stores, discovery, notifications } = deps;
  const { engine, approvals, audit } = stores;
  const renderApproval = approvalRenderer(engine.manifests);
  return deps.limits.wrap({
    ...systemHandlers({
      version: VERSION,
      openapi: deps.spec.document,
      asyncapiFile: ASYNCAPI_FILE,
      probes: deps.probes,
      jwks: async () => [
        ...(deps.devIssuer ? [{ ...deps.devIssuer.publicJwk(), purpose: "user-token" as const }] : []),
        ...(await stores.publicJwks()),
      ],
      // /health is open: no absolute paths for anonymous callers.
      discovery: async () => withoutPaths(await discovery.snapshot()),
    }),
    ...docsHandlers(docsPages(deps.faces.docsDir, docsRenderer)),
    ...probeHandlers(deps.lifecycle, readinessProbes(deps.probes)),
    ...purutosHandlers({ discovery, invoker: deps.invoker }),
    // A token revoked or a manifest changed over REST is announced to every node (caches there invalidated).
    ...announceChanges(actionsHandlers({ actions: engine }), deps.events),
    // Shadow replay and evidence bundles read the node's store through ports (either backend).
    ...oversightHandlers({
      approvals,
      audit,
      replay: stores.replay,
      evidence: stores.evidence,
      renderApproval,
      recordRefusal: approvalRefusalRecorder(engine.manifests, audit),
    }),
    ...consoleHandlers({ events: deps.approvalEvents, sessions: deps.sessions, renderApproval }),
    ...webhookHandlers(notifications),
  });
}

/** MCP: agents' manifest tools through the same engine, approvals and audit; puruto commands through the invoker. */
function mcpFaceOf(deps: {
  auth: Authenticator;
  stores: NodeStores;
  spec: LoadedSpec;
  discovery: Discovery;
  invoker: Invoker;
  faces: FaceConfig;
  purutosAccess: ReturnType<typeof purutosGuard>;
  redis: { client: Redis; prefix: string } | undefined;
  events: EventBus;
  limits: RestRateLimiter;
}): McpFace {
  return createMcpFace({
    auth: deps.auth,
    engine: deps.stores.engine,
    approvals: deps.stores.approvals,
    validateExecuteBody: bodyValidatorOf(deps.spec, "Gateway_execute"),
    amountBounds: actionAmountBoundsOf(deps.spec),
    validatePurutoPayload: bodyValidatorOf(deps.spec, "Purutos_invoke"),
    purutos: purutoCommandsOf(deps.discovery, deps.invoker),
    purutosGuard: deps.purutosAccess,
    options: deps.faces.mcp,
    version: VERSION,
    redis: deps.redis,
    events: deps.events,
    limits: deps.limits,
  });
}

/** The REST app (with the MCP mount) and the console's static assets on the server, then listening; its URL. */
async function serveHttp(
  server: Server,
  deps: {
    config: Config;
    logger: Logger;
    spec: LoadedSpec;
    handlers: Handlers;
    auth: Authenticator;
    mcp: McpFace;
    purutosAccess: ReturnType<typeof purutosGuard>;
    consoleOidc: FaceConfig["consoleOidc"];
  },
): Promise<string> {
  const { config } = deps;
  const app = createApp({
    spec: deps.spec,
    handlers: deps.handlers,
    auth: deps.auth,
    logger: deps.logger,
    maxBodyBytes: config.maxBodyBytes,
    bodyTimeoutMs: config.bodyTimeoutMs,
    mounts: [deps.mcp.mount],
    guards: [deps.purutosAccess],
    allowedHosts: config.allowedHosts,
  });
  // The operator console's static assets (/console) are answered before the API.
  const consoleAssets = await loadConsoleAssets(undefined, deps.consoleOidc ? { oidc: deps.consoleOidc } : {});
  const api = app.callback();
  // A request the host check refuses is the app's to answer (problem+json, logged), the console's assets included.
  const { allowedHosts } = config;
  server.on(
    "request",
    (req, res) => (!requestHostRefusal(allowedHosts, req) && consoleAssets.serve(req, res)) || api(req, res),
  );
  answerClientErrors(server);
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(config.port, config.host, () => ok());
  });
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  return `http://${host}:${port}`;
}

/** What a graceful stop closes, in the order it closes them. */
interface Running {
  config: Config;
  logger: Logger;
  server: Server;
  lifecycle: Lifecycle;
  inFlight: ReturnType<typeof trackInFlight>;
  sessions: SessionGateway;
  mcp: McpFace;
  invoker: Invoker;
  discovery: Discovery;
  approvalEvents: ApprovalEvents;
  notifier: { close(): void };
  stores: NodeStores;
  storeClaim: StoreClaim | undefined;
  clock: ClockSkewGuard | undefined;
  events: EventBus;
  redis: Redis | undefined;
}

/** Gatehouse.close: see there. */
async function stopGatehouse(running: Running): Promise<void> {
  const { server, inFlight } = running;
  running.lifecycle.startDraining();
  const stopped = new Promise<void>((ok) => server.close(() => ok()));
  server.closeIdleConnections();
  await running.sessions.close();
  await running.mcp.close();
  if (!(await inFlight.settled(running.config.shutdownTimeoutMs))) {
    running.logger.warn(
      { inFlight: inFlight.active() },
      "shutdown timeout: closing connections with requests in flight",
    );
  }
  server.closeAllConnections();
  await stopped;
  await running.invoker.close();
  running.discovery.close();
  running.approvalEvents.close();
  running.notifier.close();
  running.storeClaim?.stop();
  running.clock?.stop();
  await running.stores.close();
  await running.events.close();
  running.redis?.disconnect();
}

/** What a test may change in a node without faking the process's clock. */
export interface GatehouseHooks {
  /** This node's clock as the clock-skew guard reads it (default Date.now; tests: a clock ahead or behind). */
  now?: () => number;
}

export async function startGatehouse(
  config: Config,
  logger: Logger = rootLogger,
  env: Record<string, string | undefined> = process.env,
  hooks: GatehouseHooks = {},
): Promise<Gatehouse> {
  // Face configuration is validated before anything starts, so a bad value never leaves a half-open server.
  const faces = faceConfigFromEnv(env);
  keepShortLivedObjectsYoung();
  if (config.apiKeys.includes("changeme")) {
    logger.warn("PURUTO_GATEWAY_API_KEY is the placeholder 'changeme': it is refused; set a real key");
  }
  const spec = loadSpec();
  const redisPrefix = faces.sessions.options.redisKeyPrefix ?? "gatehouse";
  const { redis, events } = await connectNodeBus(config, logger, redisPrefix);

  const server = createServer();
  const lifecycle = createLifecycle();
  const inFlight = trackInFlight(server);
  const discovery = createDiscovery(faces.purutos);
  // Commands must not read the gateway's own files: its data dir, the SQLite file when it lies elsewhere, its .env.
  const databaseFile = isPostgresUrl(config.databaseUrl) ? null : config.databaseFile;
  const hidden = hiddenPaths(config.dataDir, databaseFile, DOT_ENV_FILE);
  const invoker = createInvoker({ ...faces.purutos, hidden }, discovery);
  const secret = installationSecret(config.dataDir, env);
  const stores = await openStores(
    { config, env, secret, recheckMs: faces.recheckMs, invoker, purutoOrg: faces.purutos.org, now: hooks.now },
    { redis, events },
  );
  const storeClaim = await claimNodeStore(config, logger, stores, { redis, events, prefix: redisPrefix });
  // From here on a failed start-up stops the claim: the registration of a node that never ran must lapse.
  let clock: ClockSkewGuard | undefined;
  try {
    clock = await guardNodeClock(config, logger, stores, hooks.now);
    // Dead copies of large prompts are freed by a full GC soon after they die, not after the heap quadrupled. Set
    // once the stores are open: the WAL checkpoint worker they start would have undone it (src/system/heap.ts).
    boundHeapGrowth(config.heapGrowingPercent);
    const { devIssuer, verify: verifyUserToken } = await openIdentity(config, stores, { redis, events });
    const approvalEvents = createApprovalEvents({ approvals: stores.approvals });
    let listenUrl = "";
    const notifications = openNotifications(config, faces.webhooks, { stores, secret, events }, () => listenUrl);
    await loadManifestDir(stores, spec, config, env);
    await endPreviousProcessTurns(stores);
    // What the faces call: while the claim is in conflict (src/store-claim.ts), or the node's clock is not known to
    // agree with the database's (src/clock-skew.ts), their governed calls are refused; approval decisions too on a
    // skewed clock.
    const faceStores: NodeStores = {
      ...stores,
      ...refuseWhileSkewed(
        { engine: refuseWhileInConflict(stores.engine, storeClaim), approvals: stores.approvals },
        clock,
      ),
    };

    const sessions = attachSessions(server, {
      config,
      env,
      sessionsConfig: faces.sessions,
      stores: faceStores,
      redis,
      verifyUserToken,
    });
    const probes = nodeProbes(stores, sessions, events, storeClaim, clock);
    // REST rate limits per API key and per agent (shared through Redis when configured); MCP's calls count too.
    const limits = createRestRateLimiter({ config: faces.restRateLimits, redis, prefix: redisPrefix });
    const handlers = restHandlers({
      faces,
      spec,
      probes,
      lifecycle,
      devIssuer,
      stores: faceStores,
      discovery,
      invoker,
      events,
      limits,
      approvalEvents,
      sessions,
      notifications,
    });
    const auth = createAuthenticator(stores.apiKeys, verifyUserToken);
    // Purutos belong to one org: REST /purutos (a guard of the router, before the body is read or validated) and
    // /mcp/purutos apply this one rule.
    const purutosAccess = purutosGuard(faces.purutos.org);
    // With Redis an MCP session is usable from every node (its record shared under the same prefix).
    const mcpRedis = redis ? { client: redis, prefix: redisPrefix } : undefined;
    const mcp = mcpFaceOf({
      auth,
      events,
      stores: faceStores,
      spec,
      discovery,
      invoker,
      faces,
      purutosAccess,
      redis: mcpRedis,
      limits,
    });
    listenUrl = await serveHttp(server, {
      config,
      logger,
      spec,
      handlers,
      auth,
      mcp,
      purutosAccess,
      consoleOidc: faces.consoleOidc,
    });
    lifecycle.markReady();
    const running: Running = {
      config,
      logger,
      server,
      lifecycle,
      inFlight,
      sessions,
      mcp,
      invoker,
      discovery,
      approvalEvents,
      notifier: notifications.notifier,
      stores,
      storeClaim,
      clock,
      events,
      redis,
    };
    return {
      url: listenUrl,
      server,
      db: stores.db,
      store: stores.kind,
      apiKeys: stores.apiKeys,
      approvals: stores.approvals,
      audit: stores.audit,
      embedded: stores.embedded,
      devIssuer,
      lifecycle,
      readiness: () => readinessOf(readinessProbes(probes)),
      close: () => stopGatehouse(running),
    };
  } catch (err) {
    storeClaim?.stop();
    clock?.stop();
    throw err;
  }
}
