// The oversight face's tests run against the one test Gatehouse (src/test-support/gatehouse.ts), with the default
// org and API key these tests were written for, a fast approval recheck, and an agent key of a second org. The
// approval store and audit log are the server's own, so tests can seed them directly (creating approvals
// through execute is the actions face's job).
import type { ApprovalStore } from "../../core/approvals";
import type { AuditLog } from "../../core/audit";
import { must } from "../../core/must";
import type { Db } from "../../core/store/sqlite";
import { startTestGatehouse } from "../../test-support/gatehouse";

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
  const g = await startTestGatehouse({
    orgId: DEFAULT_ORG,
    apiKey: AGENT_API_KEY,
    env: { GATEHOUSE_APPROVAL_RECHECK_MS: "50" },
  });
  const embedded = must(g.embedded, "the test Gatehouse runs on the embedded SQLite store");
  return {
    url: g.url,
    db: embedded.db,
    approvals: embedded.approvals,
    audit: embedded.audit,
    otherOrgApiKey: (await g.apiKeys.create(OTHER_ORG, "other org agent")).key,
    operatorToken: g.userTokenFor,
    close: g.dispose,
  };
}
