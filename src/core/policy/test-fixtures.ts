// Shared fixtures for the policy tests: the seed's customer-support bot and a wired engine on :memory:.
import { openMigratedDatabase } from "../store/test-support";
import { BudgetCounters } from "./budget-counters";
import { KnownCounterparties } from "./known-counterparties";
import { ManifestRepository } from "./manifest-repository";
import type { PolicyDeps } from "./pipeline";
import { CapabilityTokenService } from "./tokens/capability-tokens";
import { createSigningKeyStore } from "../keys";
import type { ActionRequest, ManifestInput } from "./types";

export const ORG = "org-acme";

export function supportBot(overrides: Partial<ManifestInput> = {}): ManifestInput {
  return {
    uapk_id: "customer-support-bot",
    agent: { id: "customer-support-bot", name: "Customer Support Bot" },
    capabilities: ["email:send", "crm:read", "crm:update", "crm:delete"],
    constraints: { max_actions_per_hour: 100, require_human_approval: ["crm:delete"] },
    tools: {
      "email:send": { connector: { type: "echo" } },
      "crm:read": { connector: { type: "echo" } },
      "crm:update": { connector: { type: "echo" } },
      "crm:delete": { connector: { type: "echo" } },
    },
    ...overrides,
  };
}

export function emailRequest(overrides: Partial<ActionRequest> = {}): ActionRequest {
  return {
    uapk_id: "customer-support-bot",
    agent_id: "customer-support-bot",
    action: { type: "email", tool: "send", params: { to: "customer@example.com", subject: "Hi" } },
    ...overrides,
  };
}

export async function engine(now: () => Date = () => new Date("2024-12-14T10:30:00Z")) {
  const db = await openMigratedDatabase(":memory:");
  const manifests = new ManifestRepository(db, { now });
  const keys = createSigningKeyStore(db, { purpose: "capability-token", now });
  const tokens = new CapabilityTokenService(db, keys, { now });
  const budgets = new BudgetCounters(db);
  const counterparties = new KnownCounterparties(db);
  const deps: PolicyDeps = { manifests, tokens, budgets, counterparties };
  return { db, manifests, keys, tokens, budgets, counterparties, deps, now };
}

/** A token for customer-support-bot's `email:send` (registered in `e`), its recipients restricted to `allowed`. */
export async function sendTokenAllowing(e: Awaited<ReturnType<typeof engine>>, allowed: string[]): Promise<string> {
  const manifest = e.manifests.getByUapkId(ORG, "customer-support-bot");
  if (!manifest) throw new Error("register customer-support-bot first");
  const { token } = await e.tokens.issue({
    orgId: ORG,
    issuerId: "ops@acme.com",
    issuedBy: "ops@acme.com",
    manifest,
    agentId: manifest.agent.id,
    capabilities: ["email:send"],
    constraints: { allowed_recipients: allowed },
  });
  return token;
}
