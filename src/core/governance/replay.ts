// Shadow replay: "if this manifest had been in force, which of the recorded decisions would have changed?"
//
// Each recorded action of the manifest's agent (an audit `intent` — an ALLOW — or a `decision` — DENY, ESCALATE,
// or an ALLOW refused for want of a connector) is decided again by the one policy pipeline, with the candidate
// manifest and the state as of the record:
//   - the clock is the record's timestamp (approval expiry, token expiry, hourly windows);
//   - the manifest's lifecycle status is the one its versions give for that instant;
//   - budgets are simulated in memory as the candidate would have spent them, each hourly window seeded with what
//     was recorded in it before the first replayed action (token budgets likewise): the intents counted for the
//     action budget, and for the money budget the amounts those intents carried as the candidate counts them
//     (an amount it cannot count — redacted, in another currency — is left out and said in the report's notes);
//   - counterparties are known if they were first seen before the record, or earlier in the replay;
//   - the capability token (by the id its trace recorded) and the approval the request carried are looked up as
//     they stood then; a token that failed verification fails again with the recorded reason.
// Nothing is written: the deps below only read, and the simulation lives in this call's memory. They are ports
// (./history.ts and the faces' manifests port), so a replay answers the same on SQLite and on PostgreSQL.
//
// Limits (documented): the action is the one recorded — params redacted by the tool's `redact` paths and values
// summarised when too large are replayed as stored.
import type { GatewayResourceOrgs } from "../policy/gateway-resources";
import { setImmediate as nextTurn } from "node:timers/promises";
import type { RecordedAction } from "../audit";
import { sha256Canonical } from "../audit/canonical";
import { actionHash } from "../policy/action-hash";
import { BudgetCounters, type BudgetSlot, unitsOf } from "../policy/budget-counters";
import { extractActionFacts } from "../policy/extract";
import { moneySlotOf, moneySpendOf } from "../policy/money-budget";
import { validateManifest, type ManifestProblem } from "../policy/manifest-validation";
import { normalizeCounterparty } from "../policy/known-counterparties";
import { decide, type PolicyDeps } from "../policy/pipeline";
import type { CapabilityClaims, TokenVerification } from "../policy/tokens/capability-tokens";
import { CAPABILITY_AUDIENCE } from "../policy/tokens/capability-tokens";
import {
  type ActionRequest,
  capabilityOf,
  type Decision,
  type Manifest,
  type ManifestInput,
  type ManifestStatus,
  type PolicyTraceEntry,
  type Reason,
  type ReasonCode,
} from "../policy/types";
import type { ManifestsService } from "../ports";
import type { AuditHistory, TokenRecords } from "./history";
import { OUTCOME_UNKNOWN_REASON } from "./idempotent";
import type { ApprovalsPort } from "./ports";

export interface ReplayInput {
  candidate: ManifestInput;
  since?: string;
  until?: string;
  limit?: number;
  samples?: number;
}

export interface ReplayCell {
  from: Decision;
  to: Decision;
  count: number;
  sample_interaction_ids: string[];
}

export interface ReplayReport {
  manifest_id: string;
  uapk_id: string;
  agent_id: string;
  current_version: number;
  candidate_hash: string;
  since?: string;
  until?: string;
  replayed: number;
  truncated: boolean;
  changed: number;
  loosening: number;
  tightening: number;
  matrix: ReplayCell[];
  reason_changes: { code: ReasonCode; added: number; removed: number; sample_interaction_ids: string[] }[];
  elapsed_ms: number;
  /** What the recorded history could not tell the replay (absent when nothing). */
  notes?: string[];
}

export class ReplayManifestNotFoundError extends Error {}

/** Continuous work after which a replay lets the event loop serve other requests. */
const TURN_MS = 10;

/**
 * A replay decides up to 10,000 recorded actions, and on the embedded store every read answers at once, so its loop
 * never waited for I/O: it held the gateway's only thread to the end (300 recorded actions with 2,000 recipients
 * each kept GET /health waiting 5 s). Awaited before each action, this yields a macrotask turn every TURN_MS.
 */
function turnTaker(): () => Promise<void> | undefined {
  let since = performance.now();
  return () => {
    if (performance.now() - since < TURN_MS) return undefined;
    return nextTurn().then(() => {
      since = performance.now();
    });
  };
}

/** Records read per query: an agent's records may be ~70 KB each, and the embedded store reads synchronously. */
const HISTORY_PAGE = 25;

type ActionFilter = Parameters<AuditHistory["actionRecords"]>[1];

/**
 * The agent's recorded actions, at most `limit` + 1 (one more says there are more), read a page at a time with a
 * turn for other work between pages: read at once, 150 records of 2,000 recipients each held the event loop for
 * 130 ms (600 ms on a loaded machine).
 */
async function recordedActions(
  history: Pick<AuditHistory, "actionRecords">,
  orgId: string,
  filter: ActionFilter,
): Promise<RecordedAction[]> {
  const found: RecordedAction[] = [];
  let after: number | undefined;
  for (;;) {
    const want = Math.min(HISTORY_PAGE, filter.limit + 1 - found.length);
    const cursor = after !== undefined ? { after_seq: after } : {};
    // Each read answers up to `want` + 1 records: one more than asked says the page is not the last.
    const page = await history.actionRecords(orgId, { ...filter, ...cursor, limit: want });
    found.push(...page.slice(0, want));
    if (page.length <= want || found.length > filter.limit) return found;
    after = found.at(-1)?.seq;
    await nextTurn();
  }
}

/** The candidate is not a valid manifest of the same agent; `problems` point into the request body. */
export class ReplayCandidateError extends Error {
  constructor(
    message: string,
    readonly problems: ManifestProblem[],
  ) {
    super(message);
    this.name = "ReplayCandidateError";
  }
}

export interface ShadowReplayDeps {
  history: Pick<AuditHistory, "actionRecords" | "intentsBefore" | "counterpartiesFirstSeen">;
  manifests: Pick<ManifestsService, "get" | "versions">;
  tokens: TokenRecords;
  approvals?: Pick<ApprovalsPort, "get">;
  /** As the live engine's (PolicyDeps.resourceOrgs): a replay judges another org's puruto or secret as it would. */
  resourceOrgs?: GatewayResourceOrgs | undefined;
}

const DEFAULT_LIMIT = 10_000;
const MAX_NOTES = 100;
/** Recorded actions read per query when seeding a money budget (they are read to count their amounts). */
const SEED_PAGE = 200;
const DEFAULT_SAMPLES = 5;
const DECISIONS: readonly Decision[] = ["ALLOW", "ESCALATE", "DENY"];

export type ShadowReplay = (orgId: string, manifestId: string, input: ReplayInput) => Promise<ReplayReport>;

export function createShadowReplay(deps: ShadowReplayDeps): ShadowReplay {
  return async (orgId, manifestId, input) => {
    const current = await deps.manifests.get(orgId, manifestId);
    if (!current) throw new ReplayManifestNotFoundError(`Manifest '${manifestId}' not found`);
    checkCandidate(current, input.candidate);
    const limit = input.limit ?? DEFAULT_LIMIT;
    const found = await recordedActions(deps.history, orgId, {
      uapk_id: current.uapk_id,
      ...(input.since !== undefined ? { since: input.since } : {}),
      ...(input.until !== undefined ? { until: input.until } : {}),
      limit,
    });
    // A retry refused because its key's outcome is unknown was never decided: there is nothing to replay. Known by
    // its reason, which only the gateway writes (meta holds the agent's own `context`: a marker there was forgeable).
    const records = found.slice(0, limit).filter((r) => !settledAsUnknown(r));
    const { manifest_id: _id, ...content } = input.candidate;
    const candidateHash = sha256Canonical(content);
    const started = performance.now();
    const diff = new DecisionDiff(input.samples ?? DEFAULT_SAMPLES);
    const world = new ReplayWorld(deps, orgId, current, content, candidateHash, records[0]);
    await world.load();
    const pause = turnTaker();
    const summarised: string[] = [];
    for (const record of records) {
      await pause();
      if (summarisedWhenStored(record)) summarised.push(record.interaction_id);
      const request = world.requestOf(record);
      world.current = record;
      const decided = await decide(orgId, request, world.policyDeps, { now: new Date(record.timestamp) });
      if (decided.decision === "ALLOW") await world.spend(decided.budgetSlots, decided.counterparties);
      diff.add(record, decided.decision, decided.reasons);
    }
    if (summarised.length > 0) world.notes.push(summarisedNote(summarised));
    const elapsed = performance.now() - started;
    return {
      manifest_id: current.manifest_id,
      uapk_id: current.uapk_id,
      agent_id: current.agent.id,
      current_version: current.version,
      candidate_hash: candidateHash,
      ...(input.since !== undefined ? { since: input.since } : {}),
      ...(input.until !== undefined ? { until: input.until } : {}),
      replayed: records.length,
      truncated: found.length > limit,
      ...diff.summary(),
      elapsed_ms: Math.round(elapsed * 1000) / 1000,
      ...(world.notes.length > 0 ? { notes: world.notes.slice(0, MAX_NOTES) } : {}),
    };
  };
}

/**
 * Whether the recorded action's params (or an identifying field) were summarised when stored (meta.truncated, which
 * the gateway writes beside the agent's `context`, never inside it): replayed as stored, what the summary hides —
 * an amount, a recipient, a country — is not judged.
 */
function summarisedWhenStored(record: RecordedAction): boolean {
  if (!record.meta_json?.includes('"truncated"')) return false;
  const meta = JSON.parse(record.meta_json) as { truncated?: unknown };
  return Array.isArray(meta.truncated) && meta.truncated.some((path) => !String(path).startsWith("meta."));
}

function summarisedNote(interactions: string[]): string {
  return (
    `${interactions.length} replayed action(s) were stored with params summarised (too large; meta.truncated), e.g. ` +
    `${interactions[0]}: replayed as stored, an amount, recipient or country inside a summary is not seen, so their ` +
    "replayed decisions may be looser (or tighter) than the candidate's would have been"
  );
}

/** The candidate must be a valid manifest of the same agent (another agent's history says nothing about it). */
function checkCandidate(current: Manifest, candidate: ManifestInput): void {
  const problems = validateManifest(candidate).map((p) => ({ ...p, pointer: `/candidate${p.pointer}` }));
  if (problems.length > 0)
    throw new ReplayCandidateError(
      `Invalid candidate manifest (${problems.length} problem${problems.length === 1 ? "" : "s"})`,
      problems,
    );
  const mismatch: ManifestProblem[] = [];
  if (candidate.uapk_id !== current.uapk_id)
    mismatch.push({ pointer: "/candidate/uapk_id", message: `must be '${current.uapk_id}'` });
  if (candidate.agent?.id !== current.agent.id)
    mismatch.push({ pointer: "/candidate/agent/id", message: `must be '${current.agent.id}'` });
  if (mismatch.length > 0)
    throw new ReplayCandidateError(
      `The candidate must describe the same agent as manifest '${current.manifest_id}'`,
      mismatch,
    );
}

/** The state the pipeline reads, as of the record being replayed, and the replay's own simulated spending. */
class ReplayWorld {
  current: RecordedAction | undefined;
  readonly policyDeps: PolicyDeps;
  /** What the recorded history could not tell (the report's `notes`). */
  readonly notes: string[] = [];
  private readonly spent = new Map<string, number>();
  private readonly learned = new Set<string>();
  private firstSeen = new Map<string, string>();
  private statusAt: { at: string; status: ManifestStatus }[] = [];
  private readonly manifestByStatus = new Map<ManifestStatus, Manifest>();
  private readonly tokenFailures: Reason[] = [];

  constructor(
    private readonly deps: ShadowReplayDeps,
    private readonly orgId: string,
    private readonly registered: Manifest,
    content: Omit<ManifestInput, "manifest_id">,
    candidateHash: string,
    private readonly first: RecordedAction | undefined,
  ) {
    for (const status of ["active", "suspended", "revoked"] as const)
      this.manifestByStatus.set(
        status,
        Object.freeze({
          ...content,
          manifest_id: registered.manifest_id,
          org_id: orgId,
          status,
          version: registered.version + 1,
          content_hash: candidateHash,
          created_at: registered.created_at,
          updated_at: registered.updated_at,
        }) as Manifest,
      );
    this.policyDeps = {
      manifests: { getByUapkId: (_org, uapkId) => (uapkId === registered.uapk_id ? this.manifestNow() : undefined) },
      tokens: { verify: async (token) => this.verifyToken(token) },
      budgets: { current: (scope, window) => this.budgetNow(scope, window) },
      counterparties: { isKnown: (_org, _uapk, counterparty) => this.knownNow(counterparty) },
      findApproval: async (org, approvalId) => this.approvalNow(org, approvalId),
      resourceOrgs: deps.resourceOrgs,
    };
  }

  /** What the replay reads once: the counterparties' first sightings and the manifest's status history. */
  async load(): Promise<void> {
    const seen = await this.deps.history.counterpartiesFirstSeen(this.orgId, this.registered.uapk_id);
    this.firstSeen = new Map(seen.map((r) => [r.counterparty, r.first_seen]));
    const versions = await this.deps.manifests.versions(this.orgId, this.registered.manifest_id);
    this.statusAt = (versions ?? []).map((v) => ({ at: v.created_at, status: v.status }));
  }

  /** The request as received, from what its record kept. */
  requestOf(record: RecordedAction): ActionRequest {
    const trace = traceOf(record);
    const meta = (record.meta_json?.includes('"context"') ? JSON.parse(record.meta_json) : {}) as {
      context?: Record<string, unknown>;
    };
    const approvalId =
      (trace.get("approval_check")?.details?.approval_id as string | undefined) ??
      (record.kind === "intent" ? (record.approval_id ?? undefined) : undefined);
    return {
      uapk_id: record.uapk_id ?? "",
      agent_id: record.agent_id ?? "",
      action: record.action as ActionRequest["action"],
      ...(meta.context ? { context: meta.context } : {}),
      ...(approvalId ? { approval_id: approvalId } : {}),
      ...this.tokenOf(record, trace.get("capability_token")),
    };
  }

  /** A token stands for its recorded id; one that failed stands for its recorded failure. */
  private tokenOf(record: RecordedAction, entry: PolicyTraceEntry | undefined): { capability_token?: string } {
    if (!entry) return {};
    const tokenId = entry.details?.token_id;
    if (entry.result === "pass" && typeof tokenId === "string") return { capability_token: `replay-token:${tokenId}` };
    if (entry.result === "fail") {
      const reason = ((record.reasons as Reason[] | null) ?? [])[0];
      this.tokenFailures.push(reason ?? { code: "INVALID_TOKEN", message: "Capability token was refused" });
      return { capability_token: `replay-failed:${this.tokenFailures.length - 1}` };
    }
    return {};
  }

  private at(): string {
    return this.current?.timestamp ?? new Date().toISOString();
  }

  private manifestNow(): Manifest {
    const at = this.at();
    let status: ManifestStatus = this.registered.status;
    for (const v of this.statusAt) if (v.at <= at) status = v.status;
    return this.manifestByStatus.get(status) ?? this.registered;
  }

  private async verifyToken(token: string): Promise<TokenVerification> {
    if (token.startsWith("replay-failed:")) {
      const reason = this.tokenFailures[Number(token.slice("replay-failed:".length))];
      const code: "TOKEN_EXPIRED" | "TOKEN_REVOKED" | "INVALID_TOKEN" =
        reason?.code === "TOKEN_EXPIRED" || reason?.code === "TOKEN_REVOKED" ? reason.code : "INVALID_TOKEN";
      return { ok: false as const, code, message: reason?.message ?? "Capability token was refused" };
    }
    const info = await this.deps.tokens.get(this.orgId, token.slice("replay-token:".length));
    if (!info) return { ok: false as const, code: "INVALID_TOKEN" as const, message: "Capability token is unknown" };
    const at = this.at();
    if (info.expires_at <= at)
      return { ok: false as const, code: "TOKEN_EXPIRED" as const, message: "Capability token has expired" };
    if (info.revoked_at && info.revoked_at <= at)
      return { ok: false as const, code: "TOKEN_REVOKED" as const, message: "Capability token was revoked" };
    const claims: CapabilityClaims = {
      iss: info.issuer_id,
      sub: info.agent_id,
      aud: CAPABILITY_AUDIENCE,
      exp: Math.floor(Date.parse(info.expires_at) / 1000),
      nbf: Math.floor(Date.parse(info.issued_at) / 1000),
      iat: Math.floor(Date.parse(info.issued_at) / 1000),
      jti: info.token_id,
      token_type: "capability",
      cap: info.capabilities,
      ...(info.constraints ? { constraints: info.constraints } : {}),
      org_id: this.orgId,
      uapk_id: info.uapk_id,
      manifest_id: info.manifest_id,
    };
    return { ok: true as const, claims };
  }

  /** Synchronous once seeded: the pipeline asks for every budget of every replayed action. */
  private budgetNow(scope: string, window: number): number | Promise<number> {
    const key = `${scope}\u0000${window}`;
    const count = this.spent.get(key);
    if (count !== undefined) return count;
    return this.seed(scope, window).then((seeded) => {
      if (!this.spent.has(key)) this.spent.set(key, seeded);
      return this.spent.get(key)!;
    });
  }

  /** What was recorded as spent in this budget before the first replayed action (the replay starts mid-way). */
  private async seed(scope: string, window: number): Promise<number> {
    if (!this.first) return 0;
    const { history } = this.deps;
    if (scope.startsWith("token:"))
      return history.intentsBefore(this.orgId, this.first.seq, { token_id: scope.slice("token:".length) });
    const windowStart = new Date(window * 3_600_000).toISOString();
    if (windowStart >= this.first.timestamp) return 0;
    if (scope.startsWith("money:")) return this.seedMoney(scope, windowStart);
    const hourly = BudgetCounters.hourlyScope(this.orgId, this.registered.uapk_id, this.first.agent_id ?? "");
    if (scope !== hourly) return 0;
    return history.intentsBefore(this.orgId, this.first.seq, {
      uapk_id: this.registered.uapk_id,
      agent_id: this.first.agent_id ?? "",
      since: windowStart,
    });
  }

  /**
   * What the candidate's money budget would have counted of the agent's intents recorded in this hour before the
   * first replayed action: their amounts as recorded, read with the candidate's tools (`amount_params`). An amount
   * it cannot count (redacted by a tool's `redact` paths, summarised, another currency) is left out, and the
   * report says so: the decisions after it may then be looser than the candidate's would have been.
   */
  private async seedMoney(scope: string, windowStart: string): Promise<number> {
    const first = this.first;
    const candidate = this.manifestByStatus.get("active");
    const limit = candidate?.constraints?.max_amount_per_hour;
    if (!first || !candidate || !limit) return 0;
    const agent = { uapk_id: this.registered.uapk_id, agent_id: first.agent_id ?? "" };
    if (moneySlotOf(limit, { orgId: this.orgId, request: agent, now: new Date(first.timestamp) }).scope !== scope)
      return 0;
    let micros = 0;
    let uncounted = 0;
    let why = "";
    let after: number | undefined;
    for (;;) {
      const cursor = after !== undefined ? { after_seq: after } : {};
      const filter = { uapk_id: agent.uapk_id, since: windowStart, ...cursor, limit: SEED_PAGE };
      const page = (await this.deps.history.actionRecords(this.orgId, filter)).slice(0, SEED_PAGE);
      const before = page.filter((r) => r.seq < first.seq);
      for (const record of before) {
        if (record.kind !== "intent" || record.agent_id !== agent.agent_id) continue;
        const request = { ...agent, action: record.action as ActionRequest["action"] };
        const capability = capabilityOf(request.action);
        const at = { orgId: this.orgId, request, capability, now: new Date(record.timestamp) };
        const spend = moneySpendOf(limit, at, extractActionFacts(request.action, candidate.tools[capability]));
        if (spend && "unverifiable" in spend) {
          uncounted += 1;
          why ||= `${record.interaction_id}: ${spend.unverifiable}`;
        } else if (spend) micros += unitsOf(spend.slot);
      }
      if (before.length < SEED_PAGE) break;
      after = before.at(-1)?.seq;
      await nextTurn();
    }
    if (uncounted > 0)
      this.notes.push(
        `The money budget of the hour from ${windowStart} is seeded without ${uncounted} recorded action(s) executed before the first replayed one whose amount the candidate cannot count (${why}); later decisions of that hour may be looser than the candidate's`,
      );
    return micros;
  }

  private knownNow(counterparty: string): boolean {
    // The key the stores keep (a value of several words whole, not its first word): the replay judges as live did.
    const key = normalizeCounterparty(counterparty);
    if (this.learned.has(key)) return true;
    const seen = this.firstSeen.get(key);
    return seen !== undefined && seen < this.at();
  }

  /** The approval as it stood when the request was decided. */
  private async approvalNow(orgId: string, approvalId: string) {
    const approval = await this.deps.approvals?.get(orgId, approvalId);
    if (!approval) return approval;
    const record = this.current;
    if (record && approval.consumed_by_interaction_id === record.interaction_id)
      // It released this very action: bound to it (checked then, on the unredacted params) and approved.
      return { ...approval, status: "approved" as const, binding_hash: actionHash(this.requestOf(record)) };
    const at = this.at();
    if (!approval.decided_at || approval.decided_at > at) return { ...approval, status: "pending" as const };
    if (approval.status === "consumed" && approval.consumed_at && approval.consumed_at > at)
      return { ...approval, status: "approved" as const };
    return approval;
  }

  /** What an ALLOW of the candidate would have spent and learned. */
  async spend(slots: BudgetSlot[], counterparties: string[]): Promise<void> {
    for (const slot of slots) {
      const key = `${slot.scope}\u0000${slot.window}`;
      this.spent.set(key, (await this.budgetNow(slot.scope, slot.window)) + unitsOf(slot));
    }
    for (const c of counterparties) this.learned.add(c);
  }
}

/**
 * The trace entries replay may need (a token's id or failure, a submitted approval). Parsed only when the stored
 * text can hold one: most records carry neither, and parsing every trace was a large share of the replay's time.
 */
function traceOf(record: RecordedAction): Map<string, PolicyTraceEntry> {
  const text = record.policy_trace_json;
  if (text === null || !(text.includes('"token_id"') || text.includes('"approval_id"') || text.includes('"fail"')))
    return new Map();
  const checks = (JSON.parse(text) as { checks?: PolicyTraceEntry[] } | null)?.checks ?? [];
  return new Map(checks.map((c) => [c.check, c]));
}

/** The old → new matrix, the reason codes that appear or disappear, and samples of each. */
class DecisionDiff {
  private readonly cells = new Map<string, ReplayCell>();
  private readonly reasons = new Map<string, { added: number; removed: number; sample_interaction_ids: string[] }>();

  constructor(private readonly samples: number) {}

  add(record: RecordedAction, to: Decision, reasons: Reason[]): void {
    const from = (record.decision ?? "DENY") as Decision;
    const key = `${from}>${to}`;
    let cell = this.cells.get(key);
    if (!cell) {
      cell = { from, to, count: 0, sample_interaction_ids: [] };
      this.cells.set(key, cell);
    }
    cell.count += 1;
    if (from !== to && cell.sample_interaction_ids.length < this.samples)
      cell.sample_interaction_ids.push(record.interaction_id);
    const before = new Set(((record.reasons as Reason[] | null) ?? []).map((r) => r.code));
    const after = new Set(reasons.map((r) => r.code));
    for (const code of after) if (!before.has(code)) this.reasonChange(code, record, "added");
    for (const code of before) if (!after.has(code)) this.reasonChange(code, record, "removed");
  }

  private reasonChange(code: string, record: RecordedAction, kind: "added" | "removed"): void {
    let entry = this.reasons.get(code);
    if (!entry) {
      entry = { added: 0, removed: 0, sample_interaction_ids: [] };
      this.reasons.set(code, entry);
    }
    entry[kind] += 1;
    if (
      entry.sample_interaction_ids.length < this.samples &&
      !entry.sample_interaction_ids.includes(record.interaction_id)
    )
      entry.sample_interaction_ids.push(record.interaction_id);
  }

  summary() {
    const matrix: ReplayCell[] = [];
    for (const from of DECISIONS)
      for (const to of DECISIONS) {
        const cell = this.cells.get(`${from}>${to}`);
        if (cell) matrix.push(cell);
      }
    const changed = matrix.filter((c) => c.from !== c.to);
    const sum = (cells: ReplayCell[]) => cells.reduce((n, c) => n + c.count, 0);
    return {
      changed: sum(changed),
      loosening: sum(changed.filter((c) => c.to === "ALLOW")),
      tightening: sum(changed.filter((c) => c.from === "ALLOW")),
      matrix,
      reason_changes: [...this.reasons.entries()]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([code, entry]) => ({ code: code as ReasonCode, ...entry })),
    };
  }
}

/** The audit record of a retry refused because its idempotency key's outcome is unknown (./idempotent.ts). */
function settledAsUnknown(record: RecordedAction): boolean {
  return ((record.reasons as Reason[] | null) ?? []).some((r) => r.code === OUTCOME_UNKNOWN_REASON);
}
