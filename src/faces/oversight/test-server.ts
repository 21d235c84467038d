// A real HTTP Gatehouse with the oversight handlers, for this folder's tests: the composition of
// src/server.ts (spec-driven app, API keys, dev issuer JWTs) on a temp data directory, with the approval
// store and audit log exposed so tests can seed them directly (creating approvals through execute is the
// actions face's job). Once src/server.ts wires oversightHandlers, startGatehouse can replace this.
import { tapConformance } from "../../test-support/conformance";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../config";
import { createApprovalStore, type ApprovalStore } from "../../core/approvals";
import { createAuditLog, type AuditLog } from "../../core/audit";
import { createApiKeyStore } from "../../core/identity/api-keys";
import { loadDevIssuer } from "../../core/identity/dev-issuer";
import { createUserTokenVerifier } from "../../core/identity/user-tokens";
import { logger } from "../../core/log/logger";
import type { Db } from "../../core/store/sqlite";
import { openMigratedDatabase } from "../../core/store/test-support";
import { createApp } from "../../http/app";
import { createAuthenticator } from "../../http/auth";
import { loadSpec } from "../../http/spec";
import { oversightHandlers } from "./handlers";

export const DEFAULT_ORG = "default";
export const OTHER_ORG = "org-b";
export const AGENT_API_KEY = "oversight-test-api-key";

export interface OversightTestServer {
  url: string;
  db: Db;
  approvals: ApprovalStore;
  audit: AuditLog;
  /** API key of an agent in OTHER_ORG. */
  otherOrgApiKey: string;
  operatorToken(org: string, sub?: string, roles?: string[]): Promise<string>;
  close(): Promise<void>;
}

export async function startOversightServer(): Promise<OversightTestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), "gatehouse-oversight-"));
  const config = loadConfig({
    GATEHOUSE_DATA_DIR: dataDir,
    PORT: "0",
    PURUTO_GATEWAY_API_KEY: AGENT_API_KEY,
    GATEHOUSE_DEFAULT_ORG: DEFAULT_ORG,
    LOG_LEVEL: "silent",
  });
  const silent = logger.child({});
  silent.level = "silent";
  const db = await openMigratedDatabase(config.databaseFile);
  const apiKeys = createApiKeyStore(db, {
    secret: randomBytes(32),
    envKeys: config.apiKeys,
    defaultOrg: config.defaultOrg,
  });
  const otherOrgApiKey = apiKeys.create(OTHER_ORG, "other org agent").key;
  const devIssuer = await loadDevIssuer(dataDir, config.jwtIssuer, config.jwtAudience);
  const verifyUserToken = createUserTokenVerifier({
    localJwks: () => ({ keys: [devIssuer.publicJwk()] }),
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    cacheMaxAgeMs: config.jwksCacheTtlSeconds * 1000,
  });
  const approvals = createApprovalStore(db, { pollIntervalMs: 50 });
  const audit = createAuditLog(db);

  const app = createApp({
    spec: loadSpec(),
    handlers: { ...oversightHandlers({ approvals, audit }) },
    auth: createAuthenticator(apiKeys, verifyUserToken),
    logger: silent,
    maxBodyBytes: config.maxBodyBytes,
  });
  const server = createServer(app.callback());
  // Every answer is checked against the OpenAPI document; close() fails with what broke it.
  const conformance = tapConformance(server);
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    db,
    approvals,
    audit,
    otherOrgApiKey,
    operatorToken: (org, sub = `operator@${org}`, roles = ["operator"]) => devIssuer.mint({ sub, org, roles }),
    async close() {
      approvals.close();
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
      db.close();
      rmSync(dataDir, { recursive: true, force: true });
      await conformance.assertClean();
    },
  };
}
