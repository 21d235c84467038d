// Composition root: config → store → identity → faces → one HTTP server (REST + WebSocket upgrade).
// `startGatehouse` is what `make run`, the tests and the contract replay all start.
import { createServer, type Server } from "node:http";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { AddressInfo } from "node:net";
import type { Config } from "./config";
import { createApiKeyStore, type ApiKeyStore } from "./core/identity/api-keys";
import { loadDevIssuer, type DevIssuer } from "./core/identity/dev-issuer";
import { createUserTokenVerifier } from "./core/identity/user-tokens";
import { logger as rootLogger, type Logger } from "./core/log/logger";
import { migrateToLatest } from "./core/store/migrate";
import { StoreConfigError } from "./core/store/open-store";
import { openDatabase, type Db } from "./core/store/sqlite";
import { createApp } from "./http/app";
import { answerClientErrors } from "./http/errors";
import { createAuthenticator, type VerifyUserToken } from "./http/auth";
import type { Handlers } from "./http/handlers";
import { loadSpec } from "./http/spec";
import { systemHandlers, type Probe } from "./system/handlers";
import { attachSessionGateway, createGovernedTools } from "./faces/sessions";
import { sessionsConfigFromEnv } from "./faces/sessions/config";
import { purutosConfigFromEnv } from "./faces/purutos/config";
import { createDiscovery } from "./faces/purutos/discovery";
import { createInvoker } from "./faces/purutos/invoker";
import { purutosHandlers } from "./faces/purutos/handlers";
import { createGovernanceEngine, purutoInvokerFrom } from "./core/governance";
import { actionsHandlers } from "./faces/actions/handlers";
import { createConnectors, secretsFromEnvironment } from "./core/connectors";
import { oversightHandlers } from "./faces/oversight/handlers";
import { loadManifestDir } from "./core/policy/manifest-loader";
import { createApprovalStore } from "./core/approvals";
import { createIdempotencyStore } from "./core/idempotency";
import { createAuditLog } from "./core/audit";
import { Redis } from "ioredis";

export const VERSION: string = JSON.parse(readFileSync(resolve(import.meta.dirname, "../package.json"), "utf8")).version;
export const ASYNCAPI_FILE = resolve(import.meta.dirname, "../spec/sessions.asyncapi.yaml");

export interface Gatehouse {
  url: string;
  server: Server;
  db: Db;
  apiKeys: ApiKeyStore;
  /** The built-in identity provider (embedded default only; undefined with JWKS_URL). */
  devIssuer?: DevIssuer;
  close(): Promise<void>;
}

/** A per-installation secret for keyed hashes; GATEHOUSE_SECRET overrides the generated file. */
function installationSecret(dataDir: string): Buffer {
  if (process.env.GATEHOUSE_SECRET) return Buffer.from(process.env.GATEHOUSE_SECRET, "utf8");
  const file = join(dataDir, "secret");
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, randomBytes(32).toString("base64"), { mode: 0o600 });
  }
  return Buffer.from(readFileSync(file, "utf8"), "base64");
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

export async function startGatehouse(
  config: Config,
  logger: Logger = rootLogger,
  env: Record<string, string | undefined> = process.env,
): Promise<Gatehouse> {
  // Face configuration is validated before anything starts, so a bad value never leaves a half-open server.
  const purutosConfig = purutosConfigFromEnv(env, process.cwd());
  const sessionsConfig = sessionsConfigFromEnv(env);
  if (config.apiKeys.includes("changeme")) {
    logger.warn("PURUTO_GATEWAY_API_KEY is the placeholder 'changeme': it is refused; set a real key");
  }
  if (config.databaseUrl) {
    // Never fall back to the SQLite file when PostgreSQL was asked for: nodes would silently stop sharing state.
    throw new StoreConfigError(
      "DATABASE_URL selects PostgreSQL, but the HTTP faces are not wired to the shared store yet " +
        "(src/core/store/open-store.ts, createSharedGovernanceEngine); unset DATABASE_URL to run on the SQLite file",
    );
  }
  const db = openDatabase(config.databaseFile);
  // The schema first: every store below assumes its tables exist.
  await migrateToLatest(db);
  const apiKeys = createApiKeyStore(db, {
    secret: installationSecret(config.dataDir),
    envKeys: config.apiKeys,
    defaultOrg: config.defaultOrg,
  });
  const devIssuer = config.jwksUrl
    ? undefined
    : await loadDevIssuer(config.dataDir, config.jwtIssuer, config.jwtAudience);
  const verifyUserToken = userTokenVerifier(config, devIssuer);

  const spec = loadSpec();
  // Shared state across gateway nodes (rate limits, sessions) when REDIS_URL is set.
  const redis = config.redisUrl
    ? new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false })
    : undefined;
  if (redis) await redis.connect().catch((err) => logger.warn({ err: String(err) }, "redis not reachable yet"));

  const server = createServer();

  const discovery = createDiscovery(purutosConfig);
  const invoker = createInvoker(purutosConfig, discovery);

  // Governance: one engine (src/core/governance), one approvals store, one audit log, all on the embedded store.
  // Every door — REST actions, agent sessions — goes through this one engine.
  const approvals = createApprovalStore(db);
  const audit = createAuditLog(db);
  const engine = createGovernanceEngine({
    db,
    version: VERSION,
    approvals,
    idempotency: createIdempotencyStore(db),
    audit,
    // One connector registry for every tool: `puruto` tools run real commands through the discovery face's
    // invoker, wired here to the engine's PurutoCommandInvoker port (core never imports a face); `secret_ref`s of http/webhook headers are read from the environment by name at call time, and
    // only GATEHOUSE_SECRET_* variables can be named (never the gateway's own keys).
    connectors: createConnectors({ invokePuruto: purutoInvokerFrom(invoker), secrets: secretsFromEnvironment(env) }),
  });
  // GitOps: manifests in a folder are registered (or updated) for the default org at start-up.
  const manifestDir = env.GATEHOUSE_MANIFEST_DIR;
  if (manifestDir) {
    // The loader logs what it loaded and every broken file; a broken file never stops the gateway.
    loadManifestDir(manifestDir, engine.manifests, env.GATEHOUSE_MANIFEST_ORG || config.defaultOrg, {
      checkSchema: (input) => spec.validateSchema("ManifestInput", input),
    });
  }

  // Agent sessions: every runtime tool_call goes through the same policy engine and approvals store.
  const governedTools = createGovernedTools({
    engine,
    approvals,
    sessionManifest: sessionsConfig.sessionManifest,
    defaultOrg: config.defaultOrg,
  });
  const sessions = attachSessionGateway(server, {
    verifyUserToken,
    agentRuntimeUrl: config.agentRuntimeUrl ?? "http://127.0.0.1:8001",
    agentRuntimeKey: env.AGENT_RUNTIME_KEY || undefined,
    redis,
    toolPolicy: governedTools.policy,
    approvals: governedTools.approvals,
    // The IDE's tool_result of a governed call is audited as that call's outcome.
    recordOutcome: governedTools.recordOutcome,
    options: sessionsConfig.options,
  });

  const probes: Record<string, Probe> = {
    database: async () => (db.prepare("SELECT 1 AS ok").get() ? "connected" : "disconnected"),
    redis: async () => (await sessions.health()).redis,
    agent_runtime: async () => (await sessions.health()).agent_runtime,
  };
  const handlers: Handlers = {
    ...systemHandlers({
      version: VERSION,
      openapi: spec.document,
      asyncapiFile: ASYNCAPI_FILE,
      probes,
      jwks: () => [
        ...(devIssuer ? [devIssuer.publicJwk()] : []),
        ...engine.publicJwks().keys,
        ...audit.publicJwks().keys,
      ],
      discovery: () => discovery.snapshot(),
    }),
    ...purutosHandlers({ discovery, invoker }),
    ...actionsHandlers({ actions: engine }),
    ...oversightHandlers({ approvals, audit }),
  };

  const app = createApp({
    spec,
    handlers,
    auth: createAuthenticator(apiKeys, verifyUserToken),
    logger,
    maxBodyBytes: config.maxBodyBytes,
  });
  server.on("request", app.callback());
  answerClientErrors(server);
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(config.port, config.host, () => ok());
  });
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;
  return {
    url: `http://${host}:${port}`,
    server,
    db,
    apiKeys,
    devIssuer,
    async close() {
      await sessions.close();
      await invoker.close();
      discovery.close();
      approvals.close();
      await new Promise<void>((ok) => server.close(() => ok()));
      redis?.disconnect();
      server.closeAllConnections();
      db.close();
    },
  };
}
