// "Non-volatile fields equal": how a live answer is compared with its documented example.
// By default, every field is compared except those that differ per run (ids, clocks, paths, durations).
// Where a seed's sample data is illustrative (counts, stub results, ids of another installation), an entry
// below says what must match instead — always something a user relies on, and always able to fail.
import { decodeJwt, decodeProtectedHeader } from "jose";
import { expect } from "vitest";
import type { components } from "../generated/api-types";
import { evidenceExpectations } from "./evidence-expectations";
import { type Comparison, withoutVolatile } from "./comparison";
import type { ExampleCase } from "./examples";

type Json = unknown;
type Schemas = components["schemas"];

/** A seed placeholder such as `req-...`: the live value must start with what precedes the dots. */
function matchesPlaceholder(documented: string, live: unknown): void {
  expect(typeof live, `expected a string like ${documented}`).toBe("string");
  if (documented.endsWith("...")) expect((live as string).startsWith(documented.slice(0, -3).trimEnd())).toBe(true);
  else expect(live).toBe(documented);
}

function expectTimestamp(value: unknown): number {
  expect(typeof value).toBe("string");
  const at = Date.parse(value as string);
  expect(Number.isNaN(at), `not a date-time: ${String(value)}`).toBe(false);
  return at;
}

/** A timestamp of something the replay just did (setup and request take seconds, not minutes). */
function expectRecent(value: unknown): void {
  expect(Math.abs(Date.now() - expectTimestamp(value))).toBeLessThan(5 * 60_000);
}

function expectNonEmptyString(value: unknown, what: string): void {
  expect(typeof value, what).toBe("string");
  expect((value as string).length, what).toBeGreaterThan(0);
}

// ── problems ─────────────────────────────────────────────────────────────────────────────────────────

/**
 * Problems: the seed's `detail` string (a trailing "..." in the seed means "followed by specifics"), and the
 * machine-readable `code` and per-problem `errors` when the example documents them.
 */
const problemDetail: Comparison = (documented, live) => {
  const want = documented as Schemas["Problem"];
  const got = live as Schemas["Problem"];
  matchesPlaceholder(want.detail, got.detail);
  if (want.code !== undefined) expect(got.code).toBe(want.code);
  if (want.errors !== undefined) expect(got.errors).toEqual(want.errors);
};

/**
 * A problem whose detail names a configured number (the example shows the default; the replay runs with a small
 * value so it is quick): the same code and title, and the same sentence with some number in its place.
 */
const problemWithConfiguredNumbers: Comparison = (documented, live) => {
  const want = documented as Schemas["Problem"];
  const got = live as Schemas["Problem"];
  expect({ code: got.code, title: got.title, status: got.status }).toEqual({
    code: want.code,
    title: want.title,
    status: want.status,
  });
  const pattern = want.detail.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/\d+/g, "\\d+");
  expect(got.detail).toMatch(new RegExp(`^${pattern}$`));
};

/** A problem whose detail names an approval the setup created (the example prints `appr-xyz789`). */
const problemNamingAnApproval: Comparison = (documented, live) => {
  const want = documented as Schemas["Problem"];
  const got = live as Schemas["Problem"];
  expect(got.code).toBe(want.code);
  const escaped = want.detail.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  expect(got.detail).toMatch(new RegExp(`^${escaped.replace(/appr-[\w-]+/g, "appr-[\\w-]+")}$`));
};

/** Only these top-level fields are compared (volatile fields inside them are ignored). */
const fields =
  (...names: string[]): Comparison =>
  (documented, live) => {
    const pick = (v: Json) =>
      Object.fromEntries(names.map((n) => [n, withoutVolatile((v as Record<string, Json>)[n])]));
    expect(pick(live)).toEqual(pick(documented));
  };

// ── health ───────────────────────────────────────────────────────────────────────────────────────────

const HEALTHY_DEPENDENCY_STATES = ["connected", "available", "not_configured"];

/**
 * Health: the live server names itself (the seeds are two other services), so what must hold is that every
 * dependency the seed reports is probed, and that the overall status agrees with the probes.
 */
const health: Comparison = (documented, live) => {
  const want = documented as Schemas["Health"];
  const got = live as Schemas["Health"];
  expectNonEmptyString(got.service, "service");
  const dependencies = got.dependencies ?? {};
  for (const name of Object.keys(want.dependencies ?? {})) expect(Object.keys(dependencies)).toContain(name);
  const allHealthy = Object.values(dependencies).every((s) => HEALTHY_DEPENDENCY_STATES.includes(s));
  expect(got.status).toBe(allHealthy ? "healthy" : "degraded");
};

// ── purutos ──────────────────────────────────────────────────────────────────────────────────────────

/**
 * One puruto: same name and kind; the path is a real absolute folder named after it (the seeds print
 * `/ruta/…`); every documented command can be invoked (the live list may add allowed skills); Gatehouse extras
 * the example documents (source, description, standard_version, skills) are equal.
 */
function expectSamePuruto(documented: Schemas["PurutoItem"], live: Schemas["PurutoItem"] | undefined): void {
  expect(live, `puruto ${documented.name} is not in the live answer`).toBeDefined();
  const got = live!;
  expect(got.name).toBe(documented.name);
  expect(got.kind).toBe(documented.kind);
  expect(typeof got.path).toBe("string");
  expect(got.path!.startsWith("/")).toBe(true);
  expect(got.path!.endsWith(`/${documented.name}`)).toBe(true);
  expect(got.commands).toEqual(expect.arrayContaining(documented.commands));
  for (const extra of ["source", "description", "standard_version", "skills"] as const)
    if (documented[extra] !== undefined) expect(got[extra], extra).toEqual(documented[extra]);
}

/**
 * The list: `count` is the number of items (the seeds' counts are of their own ecosystems), and every puruto
 * the example shows is listed, matching as above.
 */
const purutoList: Comparison = (documented, live) => {
  const want = documented as Schemas["PurutoList"];
  const got = live as Schemas["PurutoList"];
  expect(got.status).toBe(want.status);
  expect(got.count).toBe(got.items.length);
  for (const item of want.items)
    expectSamePuruto(
      item,
      got.items.find((i) => i.name === item.name),
    );
};

const purutoFound: Comparison = (documented, live) => {
  const want = documented as Schemas["PurutoFound"];
  const got = live as Schemas["PurutoFound"];
  expect(got.status).toBe(want.status);
  expectSamePuruto(want.item, got.item);
};

/**
 * An invocation: the envelope (status, target, command, payload echo) and the invocation's outcome are equal;
 * ids follow the documented value or placeholder (`req-...`). The seed's `result` is the original's stub:
 * the live one must be a real answer about the target. A Gatehouse example's result or error (the demo
 * ecosystem's fixed data) must be equal.
 */
const invocation: Comparison = (documented, live) => {
  const want = documented as Schemas["CommandAccepted"];
  const got = live as Schemas["CommandAccepted"];
  expect({ status: got.status, target: got.target, command: got.command, payload: got.payload }).toEqual({
    status: want.status,
    target: want.target,
    command: want.command,
    payload: want.payload,
  });
  const inv = got.invocation;
  expect(inv.status).toBe(want.invocation.status);
  matchesPlaceholder(want.invocation.request_id, inv.request_id);
  matchesPlaceholder(want.invocation.correlation_id, inv.correlation_id);
  expect(Number.isInteger(inv.duration_ms) && inv.duration_ms >= 0).toBe(true);

  const wantResult = want.invocation.result;
  if (wantResult?.stub === true) {
    expect(inv.result, "a real result").toBeDefined();
    expect(inv.result).not.toHaveProperty("stub");
    expect(inv.result).not.toHaveProperty("echo");
    expect(inv.result!.puruto, "the answer describes the invoked puruto").toBe(want.target);
  } else {
    expect(inv.result).toEqual(wantResult);
  }
  expect(inv.error).toEqual(want.invocation.error);
};

// ── governed actions ─────────────────────────────────────────────────────────────────────────────────

type Trace = Schemas["PolicyTrace"];

/**
 * Every check of the documented trace ran, in the documented order, with the same result (and the same
 * details where the seed prints them). The live trace may hold more checks: Gatehouse runs a longer pipeline.
 */
function expectTraceCovers(documented: Trace | undefined, live: Trace | undefined): void {
  if (!documented) return;
  expect(live, "policy_trace").toBeDefined();
  let from = 0;
  for (const step of documented.checks) {
    const at = live!.checks.findIndex((c, i) => i >= from && c.check === step.check);
    expect(at, `check ${step.check} missing or out of order in ${JSON.stringify(live!.checks)}`).toBeGreaterThanOrEqual(
      0,
    );
    const ran = live!.checks[at];
    if (!ran) return; // the expect above has already failed
    expect({ check: ran.check, result: ran.result }).toEqual({ check: step.check, result: step.result });
    if (step.details !== undefined) expect(ran.details).toEqual(step.details);
    from = at + 1;
  }
}

/** The budget snapshot reports the manifest's limit and a consistent usage. */
function expectRiskSnapshot(
  documented: Schemas["RiskSnapshot"] | undefined,
  live: Schemas["RiskSnapshot"] | undefined,
): void {
  if (!documented) return;
  expect(live, "risk_snapshot").toBeDefined();
  expect(live!.budget_limit).toBe(documented.budget_limit);
  expect(live!.budget_current).toBeGreaterThanOrEqual(0);
  expect(live!.budget_current).toBeLessThanOrEqual(live!.budget_limit);
  expect(live!.budget_percent).toBeCloseTo((live!.budget_current / live!.budget_limit) * 100, 2);
}

/**
 * A connector result documented in either shape (Gatehouse's `{success, data}` or the seed's flat
 * `{message_id}`): every documented field is present in the live result's `data`.
 */
function expectResultCarries(
  documented: Schemas["ActionResult"] | undefined,
  live: Schemas["ActionResult"] | undefined,
): void {
  if (!documented) return;
  expect(live, "result").toBeDefined();
  expect(live!.success).toBe(documented.success ?? true);
  const documentedFields =
    documented.data ?? Object.fromEntries(Object.entries(documented).filter(([k]) => k !== "success"));
  expect(Object.keys(live!.data ?? {})).toEqual(expect.arrayContaining(Object.keys(documentedFields)));
}

/** A decision: the same decision, reasons (codes and messages) and execution; trace and budget as above. */
const decision: Comparison = (documented, live) => {
  const want = documented as Schemas["ExecuteResponse"];
  const got = live as Schemas["ExecuteResponse"];
  expectNonEmptyString(got.interaction_id, "interaction_id");
  expect(got.decision).toBe(want.decision);
  expect(got.executed).toBe(want.executed);
  expect(got.reasons ?? []).toEqual(want.reasons ?? []);
  expectTraceCovers(want.policy_trace, got.policy_trace);
  expectRiskSnapshot(want.risk_snapshot, got.risk_snapshot);
  if (want.executed) expectResultCarries(want.result, got.result);
  else if (want.decision !== "ALLOW") expect(got.result, "nothing ran").toBeUndefined();
  if (want.decision === "DENY" && want.policy_trace) {
    // The first failing check stops the pipeline: it is the last one traced.
    const failing = want.policy_trace.checks.find((c) => c.result === "fail")!;
    expect(got.policy_trace!.checks.at(-1)).toEqual(failing);
  }
  if (want.decision === "ESCALATE") expectNonEmptyString(got.approval_id, "approval_id of the pending approval");
  if (want.timestamp !== undefined) expectRecent(got.timestamp);
};

/** A dry run: what execute would decide, with the same trace; budget limit as documented. */
const evaluation: Comparison = (documented, live) => {
  const want = documented as Schemas["EvaluateResponse"];
  const got = live as Schemas["EvaluateResponse"];
  expect({ would_allow: got.would_allow, decision: got.decision, reasons: got.reasons }).toEqual({
    would_allow: want.would_allow,
    decision: want.decision,
    reasons: want.reasons,
  });
  expectTraceCovers(want.policy_trace, got.policy_trace);
  expectRiskSnapshot(want.risk_snapshot, got.risk_snapshot);
};

/** A batch: per action (in order) the same decision, execution and reasons; the documented totals. */
const batch: Comparison = (documented, live) => {
  const want = documented as Schemas["BatchResponse"];
  const got = live as Schemas["BatchResponse"];
  expectNonEmptyString(got.batch_id, "batch_id");
  expect(got.results.map((r) => r.action_id)).toEqual(want.results.map((r) => r.action_id));
  want.results.forEach((w, i) => {
    const g = got.results[i];
    expect(g, `result ${i}`).toBeDefined();
    if (!g) return;
    expect({ action_id: g.action_id, decision: g.decision, executed: g.executed, reasons: g.reasons ?? [] }).toEqual({
      action_id: w.action_id,
      decision: w.decision,
      executed: w.executed,
      reasons: w.reasons ?? [],
    });
    if (w.interaction_id !== undefined) expectNonEmptyString(g.interaction_id, `interaction_id of ${w.action_id}`);
    if (w.executed) expectResultCarries(w.result, g.result);
  });
  expect(new Set(got.results.map((r) => r.interaction_id)).size).toBe(got.results.length);
  const { skipped, ...documentedTotals } = want.summary;
  expect(got.summary).toMatchObject(documentedTotals);
  expect(got.summary.skipped ?? 0).toBe(skipped ?? 0);
};

/**
 * An idempotent duplicate: the first answer again (same interaction, same result), flagged `idempotent`,
 * with the first answer's time as `original_timestamp` — nothing executed twice.
 */
const idempotentReplay: Comparison = (documented, live, { facts }) => {
  const want = documented as Schemas["ExecuteResponse"];
  const got = live as Schemas["ExecuteResponse"];
  const original = facts.original as Schemas["ExecuteResponse"];
  expect(got.idempotent).toBe(true);
  expect(got.decision).toBe(want.decision);
  expect(got.executed).toBe(want.executed);
  expect(got.interaction_id).toBe(original.interaction_id);
  expect(got.original_timestamp).toBe(original.timestamp);
  expect(got.result).toEqual(original.result);
  expectResultCarries(want.result, got.result);
};

/**
 * A capability token: the documented capabilities and constraints, and a compact EdDSA JWT that says the
 * same (jti = token_id, cap, constraints, exp = expires_at, issued by and for whom the request names).
 */
const issuedToken: Comparison = (documented, live, { request }) => {
  const want = documented as Schemas["IssueCapabilityTokenResponse"];
  const got = live as Schemas["IssueCapabilityTokenResponse"];
  const asked = request.body as Schemas["IssueCapabilityTokenRequest"];
  expect(got.capabilities).toEqual(want.capabilities);
  expect(got.constraints).toEqual(want.constraints);
  expect(got.token.split(".")).toHaveLength(3);
  const header = decodeProtectedHeader(got.token);
  expect(header.alg).toBe("EdDSA");
  expectNonEmptyString(header.kid, "kid");
  const claims = decodeJwt(got.token);
  expect(claims.jti).toBe(got.token_id);
  expect(claims.cap).toEqual(want.capabilities);
  expect(claims.constraints).toEqual(want.constraints);
  expect(claims.sub).toBe(asked.agent_id);
  if (asked.issuer_id) expect(claims.iss).toBe(asked.issuer_id);
  expect(claims.exp! * 1000).toBe(expectTimestamp(got.expires_at));
  const lifetimeMs = (asked.expires_in_hours ?? 24) * 3_600_000;
  expect(Math.abs(expectTimestamp(got.expires_at) - (Date.now() + lifetimeMs))).toBeLessThan(5 * 60_000);
};

/** A revocation: of the token the request names, now, with the operator's reason. */
const revokedToken: Comparison = (documented, live, { request }) => {
  const want = documented as Schemas["RevokeCapabilityTokenResponse"];
  const got = live as Schemas["RevokeCapabilityTokenResponse"];
  expect(got.token_id).toBe(request.params.token_id);
  expect(got.revoked).toBe(want.revoked);
  expect(got.reason).toBe(want.reason);
  expectRecent(got.revoked_at);
};

/** An approval as the agent reads it: the one the request names, with every documented non-clock field. */
const approval: Comparison = (documented, live, { request }) => {
  const want = documented as Schemas["Approval"];
  const got = live as Schemas["Approval"];
  expect(got.approval_id).toBe(request.params.approval_id);
  expect(withoutVolatile({ ...got, decided_at: undefined })).toEqual(
    withoutVolatile({ ...want, decided_at: undefined }),
  );
  const created = expectTimestamp(got.created_at);
  if (want.decided_at !== undefined) {
    const decided = expectTimestamp(got.decided_at);
    expect(decided).toBeGreaterThanOrEqual(created);
    expect(decided).toBeLessThan(expectTimestamp(got.expires_at));
  }
};

// ── the audit log ───────────────────────────────────────────────────────────────────────────────────

type AuditRecord = Schemas["InteractionRecord"];
/** What chains a record: hashes cover this run's clocks and signatures this run's key. */
const CHAIN_FIELDS = new Set(["prev_hash", "hash", "kid", "signature"]);

/** The same record (every field but ids, clocks and the chain's), with a well-formed hash and signature. */
function expectSameRecord(documented: AuditRecord, live: AuditRecord): void {
  const content = (r: AuditRecord) =>
    withoutVolatile(Object.fromEntries(Object.entries(r).filter(([k]) => !CHAIN_FIELDS.has(k))));
  expect(content(live)).toEqual(content(documented));
  expect(live.hash).toMatch(/^[0-9a-f]{64}$/);
  expect(live.prev_hash).toMatch(/^[0-9a-f]{64}$/);
  // null: a record inside a group commit, proven by the group's signed last record (see InteractionRecord).
  if (live.signature !== null) expect(live.signature).toMatch(/^[A-Za-z0-9_-]{86}$/);
}

/** The log: the documented records, newest first, each linking to the one before it. */
const auditRecords: Comparison = (documented, live) => {
  const want = (documented as Schemas["InteractionPage"]).items;
  const got = (live as Schemas["InteractionPage"]).items;
  expect(got).toHaveLength(want.length);
  for (const [i, w] of want.entries()) expectSameRecord(w, got[i]!);
  for (let i = 0; i + 1 < got.length; i++) expect(got[i]!.prev_hash).toBe(got[i + 1]!.hash);
};

/** One interaction: the one the request names, its latest record as documented. */
const auditRecord: Comparison = (documented, live, { request }) => {
  expect((live as AuditRecord).interaction_id).toBe(request.params.interaction_id);
  expectSameRecord(documented as AuditRecord, live as AuditRecord);
};

// ── webhook deliveries ──────────────────────────────────────────────────────────────────────────────

/**
 * The delivery log: per delivery the same event, outcome and tries (their number and the receiver's statuses),
 * to the documented path (the live receiver runs on this machine), keyed by event and approval.
 */
const deliveries: Comparison = (documented, live) => {
  const want = (documented as Schemas["WebhookDeliveryList"]).items;
  const got = (live as Schemas["WebhookDeliveryList"]).items;
  expect(got).toHaveLength(want.length);
  for (const [i, w] of want.entries()) {
    const d = got[i]!;
    const tries = (x: Schemas["WebhookDelivery"]) =>
      x.attempts.map((a) => ({ attempt: a.attempt, status: a.status_code }));
    expect({ event: d.event, status: d.status, tries: tries(d) }).toEqual({
      event: w.event,
      status: w.status,
      tries: tries(w),
    });
    expect(new URL(d.url).pathname).toBe(new URL(w.url).pathname);
    expect(d.event_id).toBe(`${d.event}:${d.approval_id}`);
    if (w.delivered_at !== undefined) expectRecent(d.delivered_at);
  }
};

/**
 * A page of a time-ordered list: the items compared as usual, and a `next_cursor` that is where the page ended —
 * the last item's time and id (the cursor is opaque to clients; the replay checks what it carries).
 */
const timePage =
  (idKey: string): Comparison =>
  (documented, live) => {
    const want = documented as { items: Record<string, Json>[]; next_cursor?: string };
    const got = live as { items: Record<string, Json>[]; next_cursor?: string };
    expect(withoutVolatile(got.items)).toEqual(withoutVolatile(want.items));
    expect(typeof got.next_cursor).toBe(typeof want.next_cursor);
    if (got.next_cursor === undefined) return;
    const last = got.items.at(-1)!;
    expect(JSON.parse(Buffer.from(got.next_cursor, "base64url").toString("utf8"))).toEqual({
      created_at: last.created_at,
      [idKey]: last[idKey],
    });
  };

const overrides: Record<string, Comparison> = {
  seed000_health: health,
  seed002_health: health,

  seed000_list_purutos: purutoList,
  seed001_list_purutos: purutoList,
  gatehouse_list_purutos_detailed: purutoList,
  seed000_get_puruto: purutoFound,
  seed000_normalized_item: purutoFound,
  seed000_invoke_status: invocation,
  seed000_invoke_with_payload: invocation,
  gatehouse_invoke_skill: invocation,
  gatehouse_invoke_command_failed: invocation,

  seed003_execute_allow: decision,
  seed003_execute_deny: decision,
  seed003_execute_escalate: decision,
  seed003_evaluate: evaluation,
  seed003_batch: batch,
  seed003_idempotent_duplicate: idempotentReplay,
  seed003_issue_capability_token: issuedToken,
  seed003_revoke_capability_token: revokedToken,
  gatehouse_agent_get_approval: approval,
  gatehouse_list_interactions: auditRecords,
  gatehouse_list_deliveries: deliveries,
  gatehouse_list_webhooks_page: timePage("webhook_id"),
  gatehouse_get_interaction: auditRecord,
  gatehouse_get_approval: approval,
  gatehouse_approve: approval,
  gatehouse_deny: approval,
  gatehouse_approval_already_decided: problemNamingAnApproval,
  gatehouse_self_approval: problemNamingAnApproval,
  gatehouse_body_timeout: problemWithConfiguredNumbers,
  gatehouse_rate_limited: problemWithConfiguredNumbers,
  ...evidenceExpectations,
};

export function expectationFor(c: ExampleCase): Comparison {
  const override = overrides[c.name];
  if (override) return override;
  if ((c.response?.status ?? 200) >= 400) return problemDetail;
  return (documented, live) => expect(withoutVolatile(live)).toEqual(withoutVolatile(documented));
}

export { fields, overrides };
