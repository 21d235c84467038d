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
import { openDatabase, type Db } from "./core/store/sqlite";
import { createApp } from "./http/app";
import { createAuthenticator, type VerifyUserToken } from "./http/auth";
import type { Handlers } from "./http/handlers";
import { loadSpec } from "./http/spec";
import { systemHandlers, type Probe } from "./system/handlers";

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

export async function startGatehouse(config: Config, logger: Logger = rootLogger): Promise<Gatehouse> {
  if (config.apiKeys.includes("changeme")) {
    logger.warn("PURUTO_GATEWAY_API_KEY is the placeholder 'changeme': it is refused; set a real key");
  }
  const db = openDatabase(config.databaseFile);
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
  const probes: Record<string, Probe> = {
    database: async () => (db.prepare("SELECT 1 AS ok").get() ? "connected" : "disconnected"),
  };
  const handlers: Handlers = {
    ...systemHandlers({
      version: VERSION,
      openapi: spec.document,
      asyncapiFile: ASYNCAPI_FILE,
      probes,
      jwks: () => (devIssuer ? [devIssuer.publicJwk()] : []),
    }),
  };

  const app = createApp({
    spec,
    handlers,
    auth: createAuthenticator(apiKeys, verifyUserToken),
    logger,
    maxBodyBytes: config.maxBodyBytes,
  });
  const server = createServer(app.callback());
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
      await new Promise<void>((ok) => server.close(() => ok()));
      server.closeAllConnections();
      db.close();
    },
  };
}
